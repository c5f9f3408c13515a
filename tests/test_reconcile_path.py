"""One send path: the lookup that settles a create is an ordinary row of the batcher.

It is announced, rate limited (and paused by a rejection), retried like any lookup, held back
by the circuit and counted against the quota; ``create_lead(look_up_first=True)`` goes the
same way.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared, FaultPlan

from .conftest import MakeClient

pytestmark = [pytest.mark.vtime, pytest.mark.client_options(rate_limit=lsq.RateLimit(25, 1.0))]

CREATE = "Lead/Bulk/Create"
BY_EMAIL = "Leads.GetByEmailaddress"


def _fake(**options: Any) -> FakeLeadSquared:
    return FakeLeadSquared(rate_limit=None, clock=asyncio.get_running_loop().time, **options)


async def test_every_dropped_create_with_an_email_is_settled(make_client: MakeClient) -> None:
    """drop_after=0.3 on every call, 300 creates with an email: none is left unknown, none twice."""
    fake = _fake()
    fake.set_faults(FaultPlan(drop_after=0.3))
    async with await make_client(fake) as client:
        results: list[Any] = await asyncio.gather(
            *(
                client.create_lead({"EmailAddress": f"d{n}@example.com", "FirstName": "D"})
                for n in range(300)
            ),
            return_exceptions=True,
        )
        stats = client.stats()
    assert [r for r in results if isinstance(r, lsq.OutcomeUnknownError)] == []
    assert all(isinstance(r, lsq.LeadCreated) for r in results), results
    for n, result in enumerate(results):
        lead = fake.store.find_by_email(f"d{n}@example.com")
        assert lead is not None
        assert lead["ProspectID"] == result.lead_id
    assert fake.store.count() == 300
    assert fake.store.duplicates() == []
    assert any(r.reconciled for r in results)  # the drops did hit creates
    assert stats.retries > 0  # ... and lookups, which were sent again


async def test_the_reconciling_lookup_is_announced(make_client: MakeClient) -> None:
    """on_call and on_event see the lookup that settles a dropped create, like any call."""
    calls: list[lsq.CallEvent] = []
    events: list[lsq.Event] = []
    fake = _fake()
    fake.set_faults(FaultPlan(drop_after=1.0), endpoint=CREATE)
    async with await make_client(fake, on_call=calls.append, on_event=events.append) as c:
        result = await c.create_lead({"EmailAddress": "seen@example.com", "FirstName": "S"})
    assert isinstance(result, lsq.LeadCreated)
    assert result.reconciled
    assert [(e.endpoint, e.operations) for e in calls] == [
        (CREATE, (lsq.CreateLead({"EmailAddress": "seen@example.com", "FirstName": "S"}),)),
        (BY_EMAIL, (lsq.FindLead(email="seen@example.com"),)),
    ]
    # The create's call ends (its slot is free) before its lookup leaves, as a call of its own.
    assert [(type(e).__name__, e.endpoint, getattr(e, "outcome", "")) for e in events] == [
        ("CallEvent", CREATE, ""),
        ("CallEnded", CREATE, "failed"),
        ("CallEvent", BY_EMAIL, ""),
        ("CallEnded", BY_EMAIL, "answered"),
    ]


async def test_a_rate_limited_lookup_pauses_the_limiter_and_still_settles(
    make_client: MakeClient,
) -> None:
    """A 429 on the lookup pauses the general budget; the lookup goes again after it."""
    sent: list[float] = []
    loop = asyncio.get_running_loop()
    fake = _fake(retry_after=5.0)
    fake.set_faults(FaultPlan(drop_after=1.0), endpoint=CREATE)
    fake.set_faults(FaultPlan(rate_limited=1.0), endpoint=BY_EMAIL)
    inner = fake.transport()

    class RejectedOnce(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if request.url.path.endswith(BY_EMAIL):
                sent.append(loop.time())
                response = await inner.handle_async_request(request)
                fake.set_faults(None, endpoint=BY_EMAIL)  # only the first is refused
                return response
            return await inner.handle_async_request(request)

    async with await make_client(RejectedOnce()) as client:
        result = await client.create_lead({"EmailAddress": "wait@example.com"})
        stats = client.stats()
    assert isinstance(result, lsq.LeadCreated)
    assert result.reconciled
    assert stats.rate_limited == 1
    assert len(sent) == 2
    assert sent[1] - sent[0] >= 5.0  # the pause the rejection asked for


async def test_the_circuit_holds_back_the_lookup_and_fails_it_once_open(
    make_client: MakeClient,
) -> None:
    """Lookups that cannot reach the service trip the circuit; none leaves once it is open."""
    lookups: list[float] = []
    ended: list[float] = []
    loop = asyncio.get_running_loop()
    fake = _fake()
    fake.set_faults(FaultPlan(drop_after=1.0), endpoint=CREATE)
    inner = fake.transport()

    class LookupsUnreachable(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if request.url.path.endswith(BY_EMAIL):
                lookups.append(loop.time())
                raise httpx2.ConnectError("connection refused", request=request)
            return await inner.handle_async_request(request)

    result: Any
    async with await make_client(
        LookupsUnreachable(),
        circuit_calls=2,
        circuit_seconds=3.0,
        backoff=0.1,
        backoff_max=0.5,
        max_retries=100,
    ) as client:
        try:
            result = await client.create_lead({"EmailAddress": "far@example.com"})
        except lsq.LeadSquaredError as error:
            result = error
        finally:
            ended.append(loop.time())
    assert type(result) is lsq.OutcomeUnknownError
    assert len(lookups) >= 2  # retried like any lookup, one probe at a time once holding
    opened = lookups[0] + 3.0  # T seconds after the first of the failures in a row
    assert all(t < opened for t in lookups)
    assert opened <= ended[0] < opened + 1.0  # failed at once when it opened, not retried on


async def test_look_up_first_goes_the_same_way(make_client: MakeClient) -> None:
    """look_up_first's lookup is an announced row; the create leaves only when none exists."""
    calls: list[lsq.CallEvent] = []
    fake = _fake()
    fake.store.insert({"EmailAddress": "there@example.com", "FirstName": "Ann"})
    async with await make_client(fake, on_call=calls.append) as client:
        same = await client.create_lead(
            {"EmailAddress": "there@example.com", "FirstName": "Ann"}, look_up_first=True
        )
        new = await client.create_lead({"EmailAddress": "new@example.com"}, look_up_first=True)
    assert same == lsq.LeadCreated(same.lead_id, reconciled=True)
    assert isinstance(new, lsq.LeadCreated)
    assert not new.reconciled
    assert [(e.endpoint, e.operations) for e in calls] == [
        (BY_EMAIL, (lsq.FindLead(email="there@example.com"),)),
        (BY_EMAIL, (lsq.FindLead(email="new@example.com"),)),
        (CREATE, (lsq.CreateLead({"EmailAddress": "new@example.com"}),)),
    ]
    assert fake.store.count() == 2


