"""The fake's optional lead schema: a typo'd attribute is refused as the service refuses it."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    STANDARD_FIELDS,
    FakeLeadSquared,
    Field,
    LeadSchema,
    Limit,
    add_arguments,
    build_fake,
)

from .conftest import MakeClient

HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}
BASE_URL = "https://api-in21.leadsquared.com"
LM = "/v2/LeadManagement.svc/"
FIELDS = ["mx_City", "mx_Stage", "mx_KYC", "mx_KYC.Status", "mx_Notes_Set"]
GUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


def av(attribute: str, value: str) -> dict[str, str]:
    """One attribute/value pair of a request body."""
    return {"Attribute": attribute, "Value": value}


async def post(fake: FakeLeadSquared, path: str, body: object) -> httpx2.Response:
    """POST ``body`` to the fake in-process with the demo keys."""
    async with httpx2.AsyncClient(
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
    async with httpx2.AsyncClient(
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
async def client_on(make_client: MakeClient) -> tuple[FakeLeadSquared, lsq.LeadSquaredClient]:
    """A client wired in-process to a fake with the schema ``FIELDS``."""
    fake = FakeLeadSquared(rate_limit=None, fields=FIELDS)
    options = {"rate_limit": lsq.RateLimit(1000, 1.0), "backoff": 0.001, "linger": 0.02}
    return fake, await make_client(fake, **options)


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


# -- field types, LeadsMetaData.Get and refused values ----------------------------------------

PHONE = Field(
    "Phone",
    "Phone",
    "Phone Number",
    max_length=10,
    range_min="10",
    is_lead_identifier=True,
    lock_after_create=1,
)
LEAD_TYPE = Field(
    "LeadType",
    "Select",
    mandatory=True,
    options=["OT_0", "OT_1"],
    max_length=50,
    default_value="OT_0",
    render_type="Dropdown",
)
TYPED: list[str | Field] = [
    PHONE,
    LEAD_TYPE,
    Field("mx_Age", "Number"),
    Field("mx_Joined", "Date"),
    Field("mx_Seen", "DateTime"),
    Field("mx_Code", "Text", max_length=5),
    "mx_City",
]
METADATA_NAME = "LeadsMetaData.Get"
METADATA = LM + METADATA_NAME


async def get(fake: FakeLeadSquared, path: str, **params: str) -> httpx2.Response:
    """GET ``path`` from the fake in-process with the demo keys."""
    async with httpx2.AsyncClient(
        transport=fake.transport(), base_url=BASE_URL, headers=HEADERS
    ) as http:
        return await http.get(path, params=params)


def by_name(answer: httpx2.Response) -> dict[str, dict[str, object]]:
    """A ``LeadsMetaData.Get`` answer's entries by schema name."""
    assert answer.status_code == 200, answer.text
    entries = answer.json()
    assert isinstance(entries, list)
    return {entry["SchemaName"]: entry for entry in entries}


async def test_leads_metadata_get_answers_the_documented_shape() -> None:
    """LeadsMetaData.Get lists every field in LeadSquared's documented shape."""
    fake = FakeLeadSquared(rate_limit=None, fields=TYPED)
    entries = by_name(await get(fake, METADATA))
    assert entries["Phone"] == {  # LeadSquared's own example, key for key
        "SchemaName": "Phone",
        "DisplayName": "Phone Number",
        "DataType": "Phone",
        "IsMandatory": False,
        "MaxLength": "10",
        "RangeMin": "10",
        "RenderTypeTextValue": "Phone",
        "IsLeadIdentifier": True,
        "LockAfterCreate": 1,
        "ShowInImport": True,
        "CreatedOn": "/Date(1417453996000+0000)/",
    }
    documented_dropdown = {
        "SchemaName": "LeadType",
        "DataType": "Select",
        "IsMandatory": True,
        "Options": [{"Value": "OT_0"}, {"Value": "OT_1"}],
        "MaxLength": "50",
        "DefaultValue": "OT_0",
        "RenderTypeTextValue": "Dropdown",
    }
    assert documented_dropdown.items() <= entries["LeadType"].items()
    assert entries["mx_Seen"]["DataType"] == "Date"
    assert entries["mx_Seen"]["RenderTypeTextValue"] == "DateTime"
    assert entries["mx_Joined"]["RenderTypeTextValue"] == "Date"
    assert entries["mx_City"]["DataType"] == "Text"
    assert entries["EmailAddress"]["DataType"] == "Email"
    assert entries["DoNotEmail"]["DataType"] == "Boolean"
    assert set(STANDARD_FIELDS) | {"mx_Age", "mx_Joined", "mx_Seen", "mx_Code", "mx_City"} == set(
        entries
    )
    for entry in entries.values():
        assert isinstance(entry["DisplayName"], str)
        assert isinstance(entry["IsMandatory"], bool)
        assert isinstance(entry.get("MaxLength", ""), str)
    assert fake.ledger.entries[-1].endpoint == "LeadsMetaData.Get"


