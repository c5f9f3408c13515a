"""Lookups end to end on virtual time: coalescing, paging, merging, order with writes, retries.

Every test runs on ``vtime.VirtualTimeLoop`` against the in-process fake (its store and ledger
checked afterwards), so nothing sleeps and every run takes the same course.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

from .conftest import MakeClient
from .lookups_support import CLIENT, Recording, fake, rows, seed

pytestmark = [pytest.mark.vtime, pytest.mark.client_options(**CLIENT)]

BY_IDS = "Leads/Retrieve/ByIds"
ANY_ID = str(uuid.UUID(int=1, version=4))


async def test_300_concurrent_get_leads_share_one_call_each_caller_its_own_lead(
    make_client: MakeClient,
) -> None:
    """300 get_lead: one Retrieve/ByIds call; each caller its own lead, absent ids None."""
    service = fake()
    ids = seed(service, 250)
    absent = [str(uuid.UUID(int=n, version=4)) for n in range(1, 51)]
    async with await make_client(service) as c:
        leads = await asyncio.gather(*(c.get_lead(i) for i in ids + absent))
    assert rows(service, BY_IDS) == [300]
    assert len(service.ledger) == 1
    for n, (lead_id, lead) in enumerate(zip(ids, leads, strict=False)):
        assert isinstance(lead, lsq.Lead)
        assert lead.lead_id == lead_id
        assert lead.fields["FirstName"] == f"F{n}"
        assert lead.fields["EmailAddress"] == f"lead{n}@example.com"
    assert leads[250:] == [None] * 50


async def test_repeated_ids_are_asked_once_and_every_caller_answered(
    make_client: MakeClient,
) -> None:
    """100 lookups of 10 ids (any letter case) ask for each id once."""
    service = fake()
    ids = seed(service, 10)
    recording = Recording(service.transport())
    asked = [ids[n % 10].upper() if n % 2 else ids[n % 10] for n in range(100)]
    async with await make_client(recording) as c:
        leads = await asyncio.gather(*(c.get_lead(i) for i in asked))
    (body,) = recording.bodies(BY_IDS)
    assert sorted(body["SearchParameters"]["LeadIds"]) == sorted(ids)
    assert [lead.lead_id for lead in leads if lead] == [ids[n % 10] for n in range(100)]


async def test_a_lone_get_lead_goes_by_get_by_id_with_the_same_fields(
    make_client: MakeClient,
) -> None:
    """One lookup takes Leads.GetById (a GET, no body); its fields are the batched ones."""
    service = fake()
    ids = seed(service, 2)
    service.store.update(ids[0], {"mx_City": "Pune"})
    recording = Recording(service.transport())
    async with await make_client(recording) as c:
        alone = await c.get_lead(ids[0])
        both = await asyncio.gather(*(c.get_lead(i) for i in ids))
    (request,) = [r for r in recording.requests if r.url.path.endswith("Leads.GetById")]
    assert request.method == "GET"
    assert request.content == b""
    assert request.url.params["id"] == ids[0]
    assert alone == both[0]
    assert alone is not None
    assert "mx_City" not in alone.fields  # not among the default columns
    assert [e.endpoint for e in service.ledger.entries] == ["Leads.GetById", BY_IDS]


async def test_pages_short_of_the_ids_send_the_rest_in_further_calls(
    make_client: MakeClient,
) -> None:
    """Pages of 100 for 300 ids: three calls, each asking for the ids not yet answered."""
    service = fake(page_size_limit=100)
    ids = seed(service, 260)
    absent = [str(uuid.UUID(int=n, version=4)) for n in range(1, 41)]
    async with await make_client(service) as c:
        leads = await asyncio.gather(*(c.get_lead(i) for i in ids + absent))
    assert rows(service, BY_IDS) == [300, 200, 100]
    assert [lead.lead_id for lead in leads[:260] if lead] == ids
    assert leads[260:] == [None] * 40


async def test_columns_come_from_the_client_setting_or_the_call(make_client: MakeClient) -> None:
    """Include_CSV is lead_columns (ProspectID added); a call may ask for others."""
    service = fake()
    (lead_id, other) = seed(service, 2)
    service.store.update(lead_id, {"mx_City": "Pune", "mx_Score": "12.50"})
    recording = Recording(service.transport())
    async with await make_client(recording, lead_columns="FirstName, mx_City, mx_Stage") as c:
        lead, _ = await asyncio.gather(c.get_lead(lead_id), c.get_lead(other))
        scored = await c.get_lead(lead_id, columns=["mx_Score"])
    csv = recording.bodies(BY_IDS)[0]["Columns"]["Include_CSV"]
    assert csv == "ProspectID,FirstName,mx_City,mx_Stage"
    assert lead is not None
    assert dict(lead.fields) == {"ProspectID": lead_id, "FirstName": "F0", "mx_City": "Pune"}
    assert scored is not None
    assert dict(scored.fields) == {"ProspectID": lead_id, "mx_Score": "12.50"}


@pytest.mark.parametrize(
    ("asked", "path", "parameter"),
    [
        pytest.param(
            [{"email": "Lead7@Example.COM"}, {"email": " lead7@example.com"}],
            "Leads.GetByEmailaddress",
            ("emailaddress", "Lead7@Example.COM"),
            id="email",
        ),
        pytest.param(
            [{"phone": "98-0000 0007"}, {"phone": "9800000007"}],
            "RetrieveLeadByPhoneNumber",
            ("phone", "9800000007"),
            id="phone",
        ),
    ],
)
async def test_50_identical_find_leads_share_one_call(
    asked: list[dict[str, str]], path: str, parameter: tuple[str, str], make_client: MakeClient
) -> None:
    """50 find_lead of one lead (email without case, phone on its digits): one call."""
    service = fake()
    ids = seed(service, 10)
    recording = Recording(service.transport())
    async with await make_client(recording) as c:
        leads = await asyncio.gather(*(c.find_lead(**asked[n % 2]) for n in range(50)))
    assert [e.endpoint for e in service.ledger.entries] == [path]
    (query,) = recording.queries(path)
    assert query[parameter[0]] == parameter[1]
    assert {lead.lead_id for lead in leads if lead} == {ids[7]}
    assert all(lead is not None for lead in leads)


async def test_find_lead_answers_none_when_no_lead_matches(make_client: MakeClient) -> None:
    """An unknown email or phone is None, not an error."""
    service = fake()
    seed(service, 3)
    async with await make_client(service) as c:
        assert await c.find_lead(email="nobody@example.com") is None
        assert await c.find_lead(phone="+91 11111 11111") is None


async def test_a_lookup_after_a_write_of_the_same_lead_sees_it(make_client: MakeClient) -> None:
    """update then lookup of one lead, submitted back to back: the lookup sees the update."""
    service = fake()
    (lead_id,) = seed(service, 1)
    async with await make_client(service, linger=0.05) as c:
        update = asyncio.ensure_future(c.update_lead_by_id(lead_id, {"FirstName": "New"}))
        by_email = asyncio.ensure_future(
            c.update_lead({"EmailAddress": "lead0@example.com", "mx_City": "Goa"})
        )
        lookup = asyncio.ensure_future(c.get_lead(lead_id, columns=["FirstName"]))
        found = asyncio.ensure_future(c.find_lead(email="LEAD0@example.com"))
        await asyncio.gather(update, by_email)
        lead, by_mail = await lookup, await found
    assert lead is not None
    assert lead.fields["FirstName"] == "New"
    assert by_mail is not None
    assert by_mail.fields["mx_City"] == "Goa"
    endpoints = [e.endpoint for e in service.ledger.entries]
    assert endpoints.index("Leads.GetById") > 0
    assert endpoints.index("Leads.GetByEmailaddress") > endpoints.index("Lead/Bulk/UpdateV2")


async def test_lookups_pass_the_general_budget_only(make_client: MakeClient) -> None:
    """With a bulk budget of 1 call per 5 s, 30 lookups one by one never wait for it."""
    service = fake(bulk_rate_limit=lsq.RateLimit(1, 5.0))
    ids = seed(service, 30)
    loop = asyncio.get_running_loop()
    async with await make_client(service, bulk_rate_limit=lsq.RateLimit(1, 5.0)) as c:
        await c.create_lead({"FirstName": "spends the bulk grant"})
        started = loop.time()
        for lead_id in ids:
            assert await c.get_lead(lead_id) is not None
        result = loop.time() - started
    assert result < 1.0


async def test_lookups_are_retried_after_system_errors_like_idempotent_calls(
    make_client: MakeClient,
) -> None:
    """A 503 and a dropped answer on a lookup: resent, and every caller gets its lead."""
    service = fake()
    ids = seed(service, 40)
    failures = [httpx2.Response(503, text="<html>busy</html>"), httpx2.ReadError("dropped")]
    inner = service.transport()

    class Flaky(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if failures:
                failure = failures.pop(0)
                if isinstance(failure, Exception):
                    raise failure
                return failure
            return await inner.handle_async_request(request)

    async with await make_client(Flaky()) as c:
        leads = await asyncio.gather(*(c.get_lead(i) for i in ids))
        assert c.stats().retries == 2
    assert [lead.lead_id for lead in leads if lead] == ids


async def test_a_page_that_never_reaches_a_row_ends_it_after_max_retries(
    make_client: MakeClient,
) -> None:
    """An answer claiming more records than it ever holds: ResponseMismatchError, no loop."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"RecordCount": 5, "Leads": []})

    ids = [str(uuid.UUID(int=n, version=4)) for n in range(1, 4)]
    async with await make_client(httpx2.MockTransport(handler), max_retries=2) as c:
        outcomes = await asyncio.gather(*(c.get_lead(i) for i in ids), return_exceptions=True)
        assert c.stats().endpoints[BY_IDS].calls == 3
    assert all(isinstance(o, lsq.ResponseMismatchError) for o in outcomes)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(lambda c: c.get_lead("not-a-guid"), "lead_id", id="bad-id"),
        pytest.param(lambda c: c.get_lead(ANY_ID, columns=["A,B"]), "columns", id="comma"),
        pytest.param(lambda c: c.find_lead(), "email", id="neither"),
        pytest.param(lambda c: c.find_lead(email="a@x.com", phone="1"), "email", id="both"),
        pytest.param(lambda c: c.find_lead(email="not an email"), "email", id="bad-email"),
        pytest.param(lambda c: c.find_lead(phone="call me"), "phone", id="bad-phone"),
    ],
)
async def test_bad_lookups_are_refused_at_the_call(
    call: object, field: str, make_client: MakeClient
) -> None:
    """A malformed lookup raises ValidationError naming the argument; nothing is sent."""
    service = fake()
    async with await make_client(service) as c:
        with pytest.raises(lsq.ValidationError) as caught:
            await call(c)  # type: ignore[operator]
    assert caught.value.field == field
    assert len(service.ledger) == 0


