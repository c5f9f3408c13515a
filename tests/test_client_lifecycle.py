"""Flow control and life: cancellation, backpressure, flush, bounded close, loops, logs."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

from .conftest import BASE_URL, MakeClient, gather_all


class Gate:
    """A transport that holds every request until released, counting what it saw."""

    def __init__(self, fake: FakeLeadSquared) -> None:
        self.inner = fake.transport()
        self.open = asyncio.Event()
        self.arrived = asyncio.Event()
        self.requests: list[httpx2.Request] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        self.arrived.set()
        await self.open.wait()
        return await self.inner.handle_async_request(request)

    def transport(self) -> httpx2.AsyncBaseTransport:
        gate = self

        class _T(httpx2.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
                return await gate.handle_async_request(request)

        return _T()


async def test_cancelling_before_the_call_withdraws_the_row(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """A caller cancelled while its row waits removes the row: it is never sent."""
    client = await make_client(linger=60)
    keep = await client.submit(lsq.CreateLead({"FirstName": "Keep"}))
    drop = await client.submit(lsq.CreateLead({"FirstName": "Drop"}))
    drop.cancel()
    await client.flush()
    assert isinstance(keep.result(), lsq.LeadCreated)
    assert fake.ledger.rows_per_call("Lead/Bulk/Create") == [1]
    assert [lead["FirstName"] for lead in fake.store.all()] == ["Keep"]


async def test_cancelling_after_the_call_left_lets_the_call_finish(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """Once its row is in a call, a cancelled caller does not cancel the HTTP call."""
    gate = Gate(fake)
    client = await make_client(transport=gate.transport(), linger=0)
    tasks = [asyncio.create_task(client.create_lead({"FirstName": f"F{i}"})) for i in range(3)]
    await gate.arrived.wait()
    tasks[0].cancel()
    gate.open.set()
    results = await gather_all(*tasks)
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(isinstance(r, lsq.LeadCreated) for r in results[1:])
    assert fake.store.count() == 3  # the call went through whole


async def test_backpressure_waits_or_raises_queue_full(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """Past max_pending rows, submit waits for room, or raises QueueFullError if told not to."""
    client = await make_client(max_pending=3, linger=60)
    futures = [await client.submit(lsq.CreateLead({"FirstName": f"F{i}"})) for i in range(3)]
    with pytest.raises(lsq.QueueFullError):
        await client.submit(lsq.CreateLead({"FirstName": "X"}), wait=False)
    waiting = asyncio.create_task(client.submit(lsq.CreateLead({"FirstName": "W"})))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert client.stats().pending == 3
    flushing = asyncio.create_task(client.flush())
    fourth = await waiting  # room appears as soon as the three are taken into a call
    await flushing
    await client.flush()
    assert isinstance(await fourth, lsq.LeadCreated)
    assert all(isinstance(f.result(), lsq.LeadCreated) for f in futures)


async def test_a_call_leaves_when_full_without_waiting_for_linger(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """A full group goes at once even with a long linger; a partial one waits for it."""
    client = await make_client(linger=60)
    full = [await client.submit(lsq.CreateLead({"FirstName": f"F{i}"})) for i in range(50)]
    partial = await client.submit(lsq.CreateLead({"FirstName": "P"}))
    await asyncio.wait_for(asyncio.gather(*full), 2)
    assert not partial.done()
    assert fake.ledger.rows_per_call("Lead/Bulk/Create") == [50]
    await client.flush()
    assert isinstance(partial.result(), lsq.LeadCreated)


async def test_oldest_group_gets_the_next_grant(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """With several groups waiting, calls leave in the order of each group's oldest row."""
    client = await make_client(linger=60)
    order = ["Lead/Bulk/CreateOrUpdate", "Lead/Bulk/Create", "Lead/Bulk/UpdateV2"]
    await client.submit(lsq.UpsertLead({"EmailAddress": "a@example.com"}))
    await client.submit(lsq.CreateLead({"EmailAddress": "b@example.com"}))
    await client.submit(lsq.UpdateLead({"EmailAddress": "c@example.com"}))
    await client.flush()
    assert [e.endpoint for e in fake.ledger.entries] == order