async def test_leads_metadata_get_options_one_field_and_no_schema() -> None:
    """excludeOptionSets=1 drops Options, schemaName= answers one field; ``fields=[]``: the
    standard ones; no schema: no such API (HTTP 404), not a closed list of fields."""
    fake = FakeLeadSquared(rate_limit=None, fields=TYPED)
    bare = by_name(await get(fake, METADATA, excludeOptionSets="1"))
    assert "Options" not in bare["LeadType"]
    assert bare["LeadType"]["DataType"] == "Select"
    one = await get(fake, METADATA, schemaName="leadtype")
    assert [entry["SchemaName"] for entry in one.json()] == ["LeadType"]
    assert one.json()[0]["Options"] == [{"Value": "OT_0"}, {"Value": "OT_1"}]
    assert (await get(fake, METADATA, schemaName="mx_Nothing")).json() == []
    standard = by_name(await get(FakeLeadSquared(rate_limit=None, fields=[]), METADATA))
    assert list(standard) == list(STANDARD_FIELDS)
    schemaless = FakeLeadSquared(rate_limit=None)
    missing = await get(schemaless, METADATA)
    assert missing.status_code == 404
    assert missing.json()["ExceptionType"] == "MXInvalidInputException"
    assert [(e.endpoint, e.status) for e in schemaless.ledger.entries] == [(METADATA_NAME, 404)]


async def test_leads_metadata_get_needs_the_keys_a_get_and_passes_the_general_budget() -> None:
    """LeadsMetaData.Get checks the keys, takes GET only, and counts in the general budget."""
    fake = FakeLeadSquared(rate_limit=Limit(1, 5.0), bulk_rate_limit=Limit(1, 5.0), fields=[])
    async with httpx2.AsyncClient(transport=fake.transport(), base_url=BASE_URL) as http:
        unkeyed = await http.get(METADATA)
        posted = await http.post(METADATA, headers=HEADERS, json=[])
    assert unkeyed.status_code == 401
    assert posted.status_code == 405
    assert (await get(fake, METADATA)).status_code == 200
    limited = await get(fake, METADATA)
    assert limited.status_code == 429
    assert fake.summary()["budgets"]["general"]["rejected"] == 1  # type: ignore[index]


def test_a_saved_metadata_answer_loads_back_with_its_types(tmp_path: Path) -> None:
    """A saved LeadsMetaData.Get answer loads as the same typed schema (and serves the same)."""
    schema = LeadSchema(TYPED)
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(schema.metadata()))
    loaded = LeadSchema.load(path)
    assert loaded.metadata() == schema.metadata()
    lead_type = loaded.field("leadtype")
    assert lead_type is not None
    assert (lead_type.options, lead_type.mandatory, lead_type.max_length) == (
        ("OT_0", "OT_1"),
        True,
        50,
    )
    age = loaded.field("mx_Age")
    assert age is not None
    assert age.refusal("abc")[1] == "'abc' is not a Number"
    tolerant = Field.from_metadata({"SchemaName": "mx_X", "DataType": "Lookup", "MaxLength": ""})
    assert (tolerant.data_type, tolerant.max_length, tolerant.refusal("anything")[1]) == (
        "Lookup",
        None,
        None,
    )


