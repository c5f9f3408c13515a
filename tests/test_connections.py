"""ConnectionSlots: the client's own transport, one connection per call in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest
from httpcore2._async import connection_pool

import leadsq_async as lsq
from leadsq_async._dispatch.connections import ConnectionSlots, own_http_client
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

LM = "/v2/LeadManagement.svc/"
HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}


def _create(i: int) -> list[list[dict[str, str]]]:
    return [[{"Attribute": "EmailAddress", "Value": f"slot{i}@example.com"}]]


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


async def test_requests_started_together_each_get_a_connection_at_once(
    pool_retries: list[int],
) -> None:
    """Eight requests started in one loop step go out on eight connections, none tried twice."""
    fake = FakeLeadSquared(rate_limit=None)
    slots = ConnectionSlots(8)
    async with (
        fake.serve() as url,
        httpx2.AsyncClient(base_url=url, headers=HEADERS, transport=slots) as http,
    ):
        await asyncio.gather(
            *(http.post(LM + "Lead/Bulk/Create", json=_create(1000 + i)) for i in range(8))
        )
        pool_retries[0] = 0
        for round_ in range(3):  # warm connections, all idle: the case the shared pool gets wrong
            answers = await asyncio.gather(
                *(
                    http.post(LM + "Lead/Bulk/Create", json=_create(100 * round_ + i))
                    for i in range(8)
                )
            )
            assert [a.status_code for a in answers] == [200] * 8
        assert pool_retries[0] == 0
        assert slots.free == 8
    assert fake.store.count() == 32


async def test_more_requests_than_slots_wait_their_turn() -> None:
    """With two slots, twenty requests all go through, never more than two at once."""
    fake = FakeLeadSquared(rate_limit=None)
    slots = ConnectionSlots(2)
    lowest = [2]

    async def post(http: httpx2.AsyncClient, i: int) -> int:
        response = await http.post(LM + "Lead/Bulk/Create", json=_create(i))
        lowest[0] = min(lowest[0], slots.free)
        return response.status_code

    async with (
        fake.serve() as url,
        httpx2.AsyncClient(base_url=url, headers=HEADERS, transport=slots) as http,
    ):
        codes = await asyncio.gather(*(post(http, i) for i in range(20)))
    assert codes == [200] * 20
    assert slots.free == 2
    assert fake.store.count() == 20


async def test_a_request_that_cannot_connect_gives_its_slot_back() -> None:
    """A connection refused raises ConnectError and leaves the slot free for the next request."""
    slots = ConnectionSlots(1)
    async with httpx2.AsyncClient(transport=slots) as http:
        for _ in range(2):
            with pytest.raises(httpx2.ConnectError):
                await http.get("http://127.0.0.1:9/")  # the discard port: nothing listens
        assert slots.free == 1


async def test_a_caller_that_leaves_while_waiting_for_a_slot_takes_none() -> None:
    """A request cancelled while it waits for a slot leaves every slot for the others."""
    fake = FakeLeadSquared(rate_limit=None)
    slots = ConnectionSlots(1)
    async with (
        fake.serve() as url,
        httpx2.AsyncClient(base_url=url, headers=HEADERS, transport=slots) as http,
    ):
        async with http.stream("POST", LM + "Lead/Bulk/Create", json=_create(1)) as held:
            assert slots.free == 0
            waiting = asyncio.create_task(http.post(LM + "Lead/Bulk/Create", json=_create(2)))
            for _ in range(5):
                await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            await held.aread()
        assert slots.free == 1
        after = await http.post(LM + "Lead/Bulk/Create", json=_create(3))
        assert after.status_code == 200
    assert fake.store.count() == 2


def test_the_client_uses_slots_unless_proxies_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Proxies in the environment keep httpx2's own pool, which honours them."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(own_http_client(4, 30.0)._transport, ConnectionSlots)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert not isinstance(own_http_client(4, 30.0)._transport, ConnectionSlots)


async def test_the_client_sends_through_its_slots(pool_retries: list[int]) -> None:
    """A client's streamed creates all land, and its pool never retried a connection."""
    fake = FakeLeadSquared(rate_limit=None)
    async with (
        fake.serve() as url,
        lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=url, max_in_flight=4
        ) as client,
    ):
        assert isinstance(client._http._transport, ConnectionSlots)
        ops = (lsq.CreateLead({"EmailAddress": f"s{i}@example.com"}) for i in range(400))
        outcomes = [o async for o in client.stream(ops)]
    assert all(o.ok for o in outcomes)
    assert fake.store.count() == 400
    assert pool_retries[0] == 0