async def test_close_sends_what_was_admitted_and_refuses_new_rows(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """aclose() sends queued rows first, reports them, then refuses new calls."""
    client = await make_client(linger=60)
    futures = [await client.submit(lsq.CreateLead({"FirstName": f"F{i}"})) for i in range(7)]
    report = await client.aclose()
    assert report == lsq.CloseReport(sent=7, failed=0, abandoned=0)
    assert all(isinstance(f.result(), lsq.LeadCreated) for f in futures)
    with pytest.raises(lsq.ClientClosedError):
        await client.create_lead({"FirstName": "late"})
    assert await client.aclose() == report  # idempotent


async def test_close_is_bounded_when_the_server_hangs(make_client: MakeClient) -> None:
    """With a server that never answers, aclose(timeout) returns on time, every future resolved."""
    never = asyncio.Event()

    async def hang(request: httpx2.Request) -> httpx2.Response:
        await never.wait()
        raise AssertionError("unreachable")

    client = await make_client(transport=httpx2.MockTransport(hang), linger=0, max_in_flight=1)
    in_flight = [await client.submit(lsq.CreateLead({"FirstName": f"F{i}"})) for i in range(2)]
    await asyncio.sleep(0.05)
    queued = await client.submit(lsq.UpsertLead({"EmailAddress": "q@example.com"}))
    started = time.monotonic()
    report = await client.aclose(timeout=0.2)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert all(f.done() for f in [*in_flight, queued])
    assert all(isinstance(f.exception(), lsq.OutcomeUnknownError) for f in in_flight)
    assert isinstance(queued.exception(), lsq.ClientClosedError)
    assert report == lsq.CloseReport(sent=0, failed=2, abandoned=1)


async def test_callers_waiting_for_room_get_client_closed(make_client: MakeClient) -> None:
    """A submit blocked on max_pending ends with ClientClosedError when the client closes."""
    never = asyncio.Event()

    async def hang(request: httpx2.Request) -> httpx2.Response:
        await never.wait()
        raise AssertionError("unreachable")

    client = await make_client(transport=httpx2.MockTransport(hang), linger=60, max_pending=1)
    await client.submit(lsq.UpsertLead({"EmailAddress": "a@example.com"}))
    blocked = asyncio.create_task(client.submit(lsq.UpsertLead({"EmailAddress": "b@example.com"})))
    await asyncio.sleep(0.01)
    await client.aclose(timeout=0.1)
    with pytest.raises(lsq.ClientClosedError):
        await blocked


def test_using_a_client_from_another_loop_raises() -> None:
    """A client bound to one event loop refuses calls from another with a clear error."""
    fake = FakeLeadSquared()
    client = lsq.LeadSquaredClient(
        DEMO_ACCESS_KEY,
        DEMO_SECRET_KEY,
        base_url=BASE_URL,
        http_client=httpx2.AsyncClient(transport=fake.transport()),
    )

    async def first() -> None:
        await client.create_lead({"FirstName": "A"})

    async def second() -> None:
        with pytest.raises(lsq.WrongEventLoopError, match="another event loop"):
            await client.create_lead({"FirstName": "B"})

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(first())
        asyncio.run(second())
        loop.run_until_complete(client.aclose())
    finally:
        loop.close()


async def test_one_debug_line_per_call_and_no_secret_in_logs(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Each call logs endpoint, rows, status and time at DEBUG; keys never reach any log."""
    secret = "SENTINEL-SECRET-4f1c"
    fake = FakeLeadSquared(secret_key=secret)
    client = await make_client(transport=fake.transport(), secret_key=secret)
    with caplog.at_level(logging.DEBUG):
        await gather_all(*(client.create_lead({"FirstName": f"A{i}"}) for i in range(60)))
        await gather_all(client.update_lead({"EmailAddress": "nobody@example.com"}))
    lines = [r.getMessage() for r in caplog.records if r.name == "leadsq_async"]
    assert sum(line.startswith("Lead/Bulk/Create rows=") for line in lines) == 2
    assert any("status=200" in line and "elapsed=" in line for line in lines)
    assert secret not in caplog.text
    assert secret not in repr(client)


async def test_from_env_reads_keys_host_rate_and_timeout() -> None:
    """LeadSquaredClient.from_env builds a client from LSQ_* variables; overrides win."""
    env = {
        "LSQ_ACCESS_KEY": "u$rkey",
        "LSQ_SECRET_KEY": "secret-from-env",
        "LSQ_HOST": "api-in21.leadsquared.com",
        "LSQ_RATE": "20/5",
        "LSQ_DELIVERY_TIMEOUT": "7.5",
    }
    client = lsq.LeadSquaredClient.from_env(env, linger=0.0)
    try:
        assert client.base_url == "https://api-in21.leadsquared.com"
        assert client.limiter.rate == lsq.RateLimit(20, 5.0)
        assert "secret-from-env" not in repr(client)
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"LSQ_SECRET_KEY": "s"}, "LSQ_ACCESS_KEY"),
        ({"LSQ_ACCESS_KEY": "a"}, "LSQ_SECRET_KEY"),
        ({"LSQ_ACCESS_KEY": "a", "LSQ_SECRET_KEY": "s", "LSQ_RATE": "fast"}, "LSQ_RATE"),
        (
            {"LSQ_ACCESS_KEY": "a", "LSQ_SECRET_KEY": "s", "LSQ_DELIVERY_TIMEOUT": "soon"},
            "LSQ_DELIVERY_TIMEOUT",
        ),
    ],
    ids=["no-access-key", "no-secret-key", "bad-rate", "bad-timeout"],
)
def test_from_env_names_the_variable_that_is_wrong(env: dict[str, str], field: str) -> None:
    """A missing or malformed variable raises ValidationError naming it."""
    with pytest.raises(lsq.ValidationError) as caught:
        lsq.LeadSquaredClient.from_env(env)
    assert caught.value.field == field
