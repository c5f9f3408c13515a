"""The fake LeadSquared endpoints, driven with the reference pages' example bodies."""

from __future__ import annotations

import copy
from typing import Any

import httpx2
import pytest

from leadsq_async.testing import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    ENDPOINTS,
    FakeLeadSquared,
)

from .fake_support import GUID, LM, av, client

KYC = {
    "Attribute": "mx_KYC",
    "Value": "",
    "Fields": [
        av("Status", "Pending"),
        av("mx_CustomObject_1", "XYZ12345.png"),
        av("mx_CustomObject_2", "864563"),
    ],
}

# bulk-create.txt (note: both rows carry Phone 8888888888, so row 2 collides on Phone).
BULK_CREATE_BODY: list[list[dict[str, Any]]] = [
    [
        av("EmailAddress", "king@myleadsquared.com"),
        av("FirstName", "Martin Luther"),
        av("LastName", "King"),
        av("Phone", "8888888888"),
        av("mx_City", "New York"),
        KYC,
    ],
    [
        av("EmailAddress", "mkgandhi@myleadsquared.com"),
        av("FirstName", "Mahatma"),
        av("LastName", "Gandhi"),
        av("Phone", "8888888888"),
        av("mx_City", "Sabarmati"),
        KYC,
    ],
]

# bulk-create-or-update.txt
UPSERT_BODY = [
    [
        av("EmailAddress", f"email{i}@gmail.com"),
        av("FirstName", f"F{i}Name"),
        av("LastName", f"L{i}Name"),
        av("mx_City", f"C{i}Name"),
        av("Company", f"C{i}Company"),
        KYC,
        av("SearchBy", "EmailAddress"),
    ]
    for i in range(3)
]

# bulk-update-v2.txt
UPDATE_V2_BODY: dict[str, Any] = {
    "SearchByKey": "EmailAddress",
    "Options": {"PushNonExistentLeadsToUnProcessedList": False},
    "LeadPropertiesList": [
        {
            "Fields": [
                av("EmailAddress", "johnwick@gmail.com"),
                av("mx_FirstName", "John"),
                av("mx_LastName", "Wick"),
                av("Age", "33"),
            ]
        },
        {
            "Fields": [
                av("EmailAddress", "jack@gmail.com"),
                av("mx_FirstName", "Jack"),
                av("mx_LastName", "Sparrow"),
                av("PhoneNumber", "9876543210"),
            ]
        },
    ],
}

# update-a-lead.txt
LEAD_UPDATE_BODY = [av("Phone", "9999999999"), av("mx_City", "London")]


def row(n: int) -> list[dict[str, str]]:
    return [av("EmailAddress", f"lead{n}@example.com"), av("FirstName", f"Lead{n}")]


