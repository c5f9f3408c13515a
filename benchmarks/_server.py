"""The fake LeadSquared served by uvicorn in a separate process, so it does not share a core."""

from __future__ import annotations

from leadsq_async.testing import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    remote_reset,
    remote_summary,
    serve_subprocess,
)
from leadsq_async.testing._process import url_of_process

HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}
fake_server = serve_subprocess
summary = remote_summary
reset = remote_reset
served = url_of_process
