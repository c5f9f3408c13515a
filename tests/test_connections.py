"""The client's own AsyncClient: httpx2's pool, sized to the calls in flight, no pool retries."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
from httpcore2._async import connection_pool

import leadsq_async as lsq
from leadsq_async._dispatch.connections import own_http_client
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

LM = "/v2/LeadManagement.svc/"
HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def _create(i: int) -> list[list[dict[str, str]]]:
    return [[{"Attribute": "EmailAddress", "Value": f"pool{i}@example.com"}]]


def _pool(transport: Any) -> Any:
    """The httpcore2 pool behind an httpx2 transport."""
    assert isinstance(transport, httpx2.AsyncHTTPTransport)
    return transport._pool


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variables from the environment (either case)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def pool_retries(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often httpcore2's pool took a connection back from a request (and tried again)."""
    count = [0]
    clear = connection_pool.AsyncPoolRequest.clear_connection

    def counted(self: Any) -> None:
        count[0] += 1
        clear(self)

    monkeypatch.setattr(connection_pool.AsyncPoolRequest, "clear_connection", counted)
    return count


@pytest.mark.usefixtures("no_proxies")
async def test_requests_started_together_on_warm_connections_are_never_retried(
    pool_retries: list[int],
) -> None:
    """Bursts of eight requests on eight idle connections: each gets one, none tried twice.

    httpcore 1.0 handed one idle connection to every request of such a burst (1.75 retries
    per request, measured); the client's own transport worked around it until httpcore2.
    """
    fake = FakeLeadSquared(rate_limit=None)
    async with fake.serve() as url, own_http_client(8, 30.0) as http:

        async def burst(first: int) -> None:
            answers = await asyncio.gather(
                *(
                    http.post(url + LM + "Lead/Bulk/Create", headers=HEADERS, json=_create(i))
                    for i in range(first, first + 8)
                )
            )
            assert [a.status_code for a in answers] == [200] * 8

        await burst(1000)  # eight connections made, then idle
        pool_retries[0] = 0
        for round_ in range(3):
            await burst(100 * round_)
        assert pool_retries[0] == 0
        assert len(_pool(http._transport).connections) <= 8
    assert fake.store.count() == 32


def test_the_pool_is_sized_to_the_calls_in_flight(no_proxies: None) -> None:
    """max_in_flight connections at most, every one of them kept alive between calls."""
    pool = _pool(own_http_client(5, 30.0)._transport)
    assert (pool._max_connections, pool._max_keepalive_connections) == (5, 5)


def test_proxies_from_the_environment_are_used_as_httpx2_uses_them(
    monkeypatch: pytest.MonkeyPatch, no_proxies: None
) -> None:
    """HTTPS_PROXY routes the client's https calls through a proxy pool of the same size."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    http = own_http_client(4, 30.0)
    proxied = http._transport_for_url(httpx2.URL("https://api-in21.leadsquared.com/"))
    assert proxied is not http._transport
    assert _pool(proxied)._max_connections == 4


async def test_a_burst_of_client_calls_makes_no_pool_retries(
    pool_retries: list[int], no_proxies: None
) -> None:
    """A client's streamed creates all land over at most max_in_flight connections, none retried."""
    fake = FakeLeadSquared(rate_limit=None)
    async with (
        fake.serve() as url,
        lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=url, max_in_flight=4
        ) as client,
    ):
        ops = (lsq.CreateLead({"EmailAddress": f"s{i}@example.com"}) for i in range(400))
        outcomes = [o async for o in client.stream(ops)]
        assert client.stats().calls >= 4, "calls overlapped"
        assert len(_pool(client._http._transport).connections) <= 4
    assert all(o.ok for o in outcomes)
    assert fake.store.count() == 400
    assert pool_retries[0] == 0