# (data type, its render, values it takes, values it refuses)
RULES = [
    pytest.param(
        "Number",
        "",
        ["42", "-3.5", "1e3", " 7 ", ".5"],
        ["abc", "1,000", "inf", "0x10"],
        id="number",
    ),
    pytest.param(
        "Date",
        "Date",
        ["2024-02-29"],
        ["2023-02-29", "2024-13-01", "01/02/2024", "2024-01-02 10:00:00"],
        id="date",
    ),
    pytest.param(
        "Date",
        "DateTime",
        ["2024-01-02 10:00:00", "2024-01-02 10:00", "2017-11-30 07:40:18.000"],
        ["2024-01-02", "2024-01-02T10:00:00", "2024-01-02 25:00:00"],
        id="datetime",
    ),
    pytest.param("Time", "", ["09:30", "23:59:59"], ["24:00", "9:30", "09:60", "noon"], id="time"),
    pytest.param("Boolean", "", ["true", "False", "1", "0", "yes"], ["maybe", "2"], id="boolean"),
    pytest.param(
        "Email",
        "",
        ["a@example.com", "first.last+tag@sub.example.co"],
        ["user10-at-example.com", "a@b", "a b@example.com", "@example.com"],
        id="email",
    ),
    pytest.param(
        "Phone",
        "",
        ["+91-9876543210", "98765 43210", "(020) 1234-5678"],
        ["call me", "98765x", "12+34"],
        id="phone",
    ),
    pytest.param(
        "Website",
        "",
        ["https://example.com/path?q=1", "example.com", "http://sub.example.co.in:8080"],
        ["not a url", "ftp://example.com", "example"],
        id="website",
    ),
    pytest.param("Select", "", ["OT_0", "ot_1"], ["OT_9", "OT"], id="select"),
    pytest.param("Text", "", ["abcde", "any text"[:5]], ["abcdef"], id="text-max-length"),
    pytest.param("CustomObject", "", ["whatever", "x" * 500], [], id="unknown-type-no-check"),
]


@pytest.mark.parametrize(("data_type", "render", "good", "bad"), RULES)
async def test_each_data_type_takes_its_values_and_refuses_others(
    data_type: str, render: str, good: list[str], bad: list[str]
) -> None:
    """Per data type, fitting values (and a blank, which clears) pass and others fail their row."""
    field = Field(
        "mx_F",
        data_type,
        render_type=render,
        options=["OT_0", "OT_1"] if data_type == "Select" else [],
        max_length=5 if data_type == "Text" else None,
    )
    fake = FakeLeadSquared(rate_limit=None, fields=[field])
    values = [*good, "", *bad]
    rows = [[av("EmailAddress", f"r{n}@example.com"), av("mx_F", v)] for n, v in enumerate(values)]
    answer = await post(fake, "Lead/Bulk/Create", rows)
    assert answer.status_code == 200, answer.text
    refused = {
        v: row["ExceptionMessage"]
        for v, row in zip(values, answer.json(), strict=True)
        if not row["LeadCreated"] and row["ExceptionType"] == "MXInvalidInputException"
    }
    assert list(refused) == bad
    for value, message in refused.items():
        rule = "over its MaxLength of 5" if data_type == "Text" else f"{value!r} is not "
        assert message.startswith("Invalid value for attribute mx_F: ")
        assert rule in message
    assert fake.store.count() == len(good) + 1


async def test_dropdown_values_match_in_any_case_and_are_stored_as_the_option() -> None:
    """A dropdown value in any case is stored as its option; a refusal names the options."""
    fake = FakeLeadSquared(rate_limit=None, fields=TYPED)
    ok = await post(
        fake, "Lead.Create", [av("EmailAddress", "o@example.com"), av("leadtype", "ot_1")]
    )
    assert ok.status_code == 200, ok.text
    lead = fake.store.find_by_email("o@example.com")
    assert lead is not None
    assert lead["LeadType"] == "OT_1"
    refused = await post(
        fake, "Lead.Create", [av("EmailAddress", "p@example.com"), av("LeadType", "OT_9")]
    )
    assert refused.status_code == 500
    assert refused.json() == {
        "Status": "Error",
        "ExceptionType": "MXInvalidInputException",
        "ExceptionMessage": (
            "Invalid value for attribute LeadType: 'OT_9' is not one of its options (OT_0, OT_1)"
        ),
    }
    over = await post(
        fake,
        "Lead.Create",
        [av("EmailAddress", "q@example.com"), av("LeadType", "OT_0"), av("mx_Code", "ABCDEFG")],
    )
    assert over.json()["ExceptionMessage"] == (
        "Invalid value for attribute mx_Code: 7 characters, over its MaxLength of 5"
    )