async def test_the_fake_answers_leads_as_strings_in_shuffled_order() -> None:
    """Retrieve/ByIds: strings, null for a missing column, shuffled Leads, RecordCount."""
    service: FakeLeadSquared = fake()
    ids = seed(service, 20)
    service.store.update(ids[0], {"mx_KYC": {"Value": "done", "Fields": {"Status": "ok"}}})
    body = {
        "SearchParameters": {"LeadIds": [*ids, str(uuid.uuid4())]},
        "Columns": {"Include_CSV": "ProspectID, FirstName, mx_KYC, mx_Missing, CreatedOn"},
        "Paging": {"PageIndex": 1, "PageSize": 1000},
    }
    async with httpx2.AsyncClient(transport=service.transport()) as http:
        answer = await http.post(
            "https://x/v2/LeadManagement.svc/Leads/Retrieve/ByIds",
            json=body,
            headers={"x-LSQ-AccessKey": service.access_key, "x-LSQ-SecretKey": "x"},
        )
        assert answer.status_code == 401
        answer = await http.post(
            "https://x/v2/LeadManagement.svc/Leads/Retrieve/ByIds",
            json=body,
            headers=_keys(),
        )
        missing = await http.post(
            "https://x/v2/LeadManagement.svc/Leads/Retrieve/ByIds",
            json={**body, "Columns": {}},
            headers=_keys(),
        )
        empty = await http.get(
            "https://x/v2/LeadManagement.svc/Leads.GetById",
            params={"id": str(uuid.uuid4())},
            headers=_keys(),
        )
    data = answer.json()
    assert data["RecordCount"] == 20
    returned = [lead["ProspectID"] for lead in data["Leads"]]
    assert sorted(returned) == sorted(ids)
    assert returned != ids
    first = next(lead for lead in data["Leads"] if lead["ProspectID"] == ids[0])
    assert first["mx_KYC"] == "done"
    assert first["mx_Missing"] is None
    assert all(isinstance(v, str) for v in first.values() if v is not None)
    assert missing.status_code == 400
    assert empty.json() == []


