"""The fake's optional lead schema: a typo'd attribute is refused as the service refuses it."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import leadsq_async as lsq
from leadsq_async.testing import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    STANDARD_FIELDS,
    FakeLeadSquared,
    LeadSchema,
    add_arguments,
    build_fake,
)

HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}
BASE_URL = "https://api-in21.leadsquared.com"
LM = "/v2/LeadManagement.svc/"
FIELDS = ["mx_City", "mx_Stage", "mx_KYC", "mx_KYC.Status", "mx_Notes_Set"]
GUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


def av(attribute: str, value: str) -> dict[str, str]:
    """One attribute/value pair of a request body."""
    return {"Attribute": attribute, "Value": value}


async def post(fake: FakeLeadSquared, path: str, body: object) -> httpx.Response:
    """POST ``body`` to the fake in-process with the demo keys."""
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=BASE_URL, headers=HEADERS
    ) as http:
        return await http.post(LM + path, json=body)


def seeded() -> tuple[FakeLeadSquared, str]:
    """A fake with the schema and one lead (a@example.com) to update."""
    fake = FakeLeadSquared(rate_limit=None, fields=FIELDS)
    lead_id = fake.store.insert({"EmailAddress": "a@example.com", "mx_City": "Pune"})
    return fake, lead_id


# (endpoint path, a body naming an unknown attribute, the name the refusal must give)
UNKNOWN = [
    pytest.param(
        "Lead/Bulk/Create",
        [
            [av("EmailAddress", "n1@example.com")],
            [av("EmailAdress", "n2@example.com")],
        ],
        "EmailAdress",
        id="bulk-create",
    ),
    pytest.param(
        "Lead/Bulk/CreateOrUpdate",
        [[av("EmailAddress", "a@example.com"), av("mx_Cty", "Goa")]],
        "mx_Cty",
        id="bulk-upsert",
    ),
    pytest.param(
        "Lead/Bulk/CreateOrUpdate",
        [[av("mx_Code", "C1"), av("FirstName", "A"), av("SearchBy", "mx_Code")]],
        "mx_Code",
        id="bulk-upsert-search-by",
    ),
    pytest.param(
        "Lead/Bulk/UpdateV2",
        {
            "SearchByKey": "EmailAddress",
            "LeadPropertiesList": [
                {"Fields": [av("EmailAddress", "a@example.com"), av("mx_Cty", "Goa")]}
            ],
        },
        "mx_Cty",
        id="update-v2-field",
    ),
    pytest.param(
        "Lead/Bulk/UpdateV2",
        {
            "SearchByKey": "mx_Emial",
            "LeadPropertiesList": [{"Fields": [av("mx_Emial", "a"), av("mx_City", "Goa")]}],
        },
        "mx_Emial",
        id="update-v2-search-by-key",
    ),
    pytest.param(
        "Lead/Bulk/Update",
        {"LeadIds": [GUID], "LeadFields": av("mx_Stge", "Hot")},
        "mx_Stge",
        id="bulk-update",
    ),
    pytest.param(
        "Lead.Create",
        [av("EmailAddress", "n@example.com"), av("mx_KYC", "")],
        None,
        id="single-create-known-set-is-fine",
    ),
    pytest.param(
        "Lead.Create",
        [
            av("EmailAddress", "n@example.com"),
            {"Attribute": "mx_KYC", "Value": "", "Fields": [av("Statuss", "Pending")]},
        ],
        "Statuss",
        id="single-create-field-set-field",
    ),
    pytest.param(
        "Lead.CreateOrUpdate",
        [av("EmailAddress", "a@example.com"), av("LastNme", "B")],
        "LastNme",
        id="single-upsert",
    ),
]


@pytest.mark.parametrize(("path", "body", "unknown"), UNKNOWN)
async def test_an_unknown_attribute_is_refused_whole_and_nothing_applied(
    path: str, body: object, unknown: str | None
) -> None:
    """Under a schema a write naming an unknown attribute is HTTP 500 MXInvalidInputException."""
    fake, _ = seeded()
    before = fake.store.all()
    answer = await post(fake, path, body)
    if unknown is None:
        assert answer.status_code == 200, answer.text
        return
    assert answer.status_code == 500
    envelope = answer.json()
    assert envelope["Status"] == "Error"
    assert envelope["ExceptionType"] == "MXInvalidInputException"
    assert repr(unknown) in envelope["ExceptionMessage"]
    assert fake.store.all() == before  # nothing of the call applied, not even its good rows
    assert fake.ledger.entries[-1].applied is False


async def test_lead_update_by_id_checks_the_fields() -> None:
    """Lead.Update?leadId= refuses an unknown attribute and applies a known one."""
    fake, lead_id = seeded()
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=BASE_URL, headers=HEADERS
    ) as http:
        bad = await http.post(
            LM + "Lead.Update", params={"leadId": lead_id}, json=[av("mx_Cty", "Goa")]
        )
        good = await http.post(
            LM + "Lead.Update", params={"leadId": lead_id}, json=[av("MX_CITY", "Goa")]
        )
    assert (bad.status_code, bad.json()["ExceptionType"]) == (500, "MXInvalidInputException")
    assert good.status_code == 200
    lead = fake.store.get(lead_id)
    assert lead is not None
    assert lead["mx_City"] == "Goa"


async def test_the_refusal_suggests_the_closest_field() -> None:
    """The refusal names the attribute and the field it was probably meant to be."""
    fake, _ = seeded()
    answer = await post(fake, "Lead/Bulk/Create", [[av("EmailAdress", "x@example.com")]])
    assert answer.json()["ExceptionMessage"] == (
        "Invalid Attribute 'EmailAdress': not a lead field of this account; "
        "did you mean 'EmailAddress'?"
    )


async def test_names_are_case_insensitive_and_standard_fields_built_in() -> None:
    """Known names in any case, every standard field and SearchBy pass; the lead is stored."""
    fake = FakeLeadSquared(rate_limit=None, fields=["mx_City"])
    typed = {"Email": "z@example.com", "Phone": "+91-98765", "Website": "example.com"}
    fitting = {"Date": "2024-01-02 03:04:05", **typed}
    schema = LeadSchema()
    row = [
        av(name.upper(), fitting.get(getattr(schema.field(name), "data_type", ""), "1"))
        for name in STANDARD_FIELDS
        if name != "ProspectID"
    ]
    row = [av("emailaddress", "z@example.com"), *row[1:], av("Mx_City", "Pune")]
    row.append(av("SearchBy", "emailaddress"))
    answer = await post(fake, "Lead/Bulk/CreateOrUpdate", [row])
    assert answer.status_code == 200, answer.text
    assert answer.json()[0]["LeadCreated"] is True


async def test_without_a_schema_any_attribute_is_stored() -> None:
    """A fake without fields stores an unknown attribute (the default)."""
    fake = FakeLeadSquared(rate_limit=None)
    answer = await post(
        fake, "Lead/Bulk/Create", [[av("EmailAddress", "t@x.com"), av("mx_Cty", "Goa")]]
    )
    assert answer.status_code == 200
    (lead,) = fake.store.all()
    assert lead["mx_Cty"] == "Goa"


async def test_a_field_set_without_listed_fields_takes_any() -> None:
    """A set listed without fields takes any; a listed set refuses others, in any case."""
    fake = FakeLeadSquared(rate_limit=None, fields=["mx_Any", "mx_KYC", "mx_KYC.Status"])
    ok = [
        av("EmailAddress", "s@example.com"),
        {"Attribute": "mx_Any", "Value": "", "Fields": [av("Whatever", "1")]},
        {"Attribute": "MX_KYC", "Value": "", "Fields": [av("status", "Pending")]},
    ]
    assert (await post(fake, "Lead.Create", ok)).status_code == 200
    assert LeadSchema(["mx_KYC.Status"]).known("Status", "mx_kyc")
    assert not LeadSchema(["mx_KYC.Status"]).known("Doc", "mx_KYC")
    assert LeadSchema(["mx_Other"]).known("Doc", "mx_Other")


@pytest.fixture
async def client_on(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[FakeLeadSquared, lsq.LeadSquaredClient]]:
    """A client wired in-process to a fake with the schema ``FIELDS``."""
    fake = FakeLeadSquared(rate_limit=None, fields=FIELDS)
    async with (
        httpx.AsyncClient(transport=fake.transport()) as http,
        lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            base_url=BASE_URL,
            http_client=http,
            rate_limit=lsq.RateLimit(1000, 1.0),
            backoff=0.001,
        ) as client,
    ):
        yield fake, client


async def test_a_users_test_catches_a_typo_through_the_client(
    client_on: tuple[FakeLeadSquared, lsq.LeadSquaredClient],
) -> None:
    """Through the client, the typo'd lead fails with LeadRejectedError; its batch-mates land.

    Every method is checked: known fields pass, unknown ones are refused.
    """
    fake, client = client_on
    good = [{"EmailAddress": f"g{i}@example.com", "mx_City": "Pune"} for i in range(9)]
    typo = {"EmailAddress": "t@example.com", "mx_Cty": "Pune"}
    results = await asyncio.gather(
        *(client.create_lead(fields) for fields in [*good[:4], typo, *good[4:]]),
        return_exceptions=True,
    )
    error = results[4]
    assert isinstance(error, lsq.LeadRejectedError)
    assert error.exception_type == "MXInvalidInputException"
    assert "'mx_Cty'" in error.reason
    assert "did you mean 'mx_City'" in error.reason
    assert all(isinstance(r, lsq.LeadCreated) for i, r in enumerate(results) if i != 4)
    assert fake.store.count() == 9
    with pytest.raises(lsq.LeadRejectedError, match="mx_Cty"):
        await client.upsert_lead({"EmailAddress": "g1@example.com", "mx_Cty": "Goa"})
    with pytest.raises(lsq.LeadRejectedError, match="Statu"):
        await client.update_lead({"EmailAddress": "g1@example.com", "mx_KYC": {"Statu": "x"}})
    updated = await client.update_lead(
        {"EmailAddress": "g1@example.com", "mx_KYC": {"Status": "ok"}}
    )
    assert updated.search_value == "g1@example.com"
    lead_id = next(r.lead_id for r in results if isinstance(r, lsq.LeadCreated))
    await client.update_lead_by_id(lead_id, {"mx_Stage": "Hot"})
    await client.update_lead_by_id(lead_id, {"mx_Stage": "Hot"}, post_updated_lead=True)
    assert (await client.update_field(lead_id, "mx_Stage", "Cold")).confirmed
    with pytest.raises(lsq.LeadRejectedError, match="mx_Stag'"):
        await client.update_field(lead_id, "mx_Stag", "Cold")


def test_load_from_json_metadata_and_text(tmp_path: Path) -> None:
    """LeadSchema.load reads a JSON list, LeadsMetaData.Get's answer, or one name a line."""
    names = tmp_path / "fields.json"
    names.write_text(json.dumps(["mx_City", "mx_KYC.Status"]))
    metadata = tmp_path / "metadata.json"
    metadata.write_text(
        json.dumps([{"SchemaName": "mx_City", "DisplayName": "City", "DataType": "Text"}])
    )
    text = tmp_path / "fields.txt"
    text.write_text("# our account\nmx_City\n\n  mx_KYC.Status  # the KYC set\n")
    for path in (names, text):
        schema = LeadSchema.load(path)
        assert list(schema)[-2:] == ["mx_KYC", "mx_KYC.Status"]
        assert "mx_city" in schema
        assert "EmailAddress" in schema
        assert "mx_Cty" not in schema
    assert "mx_City" in LeadSchema.load(metadata)
    assert FakeLeadSquared(fields=str(names)).schema is not None
    assert "mx_City" in (FakeLeadSquared(fields=metadata).schema or [])
    assert len(LeadSchema(["mx_A"], standard=False)) == 1


def test_bad_schemas_are_refused(tmp_path: Path) -> None:
    """A single string, a blank name or a JSON entry without a name is an error, at once."""
    with pytest.raises(TypeError, match="list of schema names"):
        LeadSchema("mx_City")
    with pytest.raises(ValueError, match="non-empty"):
        LeadSchema(["mx_City", " "])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"DisplayName": "City"}]))
    with pytest.raises(ValueError, match="entry 0"):
        LeadSchema.load(bad)


def test_command_line_fields_option(tmp_path: Path) -> None:
    """`--fields FILE` gives the served fake that schema; an unreadable file is a usage error."""
    path = tmp_path / "fields.txt"
    path.write_text("mx_City\n")
    parser = add_arguments(argparse.ArgumentParser())
    fake = build_fake(parser.parse_args(["--fields", str(path)]))
    assert fake.schema is not None
    assert "mx_City" in fake.schema
    assert build_fake(parser.parse_args([])).schema is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--fields", str(tmp_path / "missing.txt")])
