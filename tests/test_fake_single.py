"""The fake's single-lead writes: Lead.Create, Lead.CreateOrUpdate and Lead.Update."""

from __future__ import annotations

import httpx2
import pytest

from leadsq_async.testing import (
    BULK_ENDPOINTS,
    ENDPOINTS,
    LEAD_ENDPOINTS,
    FakeLeadSquared,
    FaultPlan,
    Limit,
)

from .fake_support import GUID, LM, Clock, av, client

CREATE = LM + "Lead.Create"
UPSERT = LM + "Lead.CreateOrUpdate"
NO_POST = {"postUpdatedLead": "false"}


def error(exception_type: str, message: str) -> dict[str, str]:
    """The service's error envelope."""
    return {"Status": "Error", "ExceptionType": exception_type, "ExceptionMessage": message}


def test_the_single_lead_writes_are_lead_endpoints_not_bulk_ones() -> None:
    """Lead.Create and Lead.CreateOrUpdate are served, faultable, and not bulk APIs."""
    for name in ("Lead.Create", "Lead.CreateOrUpdate", "Lead.Update"):
        assert name in ENDPOINTS
        assert name in LEAD_ENDPOINTS
        assert name not in BULK_ENDPOINTS


async def test_lead_create_answers_the_new_id() -> None:
    """Lead.Create takes one row's pairs and answers {"Status":"Success","Message":{"Id":...}}."""
    fake = FakeLeadSquared()
    kyc = {"Attribute": "mx_KYC", "Value": "", "Fields": [av("Status", "Pending")]}
    body = [av("EmailAddress", "Ann@Example.com"), av("FirstName", "Ann"), kyc]
    async with client(fake) as c:
        r = await c.post(CREATE, json=[*body, av("SearchBy", "EmailAddress")])
    assert r.status_code == 200
    answer = r.json()
    assert answer == {"Status": "Success", "Message": {"Id": answer["Message"]["Id"]}}
    lead_id = answer["Message"]["Id"]
    assert GUID.match(lead_id)
    lead = fake.store.get(lead_id)
    assert lead is not None
    assert lead["FirstName"] == "Ann"
    assert lead["mx_KYC"] == {"Value": "", "Fields": {"Status": "Pending"}}
    assert "SearchBy" not in lead
    entry = fake.ledger.entries[0]
    assert (entry.endpoint, entry.rows, entry.applied, entry.status) == (
        "Lead.Create",
        1,
        True,
        200,
    )


async def test_lead_create_refuses_duplicates_with_a_500() -> None:
    """A unique field owned by another lead: HTTP 500 MXDuplicateEntryException, nothing made."""
    fake = FakeLeadSquared()
    fake.store.insert({"EmailAddress": "ann@example.com", "Phone": "9000000001"})
    async with client(fake) as c:
        by_email = await c.post(CREATE, json=[av("EmailAddress", "ANN@example.com")])
        by_phone = await c.post(
            CREATE, json=[av("EmailAddress", "bob@example.com"), av("Phone", "9000000001")]
        )
    for r, field in ((by_email, "EmailAddress"), (by_phone, "Phone")):
        assert r.status_code == 500
        assert r.json() == error(
            "MXDuplicateEntryException", f"A lead with the same {field} already exists"
        )
    assert fake.store.count() == 1
    assert not any(e.applied for e in fake.ledger.entries)


@pytest.mark.parametrize(
    "body", [[av("mx_City", "Pune")], [], [av("FirstName", "  ")]], ids=["city", "empty", "blank"]
)
async def test_lead_create_without_name_email_or_phone_is_a_500(body: list[object]) -> None:
    """No FirstName, LastName, EmailAddress or Phone: HTTP 500 MXMandatoryAttributeMissing."""
    fake = FakeLeadSquared()
    async with client(fake) as c:
        r = await c.post(CREATE, json=body)
    assert r.status_code == 500
    assert r.json()["ExceptionType"] == "MXMandatoryAttributeMissingException"
    assert fake.store.count() == 0


async def test_lead_create_malformed_bodies_are_400s() -> None:
    """A body that is no list of pairs, or no JSON at all, is a 400 MXInvalidInputException."""
    fake = FakeLeadSquared()
    async with client(fake) as c:
        not_a_list = await c.post(CREATE, json={"EmailAddress": "a@example.com"})
        nested = await c.post(CREATE, json=[[av("EmailAddress", "a@example.com")]])
        not_json = await c.post(CREATE, content=b"{nope", headers={"content-type": "text/plain"})
        wrong_method = await c.get(CREATE)
    for r in (not_a_list, nested, not_json):
        assert r.status_code == 400
        assert r.json()["ExceptionType"] == "MXInvalidInputException"
    assert wrong_method.status_code == 405
    assert fake.store.count() == 0