def envelope(response: httpx2.Response, status: int, exception_type: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["Status"] == "Error"
    assert body["ExceptionType"] == exception_type
    assert isinstance(body["ExceptionMessage"], str)
    assert body["ExceptionMessage"]
    return str(body["ExceptionMessage"])


async def test_bulk_create_page_example() -> None:
    """Bulk/Create answers per row; the page's shared Phone makes row 2 a duplicate."""
    fake = FakeLeadSquared()
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/Create", json=BULK_CREATE_BODY)
    assert r.status_code == 200
    first, second = r.json()
    assert first["RowNumber"] == 1
    assert first["LeadCreated"] is True
    assert GUID.match(first["LeadId"])
    assert second == {
        "RowNumber": 2,
        "LeadCreated": False,
        "ExceptionType": "MXDuplicateEntryException",
        "ExceptionMessage": second["ExceptionMessage"],
    }
    lead = fake.store.get(first["LeadId"].upper())
    assert lead is not None
    assert lead["ProspectID"] == first["LeadId"]
    assert lead["FirstName"] == "Martin Luther"
    assert lead["mx_KYC"] == {
        "Value": "",
        "Fields": {
            "Status": "Pending",
            "mx_CustomObject_1": "XYZ12345.png",
            "mx_CustomObject_2": "864563",
        },
    }
    assert fake.store.count() == 1


async def test_bulk_create_without_collision_creates_every_row() -> None:
    """Distinct rows each get a fresh lowercase GUID."""
    fake = FakeLeadSquared()
    body = copy.deepcopy(BULK_CREATE_BODY)
    body[1][3]["Value"] = "7777777777"
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/Create", json=body)
    rows = r.json()
    assert [x["RowNumber"] for x in rows] == [1, 2]
    assert all(x["LeadCreated"] is True and GUID.match(x["LeadId"]) for x in rows)
    assert fake.store.find_by_email("MKGANDHI@myleadsquared.com") is not None
    assert fake.store.find_by_phone("7777777777") is not None
    assert fake.store.duplicates() == []


async def test_lead_ids_are_reproducible_with_a_seed() -> None:
    """The same seed gives the same lead ids; reset() starts the sequence again."""
    ids = []
    for _ in range(2):
        fake = FakeLeadSquared(seed=7)
        async with client(fake) as c:
            r = await c.post(LM + "Lead/Bulk/Create", json=[row(1), row(2)])
        ids.append([x["LeadId"] for x in r.json()])
    assert ids[0] == ids[1]
    fake.reset()
    assert fake.store.count() == 0
    assert len(fake.ledger) == 0
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/Create", json=[row(1), row(2)])
    assert [x["LeadId"] for x in r.json()] == ids[0]


async def test_bulk_create_duplicates_within_call_and_against_store() -> None:
    """A row whose email (any case) belongs to an earlier row or stored lead fails in place."""
    fake = FakeLeadSquared()
    fake.store.insert({"EmailAddress": "old@example.com", "FirstName": "Old"})
    body = [
        row(1),
        [av("EmailAddress", "LEAD1@example.com"), av("FirstName", "Again")],
        [av("EmailAddress", "Old@Example.com")],
        row(2),
    ]
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/Create", json=body)
    rows = r.json()
    assert [x["LeadCreated"] for x in rows] == [True, False, False, True]
    assert rows[1]["ExceptionType"] == "MXDuplicateEntryException"
    assert rows[2]["ExceptionType"] == "MXDuplicateEntryException"
    assert "LeadId" not in rows[1]
    assert fake.store.count() == 3
    assert fake.ledger.entries[-1].applied is True
    assert fake.ledger.entries[-1].rows == 4


async def test_bulk_create_mandatory_attribute_missing() -> None:
    """A row with none of FirstName, LastName, EmailAddress, Phone fails in place."""
    fake = FakeLeadSquared()
    async with client(fake) as c:
        r = await c.post(
            LM + "Lead/Bulk/Create", json=[[av("mx_City", "Pune"), av("EmailAddress", "")], row(1)]
        )
    bad, good = r.json()
    assert bad["LeadCreated"] is False
    assert bad["ExceptionType"] == "MXMandatoryAttributeMissingException"
    assert good["LeadCreated"] is True
    assert fake.store.count() == 1


async def test_row_error_style_message() -> None:
    """With row_error_style="message", failed rows carry ErrorMessage instead."""
    fake = FakeLeadSquared(row_error_style="message")
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/Create", json=[row(1), row(1)])
        u = await c.post(LM + "Lead/Bulk/CreateOrUpdate", json=[[av("mx_City", "Pune")]])
    failed = r.json()[1]
    assert set(failed) == {"RowNumber", "LeadCreated", "ErrorMessage"}
    assert "EmailAddress" in failed["ErrorMessage"]
    assert set(u.json()[0]) == {
        "RowNumber",
        "LeadCreated",
        "LeadUpdated",
        "AffectedRows",
        "ErrorMessage",
    }


async def test_bulk_update_page_example() -> None:
    """Bulk/Update sets one field (and LeadType) and counts the ids that exist."""
    fake = FakeLeadSquared()
    a = fake.store.insert({"FirstName": "A"})
    b = fake.store.insert({"FirstName": "B"})
    body = {
        "LeadIds": [a.upper(), b, "b5a4413a-fd4b-464f-9db6-36b20abb8b3e"],
        "LeadFields": {"Attribute": "mx_City", "Value": "Bangalore"},
        "Attribute": "LeadType",
        "Value": "OT_1",
    }
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/Update", json=body)
    assert r.status_code == 200
    assert r.json() == {"Status": "Success", "Message": {"AffectedRows": 2}}
    for lead_id in (a, b):
        lead = fake.store.get(lead_id)
        assert lead is not None
        assert lead["mx_City"] == "Bangalore"
        assert lead["LeadType"] == "OT_1"
    entry = fake.ledger.entries[-1]
    assert (entry.endpoint, entry.rows, entry.applied) == ("Lead/Bulk/Update", 3, True)


async def test_bulk_update_unique_field_on_many_leads_is_refused() -> None:
    """Giving several leads one EmailAddress is a duplicate error and changes nothing."""
    fake = FakeLeadSquared()
    a = fake.store.insert({"FirstName": "A"})
    b = fake.store.insert({"FirstName": "B"})
    body = {"LeadIds": [a, b], "LeadFields": av("EmailAddress", "same@example.com")}
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/Update", json=body)
    envelope(r, 500, "MXDuplicateEntryException")
    assert fake.store.find_by_email("same@example.com") is None


async def test_bulk_update_v2_page_example() -> None:
    """UpdateV2 by EmailAddress: found leads succeed, missing ones go to FailedLeads."""
    fake = FakeLeadSquared()
    fake.store.insert({"EmailAddress": "JohnWick@gmail.com", "FirstName": "J"})
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/UpdateV2", json=UPDATE_V2_BODY)
    assert r.status_code == 200
    assert r.json() == {
        "Status": {"TotalCount": 2, "SuccessCount": 1, "FailureCount": 1, "Message": "Error"},
        "Details": {
            "SuccessfulLeads": [
                {"Identifier": "EmailAddress", "IdentifierValue": "johnwick@gmail.com"}
            ],
            "FailedLeads": [
                {
                    "Identifier": "EmailAddress",
                    "IdentifierValue": "jack@gmail.com",
                    "Reason": "Lead does not exist in the system or You do not have permission "
                    "to update the lead",
                }
            ],
        },
    }
    lead = fake.store.find_by_email("johnwick@gmail.com")
    assert lead is not None
    assert (lead["mx_FirstName"], lead["Age"]) == ("John", "33")


async def test_bulk_update_v2_all_processed_and_unprocessed_list() -> None:
    """All found: Message "Processed"; with the option, missing leads go to UnProcessedLeads."""
    fake = FakeLeadSquared()
    fake.store.insert({"EmailAddress": "johnwick@gmail.com"})
    fake.store.insert({"EmailAddress": "jack@gmail.com"})
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/UpdateV2", json=UPDATE_V2_BODY)
        assert r.json()["Status"] == {
            "TotalCount": 2,
            "SuccessCount": 2,
            "FailureCount": 0,
            "Message": "Processed",
        }
        assert list(r.json()["Details"]) == ["SuccessfulLeads"]
        body = {
            "SearchByKey": "EmailAddress",
            "Options": {"PushNonExistentLeadsToUnProcessedList": True},
            "LeadPropertiesList": [{"Fields": [av("EmailAddress", "johnwick @gmail.com")]}],
        }
        r = await c.post(LM + "Lead/Bulk/UpdateV2", json=body)
    assert r.json() == {
        "Status": {
            "TotalCount": 1,
            "SuccessCount": 0,
            "FailureCount": 0,
            "UnProcessedCount": 1,
            "Message": "Error",
        },
        "Details": {
            "UnProcessedLeads": [
                {
                    "Identifier": "EmailAddress",
                    "IdentifierValue": "johnwick @gmail.com",
                    "Reason": "Lead does not exist in the system or You do not have permission "
                    "to update the lead",
                }
            ]
        },
    }


async def test_bulk_update_v2_by_prospect_id_missing_key_and_duplicate() -> None:
    """Without SearchByKey rows match on ProspectId; a missing id or a taken email fails."""
    fake = FakeLeadSquared()
    a = fake.store.insert({"EmailAddress": "a@example.com"})
    fake.store.insert({"EmailAddress": "b@example.com"})
    body = {
        "LeadPropertiesList": [
            {"Fields": [av("ProspectID", a.upper()), av("mx_City", "Delhi")]},
            {"Fields": [av("mx_City", "Nowhere")]},
            {"Fields": [av("prospectid", a), av("EmailAddress", "B@example.com")]},
        ]
    }
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/UpdateV2", json=body)
    data = r.json()
    assert data["Status"]["SuccessCount"] == 1
    assert data["Status"]["FailureCount"] == 2
    assert data["Details"]["SuccessfulLeads"] == [
        {"Identifier": "ProspectId", "IdentifierValue": a.upper()}
    ]
    missing, duplicate = data["Details"]["FailedLeads"]
    assert missing["IdentifierValue"] == ""
    assert missing["Reason"]
    assert "MXDuplicateEntryException" in duplicate["Reason"]
    lead = fake.store.get(a)
    assert lead is not None
    assert lead["mx_City"] == "Delhi"
    assert lead["EmailAddress"] == "a@example.com"
    assert "ProspectId" not in lead
    assert "prospectid" not in lead


async def test_bulk_update_v2_nested_list_is_400_and_not_applied() -> None:
    """A list of lists in LeadPropertiesList is refused whole with the .NET message."""
    fake = FakeLeadSquared()
    fake.store.insert({"EmailAddress": "johnwick@gmail.com"})
    body = {
        "SearchByKey": "EmailAddress",
        "LeadPropertiesList": [
            {"Fields": [av("EmailAddress", "johnwick@gmail.com"), av("Age", "40")]},
            [av("EmailAddress", "jack@gmail.com")],
        ],
    }
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/UpdateV2", json=body)
    message = envelope(r, 400, "MXInvalidInputException")
    assert message.startswith("Cannot deserialize the current JSON array")
    lead = fake.store.find_by_email("johnwick@gmail.com")
    assert lead is not None
    assert "Age" not in lead
    assert fake.ledger.entries[-1].applied is False


async def test_bulk_create_or_update_page_example() -> None:
    """CreateOrUpdate updates leads found by SearchBy and creates the rest."""
    fake = FakeLeadSquared()
    existing = fake.store.insert({"EmailAddress": "EMAIL1@gmail.com", "mx_City": "Old"})
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/CreateOrUpdate", json=UPSERT_BODY)
    rows = r.json()
    assert [x["RowNumber"] for x in rows] == [1, 2, 3]
    assert rows[1] == {
        "RowNumber": 2,
        "LeadId": existing,
        "LeadCreated": False,
        "LeadUpdated": True,
        "AffectedRows": 1,
    }
    for x in (rows[0], rows[2]):
        assert set(x) == {"RowNumber", "LeadId", "LeadCreated", "LeadUpdated", "AffectedRows"}
        assert (x["LeadCreated"], x["LeadUpdated"], x["AffectedRows"]) == (True, False, 1)
    lead = fake.store.get(existing)
    assert lead is not None
    assert lead["mx_City"] == "C1Name"
    assert "SearchBy" not in lead
    assert fake.store.count() == 3


async def test_bulk_create_or_update_default_match_collision_and_mandatory() -> None:
    """Default match is EmailAddress then Phone; collisions and key-less rows fail in place."""
    fake = FakeLeadSquared()
    a = fake.store.insert({"EmailAddress": "a@example.com", "Phone": "111"})
    b = fake.store.insert({"EmailAddress": "b@example.com", "Phone": "222"})
    body = [
        [av("Phone", "222"), av("FirstName", "Bee")],
        [av("EmailAddress", "A@EXAMPLE.COM"), av("Phone", "222")],
        [av("FirstName", "Nobody")],
        [
            av("FirstName", "Alice"),
            av("SearchBy", "FirstName"),
            av("EmailAddress", "b@example.com"),
        ],
    ]
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/CreateOrUpdate", json=body)
    updated, clash, mandatory, clash2 = r.json()
    assert (updated["LeadId"], updated["LeadUpdated"]) == (b, True)
    assert clash["LeadCreated"] is False
    assert clash["LeadUpdated"] is False
    assert clash["ExceptionType"] == "MXDuplicateEntryException"
    assert mandatory["ExceptionType"] == "MXMandatoryAttributeMissingException"
    assert clash2["ExceptionType"] == "MXDuplicateEntryException"
    lead_a = fake.store.get(a)
    assert lead_a is not None
    assert lead_a["Phone"] == "111"
    assert fake.store.count() == 2
    assert fake.store.duplicates() == []


async def test_lead_update_page_example_and_automations() -> None:
    """Lead.Update changes the lead; postUpdatedLead=true is recorded and counted."""
    fake = FakeLeadSquared()
    lead_id = fake.store.insert({"EmailAddress": "x@example.com"})
    async with client(fake) as c:
        r = await c.post(LM + "Lead.Update", params={"leadId": lead_id}, json=LEAD_UPDATE_BODY)
        assert r.status_code == 200
        assert r.json() == {"Status": "Success", "Message": {"AffectedRows": 1}}
        r = await c.post(
            LM + "Lead.Update",
            params={"leadId": lead_id.upper(), "postUpdatedLead": "true"},
            json=[av("mx_City", "Paris")],
        )
        assert r.status_code == 200
    lead = fake.store.get(lead_id)
    assert lead is not None
    assert (lead["Phone"], lead["mx_City"]) == ("9999999999", "Paris")
    first, second = fake.ledger.entries
    assert (first.rows, first.post_updated_lead, second.post_updated_lead) == (1, False, True)
    assert fake.store.automations(lead_id) == 1


async def test_lead_update_unknown_lead_is_500_invalid_entity() -> None:
    """Updating a lead that does not exist answers HTTP 500 MXInvalidEntityException."""
    fake = FakeLeadSquared()
    async with client(fake) as c:
        r = await c.post(
            LM + "Lead.Update",
            params={"leadId": "ce7d56da-7864-495e-9c09-3da7e034aac4"},
            json=LEAD_UPDATE_BODY,
        )
    envelope(r, 500, "MXInvalidEntityException")
    assert fake.ledger.entries[-1].applied is False


async def test_get_by_id_and_email() -> None:
    """The lookups answer a list with the lead (and its dates), or an empty list."""
    fake = FakeLeadSquared()
    lead_id = fake.store.insert({"EmailAddress": "Find.Me@example.com", "FirstName": "F"})
    async with client(fake) as c:
        by_id = await c.get(LM + "Leads.GetById", params={"id": lead_id.upper()})
        by_email = await c.get(
            LM + "Leads.GetByEmailaddress", params={"emailaddress": "find.me@EXAMPLE.com"}
        )
        none = await c.get(LM + "Leads.GetByEmailaddress", params={"emailaddress": "x@y.z"})
        no_id = await c.get(LM + "Leads.GetById", params={"id": "nope"})
    created, modified = fake.store.stamps(lead_id)
    stored = {**fake.store.get(lead_id), "CreatedOn": created, "ModifiedOn": modified}  # type: ignore[dict-item]
    assert by_id.json() == by_email.json() == [stored]
    assert by_id.json()[0]["ProspectID"] == lead_id
    assert none.json() == []
    assert no_id.json() == []
    assert fake.ledger.rows_per_call() == []
    assert [e.rows for e in fake.ledger.entries] == [1, 1, 1, 1]


async def test_user_by_access_key_names_host_and_hides_secret() -> None:
    """UserByAccessKey.Get names the account's host and never echoes the secret."""
    fake = FakeLeadSquared(host="api-us11.leadsquared.com")
    async with client(fake) as c:
        r = await c.get("/v2/Authentication.svc/UserByAccessKey.Get")
    assert r.status_code == 200
    data = r.json()
    assert data["LSQCommonServiceURLs"]["api"] == "api-us11.leadsquared.com"
    assert data["FirstName"]
    assert DEMO_SECRET_KEY not in r.text
    assert fake.ledger.entries[-1].endpoint == "UserByAccessKey.Get"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-LSQ-AccessKey": DEMO_ACCESS_KEY},
        {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": "wrong"},
        {"x-LSQ-AccessKey": "wrong", "x-LSQ-SecretKey": DEMO_SECRET_KEY},
    ],
)
async def test_bad_keys_in_headers_are_401(headers: dict[str, str]) -> None:
    """Missing or wrong header keys answer 401 MXUnAuthorizedAccessException."""
    fake = FakeLeadSquared()
    async with client(fake, headers) as c:
        r = await c.post(LM + "Lead/Bulk/Create", json=[row(1)])
    envelope(r, 401, "MXUnAuthorizedAccessException")
    assert DEMO_SECRET_KEY not in r.text
    entry = fake.ledger.entries[-1]
    assert entry.auth_failed is True
    assert entry.accepted is False
    assert fake.store.count() == 0


