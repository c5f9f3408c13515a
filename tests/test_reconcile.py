"""Reconciling unknown outcomes: a create whose answer was lost is looked up, not guessed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async._dispatch.reconcile import RESEND, decide
from leadsq_async.testing import FakeLeadSquared, FaultPlan

from .conftest import MakeClient

pytestmark = [pytest.mark.vtime, pytest.mark.client_options(rate_limit=lsq.RateLimit(25, 1.0))]

LEAD = lsq.Lead(
    "00000000-0000-4000-8000-000000000001",
    {
        "EmailAddress": "A@Example.com",
        "FirstName": "Ann",
        "Phone": "+91-9876543210",
        "CreatedOn": "2024-01-02 10:00:00.000",
    },
)


@pytest.mark.parametrize(
    ("items", "lead", "expected"),
    [
        pytest.param({"EmailAddress": "a@example.com"}, None, RESEND, id="no-lead-resend"),
        pytest.param(
            {"EmailAddress": " a@example.com ", "FirstName": "ann"},
            LEAD,
            lsq.LeadCreated(LEAD.lead_id, reconciled=True),
            id="same-fields-reconciled",
        ),
        pytest.param(
            {"EmailAddress": "a@example.com", "Phone": "9876543210"},
            LEAD,
            lsq.LeadCreated(LEAD.lead_id, reconciled=True),
            id="phone-without-country-code",
        ),
        pytest.param(
            {"EmailAddress": "a@example.com", "CreatedOn": "2024-01-02 10:00:00"},
            LEAD,
            lsq.LeadCreated(LEAD.lead_id, reconciled=True),
            id="date-without-milliseconds",
        ),
        pytest.param(
            {"EmailAddress": "a@example.com", "mx_City": "Pune"},
            LEAD,
            lsq.LeadCreated(LEAD.lead_id, reconciled=True),
            id="a-field-the-lookup-did-not-return-is-not-held-against-it",
        ),
        pytest.param(
            {"EmailAddress": "a@example.com", "FirstName": "Bob"},
            LEAD,
            lsq.LeadRejectedError,
            id="another-lead-duplicate",
        ),
    ],
)
def test_decide(items: dict[str, Any], lead: lsq.Lead | None, expected: object) -> None:
    """The lookup's answer decides: resend, reconciled, or the duplicate it would have met."""
    decision = decide(items, lead)
    if isinstance(expected, type):
        assert isinstance(decision, expected)
        assert decision.exception_type == "MXDuplicateEntryException"  # type: ignore[attr-defined]
    else:
        assert decision == expected


async def test_a_dropped_create_is_reconciled_by_its_unique_field(make_client: MakeClient) -> None:
    """Dropped after applying: callers with an email get their LeadId; the others stay unknown."""
    fake = FakeLeadSquared(rate_limit=None, clock=asyncio.get_running_loop().time)
    fake.set_faults(FaultPlan(drop_after=1.0), endpoint="Lead/Bulk/Create")
    async with await make_client(fake.transport()) as client:
        results = await asyncio.gather(
            *(
                client.create_lead({"EmailAddress": f"r{i}@example.com", "FirstName": "R"})
                for i in range(30)
            ),
            *(client.create_lead({"FirstName": f"NoKey{i}"}) for i in range(5)),
            return_exceptions=True,
        )
    keyed, unkeyed = results[:30], results[30:]
    assert all(isinstance(r, lsq.LeadCreated) and r.reconciled for r in keyed), keyed
    for n, result in enumerate(keyed):
        lead = fake.store.find_by_email(f"r{n}@example.com")
        assert lead is not None
        assert lead["ProspectID"] == result.lead_id
    assert all(type(r) is lsq.OutcomeUnknownError for r in unkeyed), unkeyed
    assert fake.store.duplicates() == []
    assert fake.store.count() == 35  # every create was applied once, none twice
    assert fake.ledger.calls("Lead/Bulk/Create") == 1


async def test_a_create_that_was_not_applied_is_sent_again(make_client: MakeClient) -> None:
    """A 502 without an MX type, nothing applied: the lookup finds no lead; the create is resent."""
    fake = FakeLeadSquared(rate_limit=None, clock=asyncio.get_running_loop().time)
    inner = fake.transport()
    failed = [0]

    class FirstCreateFails(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if request.url.path.endswith("Lead/Bulk/Create") and not failed[0]:
                failed[0] += 1
                return httpx2.Response(502, text="<html>Bad Gateway</html>")
            return await inner.handle_async_request(request)

    async with await make_client(FirstCreateFails()) as client:
        result = await client.create_lead({"EmailAddress": "again@example.com"})
    assert isinstance(result, lsq.LeadCreated)
    assert not result.reconciled
    assert fake.ledger.calls("Leads.GetByEmailaddress") == 1
    assert fake.store.count() == 1


async def test_reconciling_can_be_turned_off(make_client: MakeClient) -> None:
    """reconcile=False: a dropped create is OutcomeUnknownError, as before."""
    fake = FakeLeadSquared(rate_limit=None, clock=asyncio.get_running_loop().time)
    fake.set_faults(FaultPlan(drop_after=1.0), endpoint="Lead/Bulk/Create")
    async with await make_client(fake.transport(), reconcile=False) as client:
        outcome: object
        try:
            outcome = await client.create_lead({"EmailAddress": "off@example.com"})
        except lsq.LeadSquaredError as exc:
            outcome = exc
    assert type(outcome) is lsq.OutcomeUnknownError


async def test_look_up_first_answers_from_the_lead_or_creates_it(make_client: MakeClient) -> None:
    """look_up_first: an existing match is reconciled, a differing one refused, none created."""
    fake = FakeLeadSquared(rate_limit=None, clock=asyncio.get_running_loop().time)
    fake.store.insert({"EmailAddress": "there@example.com", "FirstName": "Ann"})
    async with await make_client(fake.transport()) as client:
        results = await asyncio.gather(
            client.create_lead(
                {"EmailAddress": "there@example.com", "FirstName": "Ann"}, look_up_first=True
            ),
            client.create_lead(
                {"EmailAddress": "there@example.com", "FirstName": "Bob"}, look_up_first=True
            ),
            client.create_lead({"EmailAddress": "new@example.com"}, look_up_first=True),
            return_exceptions=True,
        )
    fake, (same, differs, new) = fake, list(results)
    assert isinstance(same, lsq.LeadCreated)
    assert same.reconciled
    assert isinstance(differs, lsq.LeadRejectedError)
    assert isinstance(new, lsq.LeadCreated)
    assert not new.reconciled
    assert fake.store.count() == 2
    assert fake.ledger.calls("Lead/Bulk/Create") == 1