async def test_lead_create_or_update_creates_then_updates_without_saying_which() -> None:
    """Both answers are {"Id", "AffectedRows": 1}; the match is by email, any case, then phone."""
    fake = FakeLeadSquared()
    async with client(fake) as c:
        created = await c.post(
            UPSERT, params=NO_POST, json=[av("EmailAddress", "ann@example.com"), av("Phone", "1")]
        )
        by_email = await c.post(
            UPSERT, params=NO_POST, json=[av("EmailAddress", "ANN@example.com"), av("mx_A", "x")]
        )
        by_phone = await c.post(UPSERT, json=[av("Phone", "1"), av("mx_B", "y")])
    lead_id = created.json()["Message"]["Id"]
    for r in (created, by_email, by_phone):
        assert r.status_code == 200
        assert r.json() == {"Status": "Success", "Message": {"Id": lead_id, "AffectedRows": 1}}
    assert fake.store.count() == 1
    lead = fake.store.get(lead_id)
    assert lead is not None
    assert (lead["mx_A"], lead["mx_B"]) == ("x", "y")
    assert [e.rows for e in fake.ledger.entries] == [1, 1, 1]


async def test_lead_create_or_update_search_by_and_its_errors() -> None:
    """SearchBy names the matching field; no key is a 500, a taken unique field a 500 too."""
    fake = FakeLeadSquared()
    pune = fake.store.insert({"FirstName": "P", "mx_City": "Pune"})
    fake.store.insert({"EmailAddress": "taken@example.com"})
    async with client(fake) as c:
        searched = await c.post(
            UPSERT,
            json=[av("mx_City", "PUNE"), av("LastName", "Q"), av("SearchBy", "mx_City")],
        )
        no_key = await c.post(UPSERT, json=[av("FirstName", "Nobody")])
        taken = await c.post(
            UPSERT,
            json=[
                av("mx_City", "Pune"),
                av("EmailAddress", "taken@example.com"),
                av("SearchBy", "mx_City"),
            ],
        )
    assert searched.json()["Message"] == {"Id": pune, "AffectedRows": 1}
    assert no_key.status_code == 500
    assert no_key.json()["ExceptionType"] == "MXMandatoryAttributeMissingException"
    assert taken.status_code == 500
    assert taken.json() == error(
        "MXDuplicateEntryException", "A lead with the same EmailAddress already exists"
    )
    lead = fake.store.get(pune)
    assert lead is not None
    assert (lead["LastName"], lead.get("EmailAddress")) == ("Q", None)
    assert fake.store.count() == 2


async def test_post_updated_lead_true_false_and_absent() -> None:
    """postUpdatedLead=true fires automations on an update; false and absent do not."""
    fake = FakeLeadSquared()
    lead_id = fake.store.insert({"EmailAddress": "ann@example.com"})
    change = [av("mx_A", "1")]
    async with client(fake) as c:
        for params in ({}, NO_POST, {"postUpdatedLead": "true"}):
            r = await c.post(LM + "Lead.Update", params={"leadId": lead_id, **params}, json=change)
            assert r.json() == {"Status": "Success", "Message": {"AffectedRows": 1}}
        assert fake.store.automations(lead_id) == 1
        email = [av("EmailAddress", "ann@example.com")]
        for params in ({}, NO_POST, {"postUpdatedLead": "TRUE"}):
            assert (await c.post(UPSERT, params=params, json=email)).status_code == 200
        new = [av("EmailAddress", "new@example.com")]
        created = await c.post(UPSERT, params={"postUpdatedLead": "true"}, json=new)
    assert fake.store.automations(lead_id) == 2
    assert fake.store.automations(created.json()["Message"]["Id"]) == 0  # created, not updated
    flags = [e.post_updated_lead for e in fake.ledger.entries]
    assert flags == [False, False, True, False, False, True, True]


