"""Activities end to end on virtual time: batching, per-row answers, budgets, roads, checks.

Every test runs on ``vtime.VirtualTimeLoop`` against the in-process fake, whose store keeps
each lead's activities, so nothing sleeps and every run takes the same course.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import (
    BULK_ENDPOINTS,
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    LEAD_ENDPOINTS,
    FaultPlan,
)

from .conftest import MakeClient
from .lookups_support import CLIENT, Recording, fake, rows, seed

pytestmark = [pytest.mark.vtime, pytest.mark.client_options(**CLIENT)]

BY_ID = "ProspectActivity.svc/Bulk/CustomActivity/Add/ByLeadId"
BY_FIELD = "ProspectActivity.svc/Bulk/CustomActivity/Add/ByLeadField"
CREATE = "ProspectActivity.svc/Create"
AT = dt.datetime(2024, 5, 6, 12, 30, 15, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
MISSING = str(uuid.UUID(int=7, version=4))


async def test_200_concurrent_activities_make_8_full_calls_each_caller_its_own_id(
    make_client: MakeClient,
) -> None:
    """200 post_activity on distinct leads: 8 calls of 25; a missing lead fails its caller only."""
    service = fake()
    ids = [*seed(service, 199), MISSING]
    async with await make_client(service) as c:
        posted = await asyncio.gather(
            *(
                c.post_activity(lead_id, event=201, note=f"n{n}", fields={"mx_Custom_1": n}, at=AT)
                for n, lead_id in enumerate(ids)
            ),
            return_exceptions=True,
        )
    assert service.ledger.rows_per_call(BY_ID) == [25] * 8
    assert isinstance(posted[-1], lsq.LeadNotFoundError)
    for n, (lead_id, result) in enumerate(zip(ids[:-1], posted, strict=False)):
        assert isinstance(result, lsq.ActivityPosted)
        (stored,) = service.store.activities(lead_id)
        assert stored == {
            "ProspectActivityId": result.activity_id,
            "RelatedProspectId": lead_id,
            "ActivityEvent": 201,
            "ActivityNote": f"n{n}",
            "ActivityDateTime": "2024-05-06 07:00:15",  # UTC
            "Fields": {"mx_Custom_1": str(n)},
        }
    assert service.store.activity_count() == 199


async def test_activities_by_a_unique_field_are_grouped_by_search_key(
    make_client: MakeClient,
) -> None:
    """By email and by phone: ByLeadField calls, one searchBy each, each caller its own id."""
    service = fake()
    ids = seed(service, 30)
    recording = Recording(service.transport())
    async with await make_client(recording) as c:
        by_email = [
            c.post_activity(email=f"LEAD{n}@example.com", event=202, at=AT) for n in range(20)
        ]
        by_phone = [c.post_activity(phone=f"98{n:08d}", event=203, at=AT) for n in range(20, 30)]
        posted = await asyncio.gather(*by_email, *by_phone)
    assert rows(service, BY_FIELD) == [20, 10]
    assert [q["searchBy"] for q in recording.queries(BY_FIELD)] == ["EmailAddress", "Phone"]
    for lead_id, result in zip(ids, posted, strict=True):
        (stored,) = service.store.activities(lead_id)
        assert stored["ProspectActivityId"] == result.activity_id
    unknown = recording.bodies(BY_FIELD)[0][0]
    assert unknown["SearchByValue"] == "LEAD0@example.com"
    assert "RelatedProspectId" not in unknown


async def test_bulk_activity_calls_pass_the_bulk_budget_on_both_sides(
    make_client: MakeClient,
) -> None:
    """The fake counts them in its bulk budget; a client that knows it spaces them."""
    bulk = lsq.RateLimit(1, 5.0)
    unaware = fake(bulk_rate_limit=bulk)
    ids = seed(unaware, 50)
    async with await make_client(unaware, spill="none") as c:
        await asyncio.gather(*(c.post_activity(i, event=201, at=AT) for i in ids))
    learned = unaware.ledger.rate_limited(budget="bulk")
    aware = fake(bulk_rate_limit=bulk)
    ids = seed(aware, 75)
    async with await make_client(aware, bulk_rate_limit=bulk, spill="none") as c:
        await asyncio.gather(*(c.post_activity(i, event=201, at=AT) for i in ids))
    rejected = aware.ledger.rate_limited()
    times = aware.ledger.times(BY_ID)
    assert learned == 1
    assert rejected == 0
    assert len(times) == 3
    assert times[1] - times[0] >= 5.0
    assert times[2] - times[1] >= 5.0


async def test_a_lone_activity_by_id_takes_the_single_road_when_the_bulk_budget_is_far(
    make_client: MakeClient,
) -> None:
    """With the bulk grant 5 s away, an interactive activity by id goes by Create at once."""
    service = fake(bulk_rate_limit=lsq.RateLimit(1, 5.0))
    (lead_id,) = seed(service, 1)
    loop = asyncio.get_running_loop()
    async with await make_client(service, bulk_rate_limit=lsq.RateLimit(1, 5.0)) as c:
        await c.create_lead({"FirstName": "spends the bulk grant"})
        asked = loop.time()
        posted = await c.post_activity(lead_id, event=204, note="alone", at=AT)
        assert loop.time() - asked < 1.0
    (stored,) = service.store.activities(lead_id)
    assert stored["ProspectActivityId"] == posted.activity_id
    assert stored["ActivityNote"] == "alone"
    assert service.ledger.entries[-1].endpoint == CREATE


async def test_activities_are_not_resent_once_they_may_have_been_applied(
    make_client: MakeClient,
) -> None:
    """A dropped answer after the service applied the call: OutcomeUnknownError, one call."""
    service = fake()
    ids = seed(service, 3)
    service.set_faults(FaultPlan(drop_after=1.0), BY_ID)
    async with await make_client(service) as c:
        outcomes = await asyncio.gather(
            *(c.post_activity(i, event=201, at=AT) for i in ids), return_exceptions=True
        )
    for outcome in outcomes:
        assert isinstance(outcome, lsq.OutcomeUnknownError)
        assert not outcome.safe_to_resend
    assert service.ledger.calls(BY_ID) == 1
    assert service.store.activity_count() == 3  # applied once, never twice


async def test_activities_of_one_lead_share_a_call_and_wait_for_its_earlier_writes(
    make_client: MakeClient,
) -> None:
    """25 activities of one lead ride one call; one after create_lead by email finds the lead."""
    service = fake()
    (lead_id,) = seed(service, 1)
    async with await make_client(service) as c:
        posted = await asyncio.gather(
            *(c.post_activity(lead_id, event=201, note=str(n), at=AT) for n in range(25))
        )
        created = asyncio.ensure_future(c.create_lead({"EmailAddress": "new@example.com"}))
        after = asyncio.ensure_future(c.post_activity(email="new@example.com", event=205))
        new_id = (await created).lead_id
        await after
    assert service.ledger.rows_per_call(BY_ID) == [25]
    assert len({p.activity_id for p in posted}) == 25
    assert [a["ActivityEvent"] for a in service.store.activities(new_id)] == [205]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        pytest.param({"lead_id": MISSING, "event": "201"}, "event", id="event-str"),
        pytest.param({"lead_id": MISSING, "event": True}, "event", id="event-bool"),
        pytest.param({"lead_id": MISSING, "event": 0}, "event", id="event-zero"),
        pytest.param({"lead_id": MISSING, "event": 201, "note": 5}, "note", id="note-int"),
        pytest.param(
            {"lead_id": MISSING, "event": 201, "note": "x" * 32_001}, "note", id="note-long"
        ),
        pytest.param(
            {"lead_id": MISSING, "event": 201, "at": dt.datetime(2024, 1, 1)}, "at", id="naive"
        ),
        pytest.param(
            {"lead_id": MISSING, "event": 201, "at": dt.date(2024, 1, 1)}, "at", id="date"
        ),
        pytest.param(
            {"lead_id": MISSING, "event": 201, "fields": {"mx_A": float("nan")}},
            "mx_A",
            id="field-nan",
        ),
        pytest.param(
            {"lead_id": MISSING, "event": 201, "fields": {"mx_A": {"B": "c"}}},
            "mx_A",
            id="field-set",
        ),
        pytest.param({"event": 201}, "lead_id", id="no-lead"),
        pytest.param(
            {"lead_id": MISSING, "email": "a@x.com", "event": 201}, "lead_id", id="two-leads"
        ),
        pytest.param({"lead_id": "nope", "event": 201}, "lead_id", id="bad-id"),
        pytest.param({"email": "not an email", "event": 201}, "email", id="bad-email"),
    ],
)
async def test_bad_activities_are_refused_at_the_call(
    arguments: dict[str, Any], field: str, make_client: MakeClient
) -> None:
    """Each malformed activity raises ValidationError naming its argument; nothing is sent."""
    service = fake()
    async with await make_client(service) as c:
        with pytest.raises(lsq.ValidationError) as caught:
            await c.post_activity(**arguments)
    assert caught.value.field == field
    assert len(service.ledger) == 0


async def test_the_fake_serves_activities_as_bulk_lead_endpoints_with_per_row_errors() -> None:
    """Bulk activity APIs pass the bulk budget and faults; rows fail alone; admin lists them."""
    service = fake()
    (lead_id,) = seed(service, 1)
    keys = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}
    row = {"ActivityEvent": 201, "ActivityDateTime": "2024-01-02 03:04:05"}
    async with httpx2.AsyncClient(
        transport=service.transport(), base_url="https://x/v2/", headers=keys
    ) as http:
        answer = await http.post(
            BY_ID,
            json=[{**row, "RelatedProspectId": lead_id}, {**row, "RelatedProspectId": MISSING}],
        )
        too_many = await http.post(BY_ID, json=[{**row, "RelatedProspectId": lead_id}] * 26)
        by_field = await http.post(BY_FIELD, json=[{**row, "SearchByValue": "x@y.z"}])
        single = await http.post(CREATE, json={**row, "EmailAddress": "made@example.com"})
        listed = await http.get(f"https://x/_fake/leads/{lead_id.upper()}/activities")
    first, second = answer.json()["Response"]
    assert first["RowNumber"] == 1
    assert "ProspectActivityId" in first
    assert second["RowNumber"] == 2
    assert second["ExceptionType"] == "MXInvalidEntityException"
    assert "ProspectActivityId" not in second
    assert too_many.status_code == 400
    assert by_field.status_code == 400  # the searchBy parameter is missing
    made = service.store.find_by_email("made@example.com")
    assert made is not None
    assert (
        single.json()["Message"]["Id"]
        == service.store.activities(str(made["ProspectID"]))[0]["ProspectActivityId"]
    )
    assert listed.json()["count"] == 1
    assert {BY_ID, BY_FIELD} <= BULK_ENDPOINTS
    assert CREATE not in BULK_ENDPOINTS
    assert {BY_ID, BY_FIELD, CREATE} <= LEAD_ENDPOINTS


async def test_a_phone_lookup_matching_several_leads_answers_the_one_with_the_latest_activity(
    make_client: MakeClient,
) -> None:
    """RetrieveLeadByPhoneNumber matches Phone and Mobile; the latest activity decides."""
    service = fake()
    by_phone = service.store.insert({"FirstName": "P", "Phone": "9800000001"})
    by_mobile = service.store.insert({"FirstName": "M", "Mobile": "98000-00001"})
    async with await make_client(service) as c:
        await c.post_activity(by_mobile, event=201, at=AT)
        first = await c.find_lead(phone="9800000001")
        await c.post_activity(by_phone, event=201, at=AT + dt.timedelta(days=1))
        await c.post_activity(by_mobile, event=201, at=AT - dt.timedelta(days=1))
        second = await c.find_lead(phone="9800000001")
    assert first is not None
    assert first.lead_id == by_mobile
    assert second is not None
    assert second.lead_id == by_phone
