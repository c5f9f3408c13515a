"""Batching end to end: routing, call sizes, per-row results checked against the fake's store."""

from __future__ import annotations

import uuid

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

from .conftest import MakeClient, gather_all


async def test_thousand_concurrent_creates_make_twenty_full_calls(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """1,000 concurrent creates go out as exactly 20 calls of 50, each caller getting its own id."""
    client = await make_client()
    emails = [f"lead{i}@example.com" for i in range(1000)]
    results = await gather_all(*(client.create_lead({"EmailAddress": e}) for e in emails))

    assert fake.ledger.rows_per_call("Lead/Bulk/Create") == [50] * 20
    for email, result in zip(emails, results, strict=True):
        assert isinstance(result, lsq.LeadCreated)
        assert fake.store.get(result.lead_id)["EmailAddress"] == email  # type: ignore[index]
    assert client.stats().endpoints["Lead/Bulk/Create"] == lsq.EndpointStats(calls=20, rows=1000)


async def _seed(client: lsq.LeadSquaredClient, count: int) -> list[str]:
    results = await gather_all(
        *(
            client.create_lead({"EmailAddress": f"seed{i}@example.com", "Phone": f"90000{i:05d}"})
            for i in range(count)
        )
    )
    return [r.lead_id for r in results]


async def test_upserts_route_group_and_answer_per_row(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """200 upserts: 25-row calls; existing leads updated, new ones created, collisions rejected."""
    client = await make_client()
    ids = await _seed(client, 120)
    fake.ledger.clear()
    ops = []
    for i in range(200):
        if i < 100:  # existing, matched by email in another letter case
            ops.append({"EmailAddress": f"SEED{i}@example.com", "mx_City": "Pune"})
        elif i < 190:  # new
            ops.append({"EmailAddress": f"new{i}@example.com", "mx_City": "Goa"})
        else:  # matches seed lead k by email, but asks for the phone of seed lead k + 10
            k = i - 90
            ops.append({"EmailAddress": f"seed{k}@example.com", "Phone": f"90000{k + 10:05d}"})
    results = await gather_all(*(client.upsert_lead(f) for f in ops))

    sizes = fake.ledger.rows_per_call("Lead/Bulk/CreateOrUpdate")
    assert sum(sizes) == 200
    assert max(sizes) == 25
    assert len(sizes) <= 9  # 8 full calls, at most one more for rows held back by ordering
    for i, result in enumerate(results):
        if i < 100:
            assert result == lsq.LeadUpserted(ids[i], created=False, updated=True)
            assert fake.store.get(ids[i])["mx_City"] == "Pune"  # type: ignore[index]
        elif i < 190:
            assert isinstance(result, lsq.LeadUpserted)
            assert result.created
            assert fake.store.get(result.lead_id)["EmailAddress"] == f"new{i}@example.com"  # type: ignore[index]
        else:
            assert isinstance(result, lsq.LeadRejectedError)
            assert result.exception_type == "MXDuplicateEntryException"
            assert fake.store.get(ids[i - 90])["Phone"] == f"90000{i - 90:05d}"  # type: ignore[index]
    assert fake.store.duplicates() == []


async def test_updates_route_group_and_answer_per_row(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """200 v2 updates: 25-row calls; existing leads updated, missing ones LeadNotFoundError."""
    client = await make_client()
    ids = await _seed(client, 180)
    fake.ledger.clear()
    results = await gather_all(
        *(
            client.update_lead({"EmailAddress": f"seed{i}@example.com", "mx_City": f"C{i}"})
            for i in range(200)
        )
    )
    assert fake.ledger.rows_per_call("Lead/Bulk/UpdateV2") == [25] * 8
    for i, result in enumerate(results):
        if i < 180:
            assert result == lsq.LeadUpdated("EmailAddress", f"seed{i}@example.com")
            assert fake.store.get(ids[i])["mx_City"] == f"C{i}"  # type: ignore[index]
        else:
            assert isinstance(result, lsq.LeadNotFoundError)


async def test_field_updates_group_by_attribute_and_value(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """200 single-field updates with four values: one 50-row call per value; counts honoured."""
    client = await make_client()
    ids = await _seed(client, 150)
    missing = [str(uuid.uuid4()) for _ in range(50)]
    fake.ledger.clear()
    targets = ids + missing
    values = ["A", "B", "C", "D"]
    results = await gather_all(
        *(client.update_field(targets[i], "mx_Tier", values[i // 50]) for i in range(200))
    )
    sizes = [e.rows for e in fake.ledger.entries if e.endpoint == "Lead/Bulk/Update"]
    assert sizes == [50, 50, 50, 50]
    for i, result in enumerate(results):
        if i < 150:
            assert result == lsq.FieldUpdated(targets[i], "mx_Tier", True, 50, 50)
            assert fake.store.get(targets[i])["mx_Tier"] == values[i // 50]  # type: ignore[index]
        else:
            assert isinstance(result, lsq.LeadNotFoundError)


async def test_field_update_count_short_of_the_call_is_not_confirmed(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """When AffectedRows is short of the call, no row of it is claimed as confirmed."""
    client = await make_client()
    ids = await _seed(client, 3)
    results = await gather_all(
        *(client.update_field(i, "mx_Tier", "A") for i in [*ids, str(uuid.uuid4())])
    )
    assert all(isinstance(r, lsq.FieldUpdated) and not r.confirmed for r in results)
    assert {r.affected_rows for r in results} == {3}


async def test_update_by_id_batches_through_update_v2(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """update_lead_by_id without automations rides UpdateV2 matched by ProspectId."""
    client = await make_client()
    ids = await _seed(client, 30)
    fake.ledger.clear()
    results = await gather_all(*(client.update_lead_by_id(i, {"mx_City": "Goa"}) for i in ids))
    assert fake.ledger.rows_per_call("Lead/Bulk/UpdateV2") == [25, 5]
    assert results == [lsq.LeadUpdated("ProspectId", i, i) for i in ids]
    assert all(fake.store.get(i)["mx_City"] == "Goa" for i in ids)  # type: ignore[index]


async def test_post_updated_lead_goes_alone_through_lead_update(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """post_updated_lead=True sends one Lead.Update per lead so automations fire."""
    client = await make_client()
    ids = await _seed(client, 3)
    fake.ledger.clear()
    missing = str(uuid.uuid4())
    results = await gather_all(
        *(client.update_lead_by_id(i, {"mx_City": "X"}, post_updated_lead=True) for i in ids),
        client.update_lead_by_id(missing, {"mx_City": "X"}, post_updated_lead=True),
    )
    assert results[:3] == [lsq.LeadUpdated("ProspectId", i, i) for i in ids]
    assert isinstance(results[3], lsq.LeadNotFoundError)
    assert results[3].exception_type == "MXInvalidEntityException"
    entries = [e for e in fake.ledger.entries if e.endpoint == "Lead.Update"]
    assert len(entries) == 4
    assert all(e.post_updated_lead and e.rows == 1 for e in entries)


async def test_custom_field_sets_are_stored(fake: FakeLeadSquared, make_client: MakeClient) -> None:
    """A CustomFieldSet travels as an attribute with a Fields array and is stored."""
    client = await make_client()
    kyc = lsq.CustomFieldSet(fields={"Status": "Pending", "mx_CustomObject_2": 864563})
    result = await client.create_lead({"EmailAddress": "k@example.com", "mx_KYC": kyc})
    stored = fake.store.get(result.lead_id)
    assert stored is not None
    assert stored["mx_KYC"] == {
        "Value": "",
        "Fields": {"Status": "Pending", "mx_CustomObject_2": "864563"},
    }


async def test_same_lead_never_shares_a_call_and_keeps_order(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """Operations on one lead go in separate calls, applied in the order submitted."""
    client = await make_client()
    (lead_id,) = await _seed(client, 1)
    fake.ledger.clear()
    email = "seed0@example.com"
    results = await gather_all(
        client.upsert_lead({"EmailAddress": email, "mx_City": "1"}),
        client.update_field(lead_id, "mx_City", "2"),
        client.upsert_lead({"EmailAddress": email.upper(), "mx_City": "3"}),
        client.update_lead_by_id(lead_id, {"mx_City": "4"}),
        client.update_field(lead_id, "mx_City", "5"),
    )
    assert not any(isinstance(r, Exception) for r in results)
    assert fake.store.get(lead_id)["mx_City"] == "5"  # type: ignore[index]
    order = [(e.endpoint, e.rows) for e in fake.ledger.entries]
    assert order == [
        ("Lead/Bulk/CreateOrUpdate", 1),
        ("Lead/Bulk/Update", 1),
        ("Lead/Bulk/CreateOrUpdate", 1),
        ("Lead/Bulk/UpdateV2", 1),
        ("Lead/Bulk/Update", 1),
    ]


async def test_two_queued_updates_of_one_lead_merge_into_one_row(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """Two queued update_lead calls for one lead become one row; both callers get its result."""
    client = await make_client()
    await _seed(client, 1)
    fake.ledger.clear()
    first, second = await gather_all(
        client.update_lead({"EmailAddress": "seed0@example.com", "mx_City": "A", "mx_X": "1"}),
        client.update_lead({"EmailAddress": "SEED0@example.com", "mx_City": "B"}),
    )
    assert first == second == lsq.LeadUpdated("EmailAddress", "SEED0@example.com")
    assert fake.ledger.rows_per_call("Lead/Bulk/UpdateV2") == [1]
    stored = fake.store.find_by_email("seed0@example.com")
    assert stored is not None
    assert (stored["mx_City"], stored["mx_X"]) == ("B", "1")


async def test_stats_count_calls_rows_and_mean(make_client: MakeClient) -> None:
    """stats() reports calls and rows per endpoint and the mean rows per call."""
    client = await make_client()
    await gather_all(*(client.create_lead({"FirstName": f"F{i}"}) for i in range(75)))
    stats = client.stats()
    assert stats.endpoints["Lead/Bulk/Create"].calls == 2
    assert stats.rows == 75
    assert stats.mean_rows_per_call == 37.5
    assert (stats.pending, stats.in_flight, stats.rate_limited) == (0, 0, 0)
