"""Interactive rows take grants before bulk rows; bulk work is never starved."""

from __future__ import annotations

import asyncio

import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

from .conftest import MakeClient, gather_all

pytestmark = pytest.mark.vtime

SLOW = lsq.RateLimit(5, 0.25)  # a grant every ~50 ms, so a backlog builds up


def _position(fake: FakeLeadSquared, email: str) -> int:
    emails = [lead.get("EmailAddress") for lead in fake.store.all()]
    return emails.index(email)


async def test_an_interactive_create_overtakes_a_bulk_backlog(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """With 1,000 bulk rows queued, a single interactive create goes in the next call."""
    client = await make_client(rate_limit=SLOW)
    bulk = [lsq.CreateLead({"EmailAddress": f"bulk{i}@example.com"}) for i in range(1000)]

    async def drain() -> int:
        return sum([o.ok async for o in client.stream(bulk)])

    importing = asyncio.create_task(drain())
    while fake.ledger.calls() < 2:
        await asyncio.sleep(0.005)
    calls_before = fake.ledger.calls()
    result = await client.create_lead({"EmailAddress": "person@example.com"})
    calls_after = fake.ledger.calls()
    assert isinstance(result, lsq.LeadCreated)
    assert calls_after - calls_before <= 2  # the next call, or the one after if one was leaving
    assert await importing == 1000
    # It rode at the front of its call, ahead of the bulk rows that filled the rest.
    assert _position(fake, "person@example.com") <= calls_after * 50 - 49


async def test_interactive_rows_fill_the_call_before_bulk_rows(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """Queued together, interactive rows lead the call and bulk rows fill the rest of it."""
    client = await make_client(linger=60)
    bulk = [
        await client.submit(lsq.CreateLead({"FirstName": f"B{i}"}, priority=lsq.Priority.BULK))
        for i in range(45)
    ]
    people = [
        await client.submit(lsq.CreateLead({"EmailAddress": f"i{i}@example.com"}))
        for i in range(10)
    ]
    await client.flush()
    assert fake.ledger.rows_per_call("Lead/Bulk/Create") == [50, 5]
    first_call = [lead.get("EmailAddress") for lead in fake.store.all()[:10]]
    assert first_call == [f"i{i}@example.com" for i in range(10)]
    assert all(isinstance(f.result(), lsq.LeadCreated) for f in [*bulk, *people])


async def test_bulk_work_gets_every_grant_no_interactive_row_needs(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """Interactive rows ride in calls bulk rows fill: no call is wasted, the backlog drains."""
    client = await make_client(rate_limit=SLOW)
    bulk = (lsq.CreateLead({"EmailAddress": f"b{i}@example.com"}) for i in range(500))

    async def people() -> list[object]:
        out = []
        for i in range(5):
            await asyncio.sleep(0.03)
            out.append(await client.create_lead({"EmailAddress": f"p{i}@example.com"}))
        return out

    async def drain() -> list[lsq.Outcome]:
        return [o async for o in client.stream(bulk)]

    done, interactive = await asyncio.gather(drain(), people())
    assert all(o.ok for o in done)
    assert all(isinstance(r, lsq.LeadCreated) for r in interactive)
    sizes = fake.ledger.rows_per_call("Lead/Bulk/Create")
    assert sum(sizes) == 505
    assert len(sizes) == 11  # every call full but the last: no grant spent on a lone row


def test_priority_is_checked() -> None:
    """An operation's priority must be a Priority."""
    with pytest.raises(lsq.ValidationError, match="priority"):
        lsq.CreateLead({"FirstName": "A"}, priority=7)  # type: ignore[arg-type]


class Unavailable:
    """A limiter whose backing store is down until ``up`` is set."""

    rate = lsq.RateLimit(25, 0.25)

    def __init__(self) -> None:
        self.up = False

    async def acquire(self) -> None:
        """Grant, or raise while down."""
        await asyncio.sleep(0.01)
        if not self.up:
            raise lsq.LimiterUnavailableError("redis://127.0.0.1:1 refused the connection")

    def delay(self) -> float:
        """Cannot tell: the store is asked."""
        return 0.0

    def pause(self, seconds: float) -> None:
        """Nothing to pause."""

    def adopt(self, rate: lsq.RateLimit) -> None:
        """Nothing to adopt."""


async def test_rows_wait_for_an_unavailable_limiter_then_fail_at_their_deadline(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """While the limiter is down rows wait; at the deadline they fail; once up, rows go."""
    limiter = Unavailable()
    client = await make_client(limiter=limiter, rate_limit=None, delivery_timeout=0.3)
    (waited,) = await gather_all(client.create_lead({"FirstName": "A"}))
    assert isinstance(waited, lsq.LimiterUnavailableError)
    assert fake.ledger.calls() == 0
    limiter.up = True
    assert isinstance(await client.create_lead({"FirstName": "B"}), lsq.LeadCreated)