def bad_write(endpoint: str, lead_id: str) -> tuple[str, object, dict[str, str]]:
    """(path, body, query) of a write of three leads, the second with a bad mx_Age."""
    ages = ["30", "thirty", "40"]
    if endpoint == "Lead/Bulk/UpdateV2":
        emails = ["a@example.com", "b@example.com", "c@example.com"]
        items = [
            {"Fields": [av("EmailAddress", e), av("mx_Age", a)]}
            for e, a in zip(emails, ages, strict=True)
        ]
        return endpoint, {"SearchByKey": "EmailAddress", "LeadPropertiesList": items}, {}
    if endpoint == "Lead/Bulk/Update":
        return endpoint, {"LeadIds": [lead_id], "LeadFields": av("mx_Age", "thirty")}, {}
    if endpoint == "Lead.Update":
        return endpoint, [av("mx_Age", "thirty")], {"leadId": lead_id}
    if endpoint in ("Lead.Create", "Lead.CreateOrUpdate"):
        return endpoint, [av("EmailAddress", "n@example.com"), av("mx_Age", "thirty")], {}
    rows = [
        [av("EmailAddress", f"{c}@example.com"), av("mx_Age", a)]
        for c, a in zip("xyz", ages, strict=True)
    ]
    return endpoint, rows, {}


def typed_fake(variant: str) -> tuple[FakeLeadSquared, str]:
    """A fake refusing bad values per ``variant``, holding leads a, b and c (mx_Age 1)."""
    fake = FakeLeadSquared(rate_limit=None, fields=AGE, bad_value_refuses=variant)  # type: ignore[arg-type]
    ids = [fake.store.insert({"EmailAddress": f"{c}@example.com", "mx_Age": "1"}) for c in "abc"]
    return fake, ids[0]


AGE = [Field("mx_Age", "Number")]
WRITES = [
    "Lead/Bulk/Create",
    "Lead/Bulk/CreateOrUpdate",
    "Lead/Bulk/UpdateV2",
    "Lead/Bulk/Update",
    "Lead.Create",
    "Lead.CreateOrUpdate",
    "Lead.Update",
]
WHOLE = "Invalid value for attribute mx_Age: 'thirty' is not a Number"


@pytest.mark.parametrize("endpoint", WRITES)
async def test_call_variant_refuses_the_whole_call_and_applies_nothing(endpoint: str) -> None:
    """bad_value_refuses="call": one bad value refuses the whole call, HTTP 500, nothing applied."""
    fake, lead_id = typed_fake("call")
    before = fake.store.all()
    path, body, query = bad_write(endpoint, lead_id)
    async with httpx2.AsyncClient(
        transport=fake.transport(), base_url=BASE_URL, headers=HEADERS
    ) as http:
        answer = await http.post(LM + path, params=query, json=body)
    assert answer.status_code == 500
    assert answer.json() == {
        "Status": "Error",
        "ExceptionType": "MXInvalidInputException",
        "ExceptionMessage": WHOLE,
    }
    assert fake.store.all() == before
    assert fake.ledger.entries[-1].applied is False


