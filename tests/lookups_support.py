"""What the lookup and activity tests share: a fake on the virtual-time loop, client options."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

#: The client's limit in these tests: the fake has none, and no grant should be waited for.
LIFTED = lsq.RateLimit(10_000, 1.0)
#: ``make_client``'s options here (``client_options``): the lifted limit, the library's linger.
CLIENT: dict[str, Any] = {"rate_limit": LIFTED, "backoff": 0.01}


class Recording(httpx2.AsyncBaseTransport):
    """A transport that keeps every request (body read) before handing it on."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx2.Request] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    def bodies(self, path_end: str) -> list[Any]:
        """The JSON bodies of the requests whose path ends with ``path_end``."""
        return [json.loads(r.content) for r in self.requests if r.url.path.endswith(path_end)]

    def queries(self, path_end: str) -> list[dict[str, str]]:
        """The query parameters of the requests whose path ends with ``path_end``."""
        return [dict(r.url.params) for r in self.requests if r.url.path.endswith(path_end)]


def fake(**options: Any) -> FakeLeadSquared:
    """A fake on the running (virtual-time) loop's clock, with no rate limit by default."""
    options.setdefault("rate_limit", None)
    return FakeLeadSquared(clock=asyncio.get_running_loop().time, **options)


def seed(service: FakeLeadSquared, count: int, start: int = 0) -> list[str]:
    """``count`` leads in the fake's store (email, name, phone); their ids."""
    return [
        service.store.insert(
            {"EmailAddress": f"lead{n}@example.com", "FirstName": f"F{n}", "Phone": f"98{n:08d}"}
        )
        for n in range(start, start + count)
    ]


def rows(service: FakeLeadSquared, endpoint: str) -> list[int]:
    """Rows of every call to ``endpoint`` the fake answered, applied or not (lookups never are)."""
    return [e.rows for e in service.ledger.entries if e.endpoint == endpoint]
