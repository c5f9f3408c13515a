"""Faults on the way: what is retried, what is not, and that nothing is doubled."""

from __future__ import annotations

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared, FaultPlan

from .conftest import MakeClient, gather_all


async def test_connection_dropped_before_processing_is_retried_for_creates(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """A request that never reached the service is resent, even a create: every row succeeds."""
    fake.set_faults(FaultPlan(drop_before=0.3))
    client = await make_client()
    results = await gather_all(
        *(client.create_lead({"EmailAddress": f"d{i}@example.com"}) for i in range(500))
    )
    assert all(isinstance(r, lsq.LeadCreated) for r in results)
    assert any(e.fault == "drop_before" for e in fake.ledger.entries)
    assert fake.store.count() == 500
    assert fake.store.duplicates() == []
    assert client.stats().retries > 0


async def test_connection_dropped_after_applying_makes_creates_unknown(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """Creates whose answer was lost fail with OutcomeUnknownError and are never resent."""
    fake.set_faults(FaultPlan(drop_after=0.3))
    client = await make_client()
    results = await gather_all(*(client.create_lead({"FirstName": f"N{i}"}) for i in range(500)))
    unknown = [r for r in results if isinstance(r, lsq.OutcomeUnknownError)]
    created = [r for r in results if isinstance(r, lsq.LeadCreated)]
    assert unknown
    assert len(unknown) + len(created) == 500
    dropped_calls = [e for e in fake.ledger.entries if e.fault == "drop_after"]
    assert len(unknown) == sum(e.rows for e in dropped_calls)
    # Applied but unknown: the store holds every row exactly once, nothing was sent twice.
    assert fake.store.count() == 500
    assert sum(e.rows for e in fake.ledger.entries) == 500
    assert client.stats().retries == 0


@pytest.mark.parametrize("fault", ["drop_after", "system_error"])
async def test_idempotent_endpoints_retry_after_ambiguous_failures(
    fake: FakeLeadSquared, make_client: MakeClient, fault: str
) -> None:
    """Upserts and updates are resent after a drop or a system error, and all succeed."""
    client = await make_client()
    created = await gather_all(
        *(client.create_lead({"EmailAddress": f"s{i}@example.com"}) for i in range(100))
    )
    fake.set_faults(FaultPlan(**{fault: 0.3}))  # type: ignore[arg-type]
    results = await gather_all(
        *(
            client.upsert_lead({"EmailAddress": f"s{i}@example.com", "mx_A": "1"})
            for i in range(100)
        ),
        *(
            client.update_lead({"EmailAddress": f"s{i}@example.com", "mx_B": "2"})
            for i in range(100)
        ),
        *(client.update_field(c.lead_id, "mx_C", "3") for c in created),
    )
    assert not [r for r in results if isinstance(r, Exception)]
    assert any(e.fault == fault for e in fake.ledger.entries)
    for lead in fake.store.all():
        assert (lead["mx_A"], lead["mx_B"], lead["mx_C"]) == ("1", "2", "3")
    assert fake.store.count() == 100


async def test_system_errors_on_creates_are_unknown_not_resent(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """A 5xx without an MX type on a create may have been applied: unknown, not resent."""
    fake.set_faults(FaultPlan(system_error=1.0))
    client = await make_client()
    results = await gather_all(*(client.create_lead({"FirstName": f"N{i}"}) for i in range(3)))
    assert all(isinstance(r, lsq.OutcomeUnknownError) for r in results)
    assert fake.ledger.calls("Lead/Bulk/Create") == 1


async def test_retries_give_up_after_max_retries(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """An idempotent row that keeps failing ends with ServiceError after max_retries resends."""
    fake.set_faults(FaultPlan(system_error=1.0))
    client = await make_client(max_retries=2)
    result = (await gather_all(client.upsert_lead({"EmailAddress": "x@example.com"})))[0]
    assert isinstance(result, lsq.ServiceError)
    assert fake.ledger.calls("Lead/Bulk/CreateOrUpdate") == 3


async def test_mx_rejection_of_a_whole_call_is_not_retried(make_client: MakeClient) -> None:
    """A 500 with an MX type is a rejection: the row gets the service's reason, no resend.

    (A refused call of several rows is split to find the bad ones: see test_client_poison.)
    """
    calls = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        return httpx2.Response(
            500,
            json={
                "Status": "Error",
                "ExceptionType": "MXInvalidInputException",
                "ExceptionMessage": "Invalid value for mx_Date",
            },
        )

    client = await make_client(transport=httpx2.MockTransport(handler))
    results = await gather_all(*(client.upsert_lead({"Phone": f"{i}"}) for i in range(3)))
    assert all(isinstance(r, lsq.LeadRejectedError) for r in results)
    assert results[0].exception_type == "MXInvalidInputException"
    assert results[0].reason == "Invalid value for mx_Date"
    # 3 rows, halved until each stood alone: [0 1 2], probe [0 1], probe [0]; the held halves
    # rejoin as if good, [1 2], probe [1], then [2]: no call is resent unchanged.
    assert len(calls) == 6
    assert client.stats().retries == 0


async def test_answers_in_another_case_or_missing_rows_still_answer_every_row(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """Identifiers echoed in another case match; an answer a row short fails its whole call.

    With one entry missing the numbering of the rest cannot be trusted, so every row of the
    call gets ResponseMismatchError: for creates, an unknown outcome (they were applied) —
    which a create with a unique field turns into an answer by looking the lead up (issue 14).
    """
    client = await make_client()
    await gather_all(
        *(client.create_lead({"EmailAddress": f"c{i}@example.com"}) for i in range(50))
    )
    fake.set_faults(FaultPlan(change_case=1.0), "Lead/Bulk/UpdateV2")
    updated = await gather_all(
        *(client.update_lead({"EmailAddress": f"c{i}@example.com", "mx_A": "1"}) for i in range(50))
    )
    assert all(isinstance(r, lsq.LeadUpdated) for r in updated)
    fake.set_faults(FaultPlan(omit_rows=1.0), "Lead/Bulk/Create")
    results = await gather_all(*(client.create_lead({"FirstName": f"o{i}"}) for i in range(50)))
    assert all(isinstance(r, lsq.ResponseMismatchError) for r in results)
    assert all(isinstance(r, lsq.OutcomeUnknownError) for r in results)
    keyed = await gather_all(
        *(client.create_lead({"EmailAddress": f"k{i}@example.com"}) for i in range(50))
    )
    assert all(isinstance(r, lsq.LeadCreated) and r.reconciled for r in keyed)
    assert fake.store.duplicates() == []
