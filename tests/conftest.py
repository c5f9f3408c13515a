"""Shared fixtures: a fake LeadSquared with a scaled window, and clients wired to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

#: The real limit, scaled twenty times faster so tests take a fraction of a second.
SCALED = lsq.RateLimit(25, 0.25)
BASE_URL = "https://api-in21.leadsquared.com"

MakeClient = Callable[..., Awaitable[lsq.LeadSquaredClient]]

pytest_plugins = ["pytester"]  # tests of the fake's pytest plugin run pytest on test files

# tests/typing is checked by mypy (`mypy --strict tests/typing`), never run.
collect_ignore = ["typing"]


@pytest.fixture
def fake() -> FakeLeadSquared:
    """A fresh fake service limited to 25 calls per 0.25 s."""
    return FakeLeadSquared(rate_limit=SCALED)


@pytest.fixture
async def make_client(fake: FakeLeadSquared) -> AsyncIterator[MakeClient]:
    """Build clients talking to ``fake`` in-process; all are closed after the test."""
    made: list[tuple[lsq.LeadSquaredClient, httpx.AsyncClient]] = []

    async def make(
        *, transport: httpx.AsyncBaseTransport | None = None, **options: Any
    ) -> lsq.LeadSquaredClient:
        http = httpx.AsyncClient(transport=transport or fake.transport())
        options.setdefault("rate_limit", SCALED)
        options.setdefault("backoff", 0.001)
        options.setdefault("linger", 0.005)
        client = lsq.LeadSquaredClient(
            options.pop("access_key", DEMO_ACCESS_KEY),
            options.pop("secret_key", DEMO_SECRET_KEY),
            base_url=BASE_URL,
            http_client=http,
            **options,
        )
        made.append((client, http))
        return client

    yield make
    for client, http in made:
        await client.aclose(timeout=1)
        await http.aclose()


async def gather_all(*aws: Awaitable[Any]) -> list[Any]:
    """Await everything, returning exceptions in place."""
    return list(await asyncio.gather(*aws, return_exceptions=True))
