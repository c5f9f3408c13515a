"""``python -m leadsq_async._cli``: the same as the ``leadsq-async`` console script."""

from leadsq_async._cli import main

raise SystemExit(main())