async def test_query_parameter_auth() -> None:
    """accessKey/secretKey query parameters work; wrong ones answer 401."""
    fake = FakeLeadSquared()
    async with client(fake, {}) as c:
        ok = await c.post(
            LM + "Lead/Bulk/Create",
            params={"accessKey": DEMO_ACCESS_KEY, "secretKey": DEMO_SECRET_KEY},
            json=[row(1)],
        )
        bad = await c.post(
            LM + "Lead/Bulk/Create",
            params={"accessKey": DEMO_ACCESS_KEY, "secretKey": "nope"},
            json=[row(2)],
        )
        lower_headers = await c.get(
            LM + "Leads.GetById",
            params={"id": "x"},
            headers={"X-LSQ-ACCESSKEY": DEMO_ACCESS_KEY, "x-lsq-secretkey": DEMO_SECRET_KEY},
        )
    assert ok.status_code == 200
    assert ok.json()[0]["LeadCreated"] is True
    envelope(bad, 401, "MXUnAuthorizedAccessException")
    assert lower_headers.status_code == 200
    assert fake.store.count() == 1


async def test_secret_never_in_repr_or_ledger() -> None:
    """Neither the fake's repr nor its ledger carries the secret key."""
    fake = FakeLeadSquared(secret_key="s3cr3t-value")
    async with client(fake, {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": "x"}) as c:
        await c.get(LM + "Leads.GetById", params={"id": "x"})
    assert "s3cr3t" not in repr(fake)
    assert "s3cr3t" not in repr(fake.ledger.entries)
    assert "s3cr3t" not in repr(fake.store)


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("Lead/Bulk/Create", [row(i) for i in range(51)]),
        ("Lead/Bulk/CreateOrUpdate", [row(i) for i in range(26)]),
        (
            "Lead/Bulk/UpdateV2",
            {
                "SearchByKey": "EmailAddress",
                "LeadPropertiesList": [{"Fields": row(i)} for i in range(26)],
            },
        ),
        (
            "Lead/Bulk/Update",
            {"LeadIds": [f"id-{i}" for i in range(51)], "LeadFields": av("mx_City", "X")},
        ),
    ],
)
async def test_oversized_batches_are_400_and_not_applied(endpoint: str, body: object) -> None:
    """More rows than the endpoint's limit is a 400, and nothing is applied."""
    fake = FakeLeadSquared()
    fake.store.insert({"EmailAddress": "lead0@example.com"})
    async with client(fake) as c:
        r = await c.post(LM + endpoint, json=body)
    message = envelope(r, 400, "MXInvalidInputException")
    assert "At most" in message
    assert fake.store.count() == 1
    lead = fake.store.find_by_email("lead0@example.com")
    assert lead is not None
    assert set(lead) == {"EmailAddress", "ProspectID"}
    entry = fake.ledger.entries[-1]
    assert (entry.status, entry.applied) == (400, False)


