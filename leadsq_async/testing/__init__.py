"""A fake LeadSquared lead API for tests and benchmarks (like moto for AWS).

``FakeLeadSquared`` keeps leads in memory and speaks the endpoints ``leadsq_async`` uses (and
the single-lead ``Lead.Create`` and ``Lead.CreateOrUpdate``), with the service's quirks, its
budgets (a general and a bulk rate limit and a daily quota, set one by one with ``Limit`` or
from a published plan in ``PLANS``), injectable faults (``FaultPlan``) and, optionally, the
account's lead fields (``fields=``, a ``LeadSchema`` of typed ``Field`` objects), under which a
write naming an unknown attribute or a value its field refuses is refused and
``LeadsMetaData.Get`` answers them; its ``ledger`` records every call. Use it in-process
(``fake.transport()``), over HTTP (``fake.serve()`` / ``fake.serve_in_thread()``), from the
command line (``python -m leadsq_async.testing``) or through the pytest fixtures
``fake_leadsquared`` and ``fake_leadsquared_url``. Serving over HTTP needs the ``fake`` extra
(uvicorn).
"""

from __future__ import annotations

from ._accounts import FakeAccounts
from ._app import FakeLeadSquared
from ._budgets import Limit
from ._cli import add_arguments, bind_error, build_fake, run_from_args
from ._endpoints import (
    BULK_ENDPOINTS,
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    ENDPOINTS,
    LEAD_ENDPOINTS,
)
from ._faults import FaultPlan
from ._ledger import Ledger, LedgerEntry
from ._plans import PLANS, Plan
from ._process import remote_lead, remote_leads, remote_reset, remote_summary, serve_subprocess
from ._schema import STANDARD_FIELDS, Field, LeadSchema
from ._store import LeadStore

__all__ = [
    "BULK_ENDPOINTS",
    "DEMO_ACCESS_KEY",
    "DEMO_SECRET_KEY",
    "ENDPOINTS",
    "LEAD_ENDPOINTS",
    "PLANS",
    "STANDARD_FIELDS",
    "FakeAccounts",
    "FakeLeadSquared",
    "FaultPlan",
    "Field",
    "LeadSchema",
    "LeadStore",
    "Ledger",
    "LedgerEntry",
    "Limit",
    "Plan",
    "add_arguments",
    "bind_error",
    "build_fake",
    "remote_lead",
    "remote_leads",
    "remote_reset",
    "remote_summary",
    "run_from_args",
    "serve_subprocess",
]
