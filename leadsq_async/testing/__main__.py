"""Run the fake LeadSquared server: ``python -m leadsq_async.testing --port 0``."""

from leadsq_async.testing._cli import main

raise SystemExit(main())