def _keys() -> dict[str, str]:
    from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY

    return {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}


def test_lead_helpers_read_typed_values_only_when_asked() -> None:
    """Fields stay strings; datetime/date/decimal/integer/boolean parse one field on demand."""
    lead = lsq.Lead(
        ANY_ID,
        {
            "CreatedOn": "2017-11-30 07:40:18.000",
            "mx_Seen": "2024-01-02T03:04:05+05:30",
            "mx_Zulu": "2024-01-02T03:04:05Z",
            "mx_Day": "2024-01-02",
            "mx_Amount": "12.50",
            "mx_Count": "42",
            "mx_Whole": "7.0",
            "DoNotEmail": "1",
            "mx_Flag": "False",
            "mx_Empty": " ",
            "mx_Text": "soon",
        },
    )
    utc = dt.UTC
    assert lead.fields["mx_Amount"] == "12.50"
    assert lead.datetime("CreatedOn") == dt.datetime(2017, 11, 30, 7, 40, 18, tzinfo=utc)
    assert lead.datetime("createdon") == lead.datetime("CreatedOn")  # any letter case
    assert lead.datetime("mx_Seen") == dt.datetime(2024, 1, 1, 21, 34, 5, tzinfo=utc)
    assert lead.datetime("mx_Zulu") == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=utc)
    assert lead.date("mx_Day") == dt.date(2024, 1, 2)
    assert lead.decimal("mx_Amount") == Decimal("12.50")
    assert lead.integer("mx_Count") == 42
    assert lead.integer("mx_Whole") == 7
    assert lead.boolean("DoNotEmail") is True
    assert lead.boolean("mx_Flag") is False
    for read in (lead.datetime, lead.decimal, lead.integer, lead.boolean):
        assert read("mx_Empty") is None
        assert read("mx_Absent") is None
        with pytest.raises(ValueError, match="mx_Text"):
            read("mx_Text")
    with pytest.raises(ValueError, match="whole number"):
        lead.integer("mx_Amount")
    assert lead.get("MX_TEXT") == "soon"
    assert lead.get("mx_Absent", "-") == "-"


def test_lead_columns_come_from_the_environment_and_bad_ones_name_the_variable() -> None:
    """LSQ_LEAD_COLUMNS sets lead_columns (ProspectID first); an empty name is refused."""
    keys = {"LSQ_ACCESS_KEY": "a", "LSQ_SECRET_KEY": "s"}
    settings = lsq.Settings.from_env({**keys, "LSQ_LEAD_COLUMNS": "FirstName, mx_City"})
    assert settings.lead_columns == ("ProspectID", "FirstName", "mx_City")
    assert lsq.Settings("a", "s").lead_columns[0] == "ProspectID"
    with pytest.raises(lsq.ValidationError) as caught:
        lsq.Settings.from_env({**keys, "LSQ_LEAD_COLUMNS": "FirstName,,mx_City"})
    assert caught.value.field == "LSQ_LEAD_COLUMNS"