@pytest.mark.parametrize("endpoint", WRITES)
async def test_row_variant_fails_the_bad_row_alone(endpoint: str) -> None:
    """bad_value_refuses="row": the bad row fails in the answer, the others are applied.

    A single-lead write (and Lead/Bulk/Update, one value for every lead) fails whole.
    """
    fake, lead_id = typed_fake("row")
    before = fake.store.all()
    path, body, query = bad_write(endpoint, lead_id)
    async with httpx2.AsyncClient(
        transport=fake.transport(), base_url=BASE_URL, headers=HEADERS
    ) as http:
        answer = await http.post(LM + path, params=query, json=body)
    if endpoint in ("Lead/Bulk/Create", "Lead/Bulk/CreateOrUpdate"):
        assert answer.status_code == 200, answer.text
        rows = answer.json()
        assert [row["LeadCreated"] for row in rows] == [True, False, True]
        assert rows[1]["ExceptionType"] == "MXInvalidInputException"
        assert rows[1]["ExceptionMessage"] == WHOLE
        assert "LeadId" not in rows[1]
        assert fake.store.count() == 5
        assert fake.store.find_by_email("y@example.com") is None
    elif endpoint == "Lead/Bulk/UpdateV2":
        assert answer.status_code == 200, answer.text
        details = answer.json()["Details"]
        assert [e["IdentifierValue"] for e in details["SuccessfulLeads"]] == [
            "a@example.com",
            "c@example.com",
        ]
        assert details["FailedLeads"] == [
            {
                "Identifier": "EmailAddress",
                "IdentifierValue": "b@example.com",
                "Reason": f"MXInvalidInputException: {WHOLE}",
            }
        ]
        ages = {lead["EmailAddress"]: lead["mx_Age"] for lead in fake.store.all()}
        assert ages == {"a@example.com": "30", "b@example.com": "1", "c@example.com": "40"}
    else:
        assert answer.status_code == 500
        assert answer.json()["ExceptionMessage"] == WHOLE
        assert fake.store.all() == before


async def test_row_variant_in_the_message_style() -> None:
    """With row_error_style="message" the bad row names its refusal as ErrorMessage."""
    fake = FakeLeadSquared(rate_limit=None, fields=TYPED, row_error_style="message")
    rows = [[av("EmailAddress", "m@example.com"), av("mx_Joined", "yesterday")]]
    (row,) = (await post(fake, "Lead/Bulk/Create", rows)).json()
    assert row["ErrorMessage"] == (
        "Invalid value for attribute mx_Joined: 'yesterday' is not a Date (YYYY-MM-DD)"
    )


@pytest.mark.parametrize("variant", ["row", "call"])
async def test_mandatory_fields_are_needed_on_a_create_only(variant: str) -> None:
    """A create without a mandatory field (or with it blank) fails its row; updates need none."""
    fake = FakeLeadSquared(
        rate_limit=None,
        fields=[Field("mx_Region", mandatory=True)],
        bad_value_refuses=variant,  # type: ignore[arg-type]
    )
    lead_id = fake.store.insert({"EmailAddress": "old@example.com"})
    rows = [
        [av("EmailAddress", "a@example.com"), av("mx_Region", "West")],
        [av("EmailAddress", "b@example.com")],
        [av("EmailAddress", "c@example.com"), av("mx_Region", " ")],
    ]
    created = (await post(fake, "Lead/Bulk/Create", rows)).json()
    assert [row["LeadCreated"] for row in created] == [True, False, False]
    for row in created[1:]:
        assert row["ExceptionType"] == "MXMandatoryAttributeMissingException"
        assert row["ExceptionMessage"] == "Mandatory attribute missing: mx_Region"
    upserts = [
        [av("EmailAddress", "old@example.com"), av("FirstName", "Old")],
        [av("EmailAddress", "new@example.com")],
    ]
    upserted = (await post(fake, "Lead/Bulk/CreateOrUpdate", upserts)).json()
    assert [(row["LeadUpdated"], row["LeadCreated"]) for row in upserted] == [
        (True, False),
        (False, False),
    ]
    single = await post(fake, "Lead.Create", [av("EmailAddress", "s@example.com")])
    assert (single.status_code, single.json()["ExceptionType"]) == (
        500,
        "MXMandatoryAttributeMissingException",
    )
    async with httpx2.AsyncClient(
        transport=fake.transport(), base_url=BASE_URL, headers=HEADERS
    ) as http:
        update = await http.post(
            LM + "Lead.Update", params={"leadId": lead_id}, json=[av("FirstName", "O")]
        )
    assert update.status_code == 200
    assert fake.store.count() == 2