async def test_rows_after_a_reconciled_create_wait_for_it(make_client: MakeClient) -> None:
    """An update and a lookup of the lead, submitted after its create, go after it settles."""
    calls: list[str] = []
    fake = _fake()
    fake.set_faults(FaultPlan(drop_after=1.0), endpoint=CREATE)
    async with await make_client(fake, on_call=lambda e: calls.append(e.endpoint)) as c:
        creating = asyncio.ensure_future(c.create_lead({"EmailAddress": "o@example.com"}))
        await asyncio.sleep(0.5)  # the create's call is on its way
        created, updated, found = await asyncio.gather(
            creating,
            c.update_lead({"EmailAddress": "o@example.com", "FirstName": "Later"}),
            c.find_lead(email="o@example.com"),
        )
    assert isinstance(created, lsq.LeadCreated)
    assert created.reconciled
    assert isinstance(updated, lsq.LeadUpdated)
    assert found is not None
    assert found.get("FirstName") == "Later"  # not merged into the create's own lookup
    assert calls == [CREATE, BY_EMAIL, "Lead/Bulk/UpdateV2", BY_EMAIL]


async def test_look_up_first_waits_for_older_rows_of_its_lead(make_client: MakeClient) -> None:
    """look_up_first's lookup waits for an older upsert of the lead, and finds its lead."""
    calls: list[str] = []
    fake = _fake()
    async with await make_client(fake, on_call=lambda e: calls.append(e.endpoint)) as c:
        _, created = await asyncio.gather(
            c.upsert_lead({"EmailAddress": "u@example.com", "FirstName": "Una"}),
            c.create_lead(
                {"EmailAddress": "u@example.com", "FirstName": "Una"}, look_up_first=True
            ),
        )
    assert isinstance(created, lsq.LeadCreated)
    assert created.reconciled
    assert calls[-1] == BY_EMAIL


async def test_leaving_a_look_up_first_create_withdraws_its_lookup(make_client: MakeClient) -> None:
    """A look_up_first create cancelled while its lookup waits: neither row is sent."""
    fake = _fake()
    fake.set_faults(FaultPlan(latency=(1.0, 1.0)))
    async with await make_client(fake) as client:
        upserted = asyncio.ensure_future(client.upsert_lead({"EmailAddress": "x@example.com"}))
        created = asyncio.ensure_future(
            client.create_lead({"EmailAddress": "x@example.com"}, look_up_first=True)
        )
        await asyncio.sleep(0.5)  # the upsert is in flight; the lookup waits for it
        created.cancel()
        await upserted
        await client.flush()
    assert fake.ledger.calls(BY_EMAIL) == 0
    assert fake.ledger.calls(CREATE) == 0
    assert fake.ledger.calls("Lead/Bulk/CreateOrUpdate") == 1