async def test_single_lead_writes_use_only_the_general_budget() -> None:
    """With the bulk budget spent they pass; a full general budget refuses them unapplied."""
    clock = Clock()
    fake = FakeLeadSquared(
        rate_limit=Limit(4, 5), bulk_rate_limit=Limit(1, 5), daily_quota=Limit(5, 100), clock=clock
    )
    bulk_body = [[av("EmailAddress", "bulk@example.com")]]
    async with client(fake) as c:
        assert (await c.post(LM + "Lead/Bulk/Create", json=bulk_body)).status_code == 200
        assert (await c.post(LM + "Lead/Bulk/Create", json=bulk_body)).status_code == 429
        created = await c.post(CREATE, json=[av("EmailAddress", "a@example.com")])
        upserted = await c.post(UPSERT, json=[av("EmailAddress", "b@example.com")])
        assert (created.status_code, upserted.status_code) == (200, 200)
        lead_id = created.json()["Message"]["Id"]
        update = await c.post(LM + "Lead.Update", params={"leadId": lead_id}, json=[av("A", "1")])
        assert update.status_code == 200
        refused = await c.post(CREATE, json=[av("EmailAddress", "c@example.com")])
        assert refused.status_code == 429
        assert refused.json()["ExceptionMessage"] == (
            "API calls exceeded the limit of 4 in 5 second(s)"
        )
        clock.now = 5.0
        assert (await c.post(UPSERT, json=[av("EmailAddress", "d@example.com")])).status_code == 200
        quota = await c.post(CREATE, json=[av("EmailAddress", "e@example.com")])
        assert quota.json()["ExceptionMessage"] == (
            "API calls exceeded the limit of 5 in 100 second(s)"
        )
    assert fake.store.find_by_email("c@example.com") is None
    assert fake.store.find_by_email("e@example.com") is None
    refusals = [(e.endpoint, e.budget) for e in fake.ledger.entries if e.rate_limited]
    assert refusals == [
        ("Lead/Bulk/Create", "bulk"),
        ("Lead.Create", "general"),
        ("Lead.Create", "quota"),
    ]


@pytest.mark.parametrize("endpoint", ["Lead.Create", "Lead.CreateOrUpdate"])
async def test_faults_apply_to_the_single_lead_writes(endpoint: str) -> None:
    """drop_before, drop_after, system_error and rate_limited hit them like other lead calls."""
    fake = FakeLeadSquared()
    url = LM + endpoint
    async with client(fake) as c:
        fake.set_faults(FaultPlan(drop_before=1.0), endpoint)
        with pytest.raises(httpx2.ConnectError):
            await c.post(url, json=[av("EmailAddress", "before@example.com")])
        fake.set_faults(FaultPlan(drop_after=1.0), endpoint)
        with pytest.raises(httpx2.RemoteProtocolError):
            await c.post(url, json=[av("EmailAddress", "after@example.com")])
        fake.set_faults(FaultPlan(system_error=1.0), endpoint)
        failed = await c.post(url, json=[av("EmailAddress", "error@example.com")])
        fake.set_faults(None, endpoint)  # the global plan applies again
        fake.set_faults(FaultPlan(rate_limited=1.0, rate_limited_as_200=1.0))
        limited = await c.post(url, json=[av("EmailAddress", "limited@example.com")])
    assert fake.store.find_by_email("before@example.com") is None
    assert fake.store.find_by_email("after@example.com") is not None
    assert failed.status_code in (500, 502, 503)
    assert fake.store.find_by_email("error@example.com") is None
    assert limited.status_code == 200
    assert limited.json()["ExceptionType"] == "MXAPIRateLimitExceededException"
    assert fake.store.count() == 1
    faults = [e.fault for e in fake.ledger.entries]
    assert faults == ["drop_before", "drop_after", "system_error", "rate_limited"]


@pytest.mark.parametrize("fault", ["omit_rows", "change_case"])
async def test_row_distorting_faults_leave_single_answers_alone(fault: str) -> None:
    """omit_rows and change_case do not apply to one-lead answers; the ledger says none hit."""
    fake = FakeLeadSquared(faults=FaultPlan(**{fault: 1.0}))
    async with client(fake) as c:
        created = await c.post(CREATE, json=[av("EmailAddress", "a@example.com")])
        upserted = await c.post(UPSERT, json=[av("EmailAddress", "a@example.com")])
    lead_id = created.json()["Message"]["Id"]
    assert lead_id == lead_id.lower()
    assert upserted.json() == {"Status": "Success", "Message": {"Id": lead_id, "AffectedRows": 1}}
    assert [e.fault for e in fake.ledger.entries] == [None, None]


async def test_poison_value_rejects_a_single_lead_write_whole() -> None:
    """A poison value in Lead.Create's body gets the whole-call rejection; nothing is made."""
    fake = FakeLeadSquared(poison_value="BOOM", poison_status=400)
    async with client(fake) as c:
        r = await c.post(CREATE, json=[av("EmailAddress", "a@example.com"), av("mx_X", "BOOM")])
    assert r.status_code == 400
    assert r.json() == error("MXInvalidInputException", "Invalid value for attribute mx_X")
    assert fake.store.count() == 0


async def test_single_lead_paths_ignore_case_and_a_trailing_slash() -> None:
    """The routes match case-insensitively, like the rest of the service's paths."""
    fake = FakeLeadSquared()
    async with client(fake) as c:
        r = await c.post(
            "/v2/leadmanagement.svc/LEAD.CREATEORUPDATE/", json=[av("Phone", "5550001")]
        )
    assert r.status_code == 200
    assert fake.ledger.entries[0].endpoint == "Lead.CreateOrUpdate"