@pytest.mark.parametrize(
    ("endpoint", "content"),
    [
        ("Lead/Bulk/Create", b"not json"),
        ("Lead/Bulk/Create", b'{"rows": []}'),
        ("Lead/Bulk/Create", b"[]"),
        ("Lead/Bulk/Create", b'[[{"Attribute": "FirstName", "Value": "A"}], {"x": 1}]'),
        ("Lead/Bulk/Create", b'[[{"Attribute": "FirstName", "Value": "A"}], [{"Value": "B"}]]'),
        ("Lead/Bulk/Create", b'[[{"Attribute": "FirstName", "Value": "A"}], [{"Attribute": 3}]]'),
        ("Lead/Bulk/Create", b'[[{"Attribute": "FirstName", "Value": {"x": 1}}]]'),
        ("Lead/Bulk/CreateOrUpdate", b'[[{"Attribute": "FirstName", "Value": true}]]'),
        ("Lead/Bulk/Update", b'{"LeadIds": "abc", "LeadFields": {"Attribute": "A", "Value": "1"}}'),
        ("Lead/Bulk/Update", b'{"LeadIds": ["abc"]}'),
        ("Lead/Bulk/UpdateV2", b'{"LeadPropertiesList": {"Fields": []}}'),
        ("Lead/Bulk/UpdateV2", b'{"LeadPropertiesList": [{"Fields": "x"}]}'),
        ("Lead.Update?leadId=abc", b'{"Attribute": "FirstName", "Value": "A"}'),
        ("Lead.Update", b'[{"Attribute": "FirstName", "Value": "A"}]'),
        ("Lead/Bulk/Create", b"\xff\xfe garbage"),
    ],
)
async def test_malformed_bodies_are_400_and_not_applied(endpoint: str, content: bytes) -> None:
    """Non-JSON bodies, wrong shapes and wrong types answer 400 and change nothing."""
    fake = FakeLeadSquared()
    async with client(fake) as c:
        r = await c.post(LM + endpoint, content=content)
    envelope(r, 400, "MXInvalidInputException")
    assert fake.store.count() == 0
    assert fake.ledger.entries[-1].applied is False


