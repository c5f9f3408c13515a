"""Shared fixtures: a fake LeadSquared with a scaled window, and clients wired to it.

``@pytest.mark.vtime`` runs an async test, with its async fixtures, on ``vtime.VirtualTimeLoop``:
timers fire in order at once and ``loop.time()`` is the virtual clock (in-process transports
only). ``make_client`` gives its clients that clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

from . import vtime

#: The real limit, scaled twenty times faster so tests take a fraction of a second.
SCALED = lsq.RateLimit(25, 0.25)
BASE_URL = "https://api-in21.leadsquared.com"

#: What ``make_client``'s clients get unless the test or its ``client_options`` marker says.
CLIENT_DEFAULTS: dict[str, Any] = {"rate_limit": SCALED, "backoff": 0.001, "linger": 0.005}

MakeClient = Callable[..., Awaitable[lsq.LeadSquaredClient]]


class Serves(Protocol):
    """Something a client can talk to in-process: a ``FakeLeadSquared``, a test's mock."""

    def transport(self) -> httpx2.AsyncBaseTransport:
        """An httpx2 transport serving the calls in-process."""


pytest_plugins = ["pytester"]  # tests of the fake's pytest plugin run pytest on test files

# tests/typing is checked by mypy (`mypy --strict tests/typing`), never run.
collect_ignore = ["typing"]


@pytest.hookimpl(optionalhook=True)
def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loop an async test and its async fixtures run on: virtual time under ``vtime``."""
    if item.get_closest_marker("vtime") is not None:
        return {"vtime": vtime.VirtualTimeLoop}
    return {"asyncio": asyncio.new_event_loop}


def loop_time() -> float:
    """The running loop's clock: a fake's clock under ``vtime``, read only while serving a call."""
    return asyncio.get_running_loop().time()


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> FakeLeadSquared:
    """A fresh fake service limited to 25 calls per 0.25 s (of virtual time under ``vtime``)."""
    if request.node.get_closest_marker("vtime") is not None:
        return FakeLeadSquared(rate_limit=SCALED, clock=loop_time)
    return FakeLeadSquared(rate_limit=SCALED)


@pytest.fixture
async def make_client(
    fake: FakeLeadSquared, request: pytest.FixtureRequest
) -> AsyncIterator[MakeClient]:
    """Build clients (the demo keys unless told); all are closed after the test.

    ``await make_client(service, **options)``: ``service`` is anything with a
    ``transport()`` (a ``FakeLeadSquared``) or an httpx2 transport, talked to in-process, or
    a base URL talked to over HTTP (the client then makes its own HTTP client); without it
    (or ``transport=``), the ``fake`` fixture. Options not given come from the closest
    ``@pytest.mark.client_options(...)`` of the test or its module, else ``CLIENT_DEFAULTS``.
    On a virtual-time loop the client's clock is the loop's.
    """
    marker = request.node.get_closest_marker("client_options")
    client_defaults = CLIENT_DEFAULTS if marker is None else marker.kwargs
    made: list[tuple[lsq.LeadSquaredClient, httpx2.AsyncClient | None]] = []

    async def make(
        service: Serves | httpx2.AsyncBaseTransport | str | None = None,
        /,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        **options: Any,
    ) -> lsq.LeadSquaredClient:
        for name, value in client_defaults.items():
            options.setdefault(name, value)
        loop = asyncio.get_running_loop()
        if isinstance(loop, vtime.VirtualTimeLoop):
            options.setdefault("clock", loop.time)
        http: httpx2.AsyncClient | None = None
        if isinstance(service, str):
            options["base_url"] = service
        else:
            if transport is None:
                chosen = fake if service is None else service
                transport = (
                    chosen if isinstance(chosen, httpx2.AsyncBaseTransport) else chosen.transport()
                )
            if "http_client" not in options:
                http = options["http_client"] = httpx2.AsyncClient(transport=transport)
            options.setdefault("base_url", BASE_URL)
        client = lsq.LeadSquaredClient(
            options.pop("access_key", DEMO_ACCESS_KEY),
            options.pop("secret_key", DEMO_SECRET_KEY),
            **options,
        )
        made.append((client, http))
        return client

    yield make
    for client, http in made:
        await client.aclose(timeout=1)
        if http is not None:
            await http.aclose()


async def gather_all(*aws: Awaitable[Any]) -> list[Any]:
    """Await everything, returning exceptions in place."""
    return list(await asyncio.gather(*aws, return_exceptions=True))
