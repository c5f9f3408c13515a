"""Every future resolves, every withdrawal holds: the contract breaks of issue 11, one test each."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared, FaultPlan

from .conftest import SCALED, MakeClient

LEAD_IDS = [str(uuid.UUID(int=n, version=4)) for n in range(1, 9)]


class InstantLimiter:
    """A limiter that grants at once, without ever suspending the caller."""

    rate = lsq.RateLimit(10_000, 1)

    async def acquire(self) -> None:
        """Grant now."""

    def delay(self) -> float:
        """Never a wait."""
        return 0.0

    def pause(self, seconds: float) -> None:
        """Ignore pauses."""

    def adopt(self, rate: lsq.RateLimit) -> None:
        """Ignore announced limits."""


def _ops(rng: random.Random, count: int) -> list[lsq.Operation]:
    ops: list[lsq.Operation] = []
    for n in range(count):
        kind = rng.randrange(6)
        email = f"race{n}@example.com"
        lead_id = LEAD_IDS[n % len(LEAD_IDS)]
        if kind == 0:
            ops.append(lsq.CreateLead({"EmailAddress": email}))
        elif kind == 1:
            ops.append(lsq.UpsertLead({"EmailAddress": email, "mx_City": "Pune"}))
        elif kind == 2:
            ops.append(lsq.UpdateLead({"EmailAddress": email, "mx_City": "Goa"}))
        elif kind == 3:
            ops.append(lsq.UpdateLeadById(lead_id, {"mx_City": "Goa"}))
        elif kind == 4:
            ops.append(lsq.UpdateLeadById(lead_id, {"mx_City": "Goa"}, post_updated_lead=True))
        else:
            ops.append(lsq.UpdateField(lead_id, "mx_Stage", "Hot"))
    return ops


async def test_close_races_leave_no_caller_waiting() -> None:
    """Submit-then-aclose with tiny timeouts: every future is done and nothing is left counted."""
    rng = random.Random(11)
    fake = FakeLeadSquared(rate_limit=None)
    for lead_id in LEAD_IDS:
        fake.store.insert({"ProspectID": lead_id, "FirstName": "x"})
    for trial in range(120):
        latency = rng.choice([0.0, 0.0, 0.001, 0.003])
        fake.set_faults(FaultPlan(latency=(0.0, latency)) if latency else None)
        async with httpx2.AsyncClient(transport=fake.transport()) as http:
            client = lsq.LeadSquaredClient(
                "u$rdemo0000000000000000000000000000",
                "demo0000000000000000000000000000000000000",
                base_url="https://api-in21.leadsquared.com",
                http_client=http,
                limiter=InstantLimiter(),
                linger=0,
                max_in_flight=rng.choice([1, 4, 64]),
            )
            futures = [await client.submit(op) for op in _ops(rng, rng.randrange(1, 40))]
            for _ in range(rng.randrange(4)):
                await asyncio.sleep(0)
            await client.aclose(timeout=rng.choice([0.0, 0.0005, 0.002]))
            waiting = [f for f in futures if not f.done()]
            assert not waiting, f"trial {trial}: {len(waiting)} callers still wait after aclose"
            stats = client.stats()
            assert (stats.pending, stats.in_flight) == (0, 0), f"trial {trial}: {stats}"
            for future in futures:
                if not future.cancelled():
                    future.exception()


async def test_a_cancelled_caller_takes_its_fields_out_of_a_merged_update(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """Two updates of one lead merge; the one whose caller left is not applied, the other is."""
    email = "merge@example.com"
    fake.store.insert({"EmailAddress": email, "FirstName": "Old", "mx_City": "Old"})
    client = await make_client(linger=60)
    first = await client.submit(
        lsq.UpdateLead({"EmailAddress": email, "FirstName": "First", "mx_City": "First"})
    )
    second = await client.submit(lsq.UpdateLead({"EmailAddress": email, "mx_City": "Second"}))
    second.cancel()
    await client.flush()
    assert isinstance(await first, lsq.LeadUpdated)
    lead = fake.store.find_by_email(email)
    assert lead is not None
    assert (lead["FirstName"], lead["mx_City"]) == ("First", "First")

    third = await client.submit(
        lsq.UpdateLead({"EmailAddress": email, "FirstName": "Third", "mx_City": "Third"})
    )
    fourth = await client.submit(lsq.UpdateLead({"EmailAddress": email, "mx_City": "Fourth"}))
    third.cancel()
    await client.flush()
    assert isinstance(await fourth, lsq.LeadUpdated)
    lead = fake.store.find_by_email(email)
    assert lead is not None
    assert (lead["FirstName"], lead["mx_City"]) == ("First", "Fourth")
    assert len(fake.ledger.rows_per_call("Lead/Bulk/UpdateV2")) == 2


@pytest.mark.vtime
async def test_each_merged_caller_keeps_its_own_deadline(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """The first caller times out alone (its fields withdrawn); the later one is still served."""
    email = "deadline@example.com"
    fake.store.insert({"EmailAddress": email, "FirstName": "Old", "mx_City": "Old"})
    client = await make_client(linger=60, delivery_timeout=0.3)
    first = await client.submit(
        lsq.UpdateLead({"EmailAddress": email, "FirstName": "First", "mx_City": "First"})
    )
    await asyncio.sleep(0.15)
    second = await client.submit(lsq.UpdateLead({"EmailAddress": email, "mx_City": "Second"}))
    with pytest.raises(lsq.DeliveryTimeoutError):
        await asyncio.wait_for(first, 2)
    assert not second.done(), "the later caller's own deadline has not passed"
    await client.flush()
    assert isinstance(await second, lsq.LeadUpdated)
    lead = fake.store.find_by_email(email)
    assert lead is not None
    assert (lead["FirstName"], lead["mx_City"]) == ("Old", "Second")


@contextlib.asynccontextmanager
async def _slow_client(
    make_client: MakeClient, seconds: float, **options: Any
) -> AsyncIterator[lsq.LeadSquaredClient]:
    fake = FakeLeadSquared(rate_limit=None)
    inner = fake.transport()

    class Slow(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            await asyncio.sleep(seconds)
            return await inner.handle_async_request(request)

    fake.store.insert({"ProspectID": LEAD_IDS[0], "EmailAddress": "slow@example.com"})
    yield await make_client(transport=Slow(), **options)


@pytest.mark.vtime
async def test_a_deadline_passing_in_flight_says_the_row_may_be_applied(
    make_client: MakeClient,
) -> None:
    """In flight at the deadline: InFlightTimeoutError (an OutcomeUnknownError), resend flag set."""
    async with _slow_client(make_client, 0.5, delivery_timeout=0.1, linger=0) as client:
        update = await client.submit(lsq.UpdateLeadById(LEAD_IDS[0], {"mx_City": "Goa"}))
        create = await client.submit(lsq.CreateLead({"EmailAddress": "new@example.com"}))
        for future, safe in ((update, True), (create, False)):
            with pytest.raises(lsq.InFlightTimeoutError) as caught:
                await asyncio.wait_for(future, 2)
            assert isinstance(caught.value, lsq.OutcomeUnknownError)
            assert not isinstance(caught.value, lsq.RateLimitedError)
            assert caught.value.safe_to_resend is safe


@pytest.mark.vtime
async def test_a_row_never_sent_times_out_as_rate_limited(make_client: MakeClient) -> None:
    """A row that never left gets DeliveryTimeoutError, a RateLimitedError: nothing applied."""
    client = await make_client(delivery_timeout=0.05, linger=60)
    future = await client.submit(lsq.UpdateLeadById(LEAD_IDS[0], {"mx_City": "Goa"}))
    with pytest.raises(lsq.DeliveryTimeoutError) as caught:
        await asyncio.wait_for(future, 2)
    assert isinstance(caught.value, lsq.RateLimitedError)
    assert client.stats().calls == 0


async def test_leaving_a_stream_early_withdraws_the_row_held_for_hand_over(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """A row the producer submitted but had not handed over is withdrawn, never sent."""
    client = await make_client(max_pending=2, linger=0, rate_limit=lsq.RateLimit(1, 60))
    ops = [lsq.CreateLead({"EmailAddress": f"s{n}@example.com"}) for n in range(6)]
    async with contextlib.aclosing(client.stream(ops)) as outcomes:
        async for outcome in outcomes:
            assert outcome.ok
            for _ in range(20):  # the producer fills the window and holds one more row
                await asyncio.sleep(0)
            break
    assert client.stats().pending == 0, "nothing the stream submitted is left to be sent"
    await client.flush()
    assert fake.store.count() == client.stats().rows


async def test_a_source_raising_cancelled_error_reaches_the_consumer(
    make_client: MakeClient,
) -> None:
    """stream() re-raises a source's CancelledError instead of waiting forever."""
    client = await make_client()

    async def source() -> AsyncIterator[lsq.Operation]:
        yield lsq.CreateLead({"EmailAddress": "c1@example.com"})
        raise asyncio.CancelledError

    async def consume() -> list[lsq.Outcome]:
        return [outcome async for outcome in client.stream(source())]

    task = asyncio.get_running_loop().create_task(consume())
    done, _ = await asyncio.wait({task}, timeout=5)
    assert done, "the consumer hung"
    assert task.cancelled()


async def test_leaving_a_stream_retrieves_every_outcome_quietly(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Rows already sent when the stream is left end without 'exception was never retrieved'."""
    client = await make_client(max_pending=4, linger=0, rate_limit=SCALED)
    ops = [lsq.UpdateLead({"EmailAddress": f"nobody{n}@example.com"}) for n in range(12)]
    async with contextlib.aclosing(client.stream(ops)) as outcomes:
        async for _ in outcomes:
            break
    await client.flush()
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text