async def test_unknown_path_is_404_with_envelope() -> None:
    """An unknown API path answers 404 with the error envelope."""
    fake = FakeLeadSquared()
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/Delete", json=[])
        wrong_method = await c.get(LM + "Lead/Bulk/Create")
    envelope(r, 404, "MXInvalidInputException")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["Status"] == "Error"


def test_endpoint_names() -> None:
    """The ledger's endpoint names are the brief's exact strings."""
    assert ENDPOINTS == (
        "Lead/Bulk/Create",
        "Lead/Bulk/Update",
        "Lead/Bulk/UpdateV2",
        "Lead/Bulk/CreateOrUpdate",
        "Lead.Update",
        "Lead.Create",
        "Lead.CreateOrUpdate",
        "Leads.GetById",
        "Leads.GetByEmailaddress",
        "UserByAccessKey.Get",
        "RetrieveLeadByPhoneNumber",
        "Leads/Retrieve/ByIds",
        "ProspectActivity.svc/Create",
        "ProspectActivity.svc/Bulk/CustomActivity/Add/ByLeadId",
        "ProspectActivity.svc/Bulk/CustomActivity/Add/ByLeadField",
        "LeadsMetaData.Get",
        "Leads.RecentlyModified",
        "Leads.Get",
    )


def test_duplicates_reports_groups() -> None:
    """duplicates() groups leads sharing an email (any case) or a phone."""
    fake = FakeLeadSquared()
    assert fake.store.duplicates() == []
    a = fake.store.insert({"EmailAddress": "dup@example.com", "Phone": "1"})
    b = fake.store.insert({"EmailAddress": "DUP@example.com"}, enforce_unique=False)
    c = fake.store.insert({"Phone": "1", "EmailAddress": "c@example.com"}, enforce_unique=False)
    fake.store.insert({"EmailAddress": "single@example.com"})
    assert sorted(map(sorted, fake.store.duplicates())) == sorted([sorted([a, b]), sorted([a, c])])
    with pytest.raises(ValueError, match="EmailAddress"):
        fake.store.insert({"EmailAddress": "Dup@Example.com"})