@pytest.mark.parametrize("variant", ["row", "call"])
async def test_a_custom_field_sets_typed_fields_are_checked_too(variant: str) -> None:
    """A typed field of a custom field set refuses a bad value and re-spells an option."""
    status = Field("mx_KYC.Status", "Select", options=["Pending", "Done"])
    fake = FakeLeadSquared(
        rate_limit=None,
        fields=[status],
        bad_value_refuses=variant,  # type: ignore[arg-type]
    )
    assert "mx_KYC" in by_name(await get(fake, METADATA))

    def kyc(value: str) -> dict[str, object]:
        return {"Attribute": "mx_KYC", "Value": "", "Fields": [av("status", value)]}

    good = await post(fake, "Lead.Create", [av("EmailAddress", "k@example.com"), kyc("done")])
    assert good.status_code == 200, good.text
    lead = fake.store.find_by_email("k@example.com")
    assert lead is not None
    assert lead["mx_KYC"] == {"Value": "", "Fields": {"status": "Done"}}  # name as sent
    bad = await post(fake, "Lead.Create", [av("EmailAddress", "l@example.com"), kyc("Lost")])
    assert bad.status_code == 500
    assert bad.json()["ExceptionMessage"] == (
        "Invalid value for attribute mx_KYC.Status: 'Lost' is not one of its options "
        "(Pending, Done)"
    )


def test_bad_value_refuses_is_checked_and_reaches_the_fake_from_the_command_line() -> None:
    """`--bad-value-refuses call` gives the fake that setting; a wrong value is refused."""
    parser = add_arguments(argparse.ArgumentParser())
    assert (
        build_fake(parser.parse_args(["--bad-value-refuses", "call"])).bad_value_refuses == "call"
    )
    assert build_fake(parser.parse_args([])).bad_value_refuses == "row"
    with pytest.raises(SystemExit):
        parser.parse_args(["--bad-value-refuses", "lead"])
    with pytest.raises(ValueError, match="bad_value_refuses"):
        FakeLeadSquared(bad_value_refuses="lead")  # type: ignore[arg-type]


@pytest.mark.leadsquared(fields=[Field("mx_Age", "Number")], bad_value_refuses="call")
async def test_the_marker_sets_the_variant(fake_leadsquared: FakeLeadSquared) -> None:
    """@pytest.mark.leadsquared(fields=..., bad_value_refuses="call") configures the fixture."""
    rows = [[av("EmailAddress", "k@example.com"), av("mx_Age", "old")]]
    answer = await post(fake_leadsquared, "Lead/Bulk/Create", rows)
    assert answer.status_code == 500
    assert fake_leadsquared.store.count() == 0


@pytest.mark.parametrize("variant", ["row", "call"])
async def test_through_the_client_the_bad_lead_fails_alone(variant: str) -> None:
    """Either way, through the client the lead with a bad value gets LeadRejectedError alone."""
    fake = FakeLeadSquared(rate_limit=None, fields=AGE, bad_value_refuses=variant)  # type: ignore[arg-type]
    async with (
        httpx2.AsyncClient(transport=fake.transport()) as http,
        lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            base_url=BASE_URL,
            http_client=http,
            rate_limit=lsq.RateLimit(1000, 1.0),
            backoff=0.001,
        ) as client,
    ):
        leads = [{"EmailAddress": f"t{i}@example.com", "mx_Age": str(i)} for i in range(6)]
        leads[3]["mx_Age"] = "three"
        results = await asyncio.gather(
            *(client.create_lead(lead) for lead in leads), return_exceptions=True
        )
    error = results[3]
    assert isinstance(error, lsq.LeadRejectedError)
    assert error.exception_type == "MXInvalidInputException"
    assert "'three' is not a Number" in error.reason
    assert all(isinstance(r, lsq.LeadCreated) for i, r in enumerate(results) if i != 3)
    assert fake.store.count() == 5
