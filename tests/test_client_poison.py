"""Poison rows: a call refused whole for one bad row is split until the bad rows stand alone."""

from __future__ import annotations

import math

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

from .conftest import SCALED, MakeClient, gather_all

POISON = "__POISON__"


def _calls(fake: FakeLeadSquared, endpoint: str) -> int:
    return sum(1 for e in fake.ledger.entries if e.endpoint == endpoint)


@pytest.mark.parametrize("status", [500, 400])
async def test_one_bad_upsert_is_isolated_and_the_rest_succeed(
    make_client: MakeClient, status: int
) -> None:
    """25 upserts with one poison row: 24 succeed, the bad row gets the service's reason."""
    fake = FakeLeadSquared(rate_limit=SCALED, poison_value=POISON, poison_status=status)
    client = await make_client(transport=fake.transport())
    rows = [{"EmailAddress": f"p{i}@example.com", "mx_City": "Pune"} for i in range(25)]
    rows[17]["mx_Bad"] = POISON
    results = await gather_all(*(client.upsert_lead(r) for r in rows))

    bad = results.pop(17)
    assert isinstance(bad, lsq.LeadRejectedError)
    assert "mx_Bad" in bad.reason
    assert all(isinstance(r, lsq.LeadUpserted) for r in results)
    assert fake.store.count() == 24
    extra = _calls(fake, "Lead/Bulk/CreateOrUpdate") - 1
    stats = client.stats()
    # One probe half per halving level and the last row alone; a refused probe's other half
    # rejoins full calls (at most one call per refusal).
    assert 0 < extra <= math.ceil(math.log2(25)) + 1 + stats.splits
    assert stats.splits == stats.calls_refused_whole > 0


async def test_bad_creates_are_isolated_without_creating_anything_twice(
    make_client: MakeClient,
) -> None:
    """A create call refused for input proves nothing was applied: it is split, never doubled."""
    fake = FakeLeadSquared(rate_limit=SCALED, poison_value=POISON)
    client = await make_client(transport=fake.transport())
    rows = [{"EmailAddress": f"c{i}@example.com"} for i in range(50)]
    for i in (3, 40):
        rows[i]["mx_Bad"] = POISON
    results = await gather_all(*(client.create_lead(r) for r in rows))

    assert [i for i, r in enumerate(results) if isinstance(r, lsq.LeadRejectedError)] == [3, 40]
    created = [r for r in results if isinstance(r, lsq.LeadCreated)]
    assert len(created) == 48
    assert fake.store.count() == 48
    assert fake.store.duplicates() == []
    extra = _calls(fake, "Lead/Bulk/Create") - 1
    assert extra <= 2 * 2 * math.ceil(math.log2(50))


async def test_v2_updates_are_split_too(make_client: MakeClient) -> None:
    """UpdateV2 calls refused whole are split like upserts."""
    fake = FakeLeadSquared(rate_limit=SCALED, poison_value=POISON)
    client = await make_client(transport=fake.transport())
    await gather_all(
        *(client.create_lead({"EmailAddress": f"u{i}@example.com"}) for i in range(25))
    )
    results = await gather_all(
        *(
            client.update_lead(
                {"EmailAddress": f"u{i}@example.com", "mx_City": POISON if i == 0 else "Goa"}
            )
            for i in range(25)
        )
    )
    assert isinstance(results[0], lsq.LeadRejectedError)
    assert all(isinstance(r, lsq.LeadUpdated) for r in results[1:])


async def test_a_create_refusal_that_may_have_applied_is_not_split(
    make_client: MakeClient,
) -> None:
    """A whole-call refusal of creates whose type proves nothing fails every row, unsplit."""
    calls: list[httpx2.Request] = []

    def refuse(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        body = {
            "Status": "Error",
            "ExceptionType": "MXSomethingElseException",
            "ExceptionMessage": "Something went wrong with one row",
        }
        return httpx2.Response(500, json=body)

    client = await make_client(transport=httpx2.MockTransport(refuse))
    results = await gather_all(*(client.create_lead({"FirstName": f"F{i}"}) for i in range(10)))
    assert all(isinstance(r, lsq.LeadRejectedError) for r in results)
    assert len(calls) == 1
    assert client.stats().splits == 0
