"""A write's fields checked against the account's lead fields (``LeadsMetaData.Get``), offline."""

from __future__ import annotations

import datetime as dt
import enum
import json
import pickle
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from leadsq_async import ValidationError
from leadsq_async._api.encoding import CustomFieldSet, FieldValue
from leadsq_async._api.operations import (
    CreateLead,
    GetLead,
    PostActivity,
    UpdateField,
    UpdateLead,
    UpdateLeadById,
    UpsertLead,
)
from leadsq_async._api.schema import FieldSpec, LeadSchema, WriteKind

GUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))

#: A saved ``LeadsMetaData.Get`` answer, in the documented shape (``MaxLength`` as strings).
METADATA: list[dict[str, Any]] = [
    {"SchemaName": "FirstName", "DisplayName": "First Name", "DataType": "Text",
     "IsMandatory": False, "MaxLength": "100"},
    {"SchemaName": "EmailAddress", "DisplayName": "Email", "DataType": "Email",
     "IsMandatory": False, "MaxLength": "100", "IsLeadIdentifier": True},
    {"SchemaName": "Phone", "DisplayName": "Phone Number", "DataType": "Phone",
     "IsMandatory": False, "MaxLength": "10", "RangeMin": "10", "RenderTypeTextValue": "Phone",
     "IsLeadIdentifier": True, "LockAfterCreate": 1, "ShowInImport": True,
     "CreatedOn": "/Date(1417453996000+0000)/"},
    {"SchemaName": "Website", "DataType": "Website", "MaxLength": "200"},
    {"SchemaName": "LeadType", "DataType": "Select", "IsMandatory": True,
     "Options": [{"Value": "OT_0"}, {"Value": "OT_1"}], "MaxLength": "50",
     "DefaultValue": "OT_0", "RenderTypeTextValue": "Dropdown"},
    {"SchemaName": "mx_Age", "DataType": "Number", "MaxLength": "3"},
    {"SchemaName": "mx_Birthday", "DataType": "Date", "RenderTypeTextValue": "Date"},
    {"SchemaName": "mx_Visit", "DataType": "Date", "RenderTypeTextValue": "DateTime"},
    {"SchemaName": "mx_CallAt", "DataType": "Time"},
    {"SchemaName": "mx_Consent", "DataType": "Boolean"},
    {"SchemaName": "mx_Region", "DataType": "Select", "IsMandatory": "true",
     "Options": [{"Value": "North"}, {"Value": "South"}]},
    {"SchemaName": "mx_Notes", "DataType": "Text"},
    {"SchemaName": "mx_KYC", "DataType": "CustomObject"},
    {"SchemaName": "mx_Owner", "DataType": "ActiveUsers", "MaxLength": "5"},
]  # fmt: skip
SCHEMA = LeadSchema.from_metadata(METADATA)


def check(fields: dict[str, FieldValue], kind: WriteKind = WriteKind.UPDATE) -> object:
    """``SCHEMA.check_fields``, as a write of ``kind`` (an update unless told)."""
    return SCHEMA.check_fields(fields, kind)


def refusal(fields: dict[str, FieldValue], kind: WriteKind = WriteKind.UPDATE) -> str:
    """The message of the ``ValidationError`` that ``fields`` must get."""
    with pytest.raises(ValidationError) as caught:
        check(fields, kind)
    return str(caught.value)


# -- each data type: good values pass unchanged, bad ones are refused naming the rule -----------

GOOD = [
    ("mx_Age", 42),
    ("mx_Age", -3.5),
    ("mx_Age", Decimal("12.50")),
    ("mx_Age", "42"),
    ("mx_Age", " 7 "),
    ("mx_Age", "-0.5"),
    ("mx_Birthday", dt.date(2026, 2, 28)),
    ("mx_Birthday", "2024-02-29"),
    ("mx_Visit", dt.datetime(2026, 12, 7, 9, 30, tzinfo=IST)),
    ("mx_Visit", "2026-12-07 04:00"),
    ("mx_Visit", "2026-12-07 04:00:59"),
    ("mx_Visit", "2017-11-30 07:40:18.000"),  # how the service sends dates back
    ("mx_CallAt", "09:30"),
    ("mx_CallAt", "23:59:59"),
    ("mx_Consent", True),
    ("mx_Consent", False),
    ("mx_Consent", "true"),
    ("mx_Consent", "FALSE"),
    ("mx_Consent", 1),
    ("mx_Consent", "0"),
    ("EmailAddress", "ann@example.com"),
    ("EmailAddress", "ann.o+tag@mail.example.co.in"),
    ("Phone", "+91-9876543210"),  # LeadSquared's form, longer than Phone's MaxLength of 10
    ("Phone", "(020) 555 0100"),
    ("Phone", 9876543210),
    ("Website", "https://www.example.com/path?q=1"),
    ("Website", "http://example.com:8080"),
    ("Website", "example.com"),
    ("Website", "bücher.de"),
    ("mx_Notes", "anything at all, of any length " * 20),
    ("mx_KYC", "a data type the library does not know is not checked"),
    ("mx_Owner", "over MaxLength, yet of an unknown type"),
]

BAD = [
    ("mx_Age", "abc", "'abc' is not a Number"),
    ("mx_Age", "1,000", "is not a Number"),
    ("mx_Age", True, "'true' is not a Number"),  # as it will be encoded
    ("mx_Age", "1e", "is not a Number"),
    ("mx_Birthday", "31/12/2026", "'31/12/2026' is not a Date (YYYY-MM-DD)"),
    ("mx_Birthday", "2026-02-30", "is not a Date"),
    ("mx_Birthday", "2025-02-29", "is not a Date"),
    ("mx_Birthday", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "is not a Date"),
    ("mx_Visit", "2026-12-07", "'2026-12-07' is not a DateTime (YYYY-MM-DD HH:MM:SS, UTC)"),
    ("mx_Visit", dt.date(2026, 12, 7), "is not a DateTime"),
    ("mx_Visit", "2026-12-07T04:00:00", "is not a DateTime"),
    ("mx_Visit", "2026-12-07 24:00", "is not a DateTime"),
    ("mx_Visit", "2026-13-07 04:00", "is not a DateTime"),
    ("mx_CallAt", "9.30", "'9.30' is not a Time (HH:MM or HH:MM:SS)"),
    ("mx_CallAt", "24:00", "is not a Time"),
    ("mx_CallAt", "12:60", "is not a Time"),
    ("mx_CallAt", "12:00:61", "is not a Time"),
    ("mx_Consent", "maybe", "'maybe' is not a Boolean (true, false, 1 or 0)"),
    ("mx_Consent", 2, "is not a Boolean"),
    ("EmailAddress", "user10-at-example.com", "'user10-at-example.com' is not an Email address"),
    ("EmailAddress", "ann@example", "is not an Email address"),
    ("EmailAddress", "ann@@example.com", "is not an Email address"),
    ("EmailAddress", "ann smith@example.com", "is not an Email address"),
    ("Phone", "call me", "'call me' is not a Phone number"),
    ("Phone", "98765+43210", "is not a Phone number"),
    ("Phone", "+91.98765.43210", "is not a Phone number"),
    ("Website", "not a website", "is not a Website (a URL or a domain)"),
    ("Website", "ftp://example.com", "is not a Website"),
    ("Website", "localhost", "is not a Website"),
    ("Website", "https://", "is not a Website"),
]


@pytest.mark.parametrize(("name", "value"), GOOD)
def test_a_value_that_fits_its_data_type_passes_unchanged(name: str, value: FieldValue) -> None:
    """Every good value of each data type passes, and the caller's own mapping comes back."""
    fields: dict[str, FieldValue] = {name: value}
    assert check(fields) is fields


@pytest.mark.parametrize(("name", "value", "problem"), BAD)
def test_a_value_that_does_not_fit_its_data_type_is_refused(
    name: str, value: FieldValue, problem: str
) -> None:
    """Every bad value of each data type gets a ValidationError naming field, value and rule."""
    with pytest.raises(ValidationError) as caught:
        check({"FirstName": "Ann", name: value})
    assert caught.value.field == name
    assert problem in caught.value.rule
    assert str(caught.value).startswith(f"{name}: ")


def test_the_table_covers_every_data_type_the_schema_checks() -> None:
    """Each checked data type (and both renders of Date) has good and bad values above."""

    def kinds(names: set[str]) -> set[tuple[str, str]]:
        specs = [SCHEMA.get(name) for name in names]
        return {(s.data_type, s.render_type) for s in specs if s is not None}

    checked = {("Number", ""), ("Date", "Date"), ("Date", "DateTime"), ("Time", ""),
               ("Boolean", ""), ("Email", ""), ("Phone", "Phone"), ("Website", "")}  # fmt: skip
    assert kinds({name for name, *_ in BAD}) == checked
    assert kinds({name for name, _ in GOOD}) >= checked


def test_the_value_is_checked_as_it_will_be_encoded() -> None:
    """What the encoder refuses is refused as the encoder words it; a str enum is its value."""

    class Region(str, enum.Enum):  # noqa: UP042 (callers' str-mixin enums are the case)
        """A str-based enum, as callers use for dropdowns."""

        NORTH = "north"

    assert "finite number" in refusal({"mx_Age": float("nan")})
    assert "timezone-aware" in refusal({"mx_Visit": dt.datetime(2026, 1, 1)})
    assert "unsupported value type" in refusal({"mx_Age": [1]})  # type: ignore[dict-item]
    assert check({"mx_Region": Region.NORTH}) == {"mx_Region": "North"}


def test_none_or_a_blank_string_clears_a_field_of_any_type() -> None:
    """None, "" and spaces are not values to check: they clear the field, mandatory or not."""
    fields: dict[str, FieldValue] = {
        "mx_Age": None,
        "mx_Birthday": "",
        "EmailAddress": "  ",
        "LeadType": None,
        "mx_Region": "",
    }
    assert check(fields) is fields
    assert check(fields, WriteKind.UPSERT) is fields


# -- names -------------------------------------------------------------------------------------


def test_an_unknown_attribute_is_refused_with_a_suggestion() -> None:
    """A typo'd attribute names the field it is close to; a name close to none says so."""
    assert refusal({"EmailAdress": "ann@example.com"}) == (
        "EmailAdress: no such field (did you mean EmailAddress?)"
    )
    assert refusal({"mx_regoin": "North"}) == "mx_regoin: no such field (did you mean mx_Region?)"
    assert refusal({"Zzzz": "1"}) == "Zzzz: no such field in the account's lead fields"


def test_attribute_names_are_matched_without_letter_case() -> None:
    """The service matches attribute names without case, so the schema does too."""
    fields: dict[str, FieldValue] = {"emailaddress": "ann@example.com", "MX_AGE": "4"}
    assert check(fields) is fields
    assert "is not a Number" in refusal({"MX_AGE": "four"})
    assert "mx_age" in SCHEMA
    assert SCHEMA.get("PHONE") == SCHEMA.get("Phone") is not None
    assert SCHEMA.get("Mobile") is None


def test_the_lead_id_and_search_by_are_always_known() -> None:
    """ProspectID (any case, and the aliases the client accepts) and SearchBy need no metadata."""
    for name in ("ProspectID", "ProspectId", "prospectid", "LeadId", "ProspectAutoId", "SearchBy"):
        assert name in SCHEMA
        fields: dict[str, FieldValue] = {name: GUID}
        assert check(fields) is fields
    assert "ProspectID" in LeadSchema(())


def test_search_by_must_name_a_field() -> None:
    """An update or upsert matching on an attribute the account lacks is refused at the call."""
    with pytest.raises(ValidationError, match=r"^mx_Emial: no such field"):
        SCHEMA.check(UpdateLead({"mx_Emial": "x"}, search_by="mx_Emial"))
    with pytest.raises(ValidationError, match=r"^Phon: no such field \(did you mean Phone\?\)"):
        SCHEMA.check(UpsertLead({"Phone": "+91-9876543210"}, search_by="Phon"))
    op = UpdateLead({"ProspectId": GUID, "FirstName": "Ann"}, search_by="ProspectId")
    assert SCHEMA.check(op) is op


# -- dropdowns, MaxLength, mandatory -----------------------------------------------------------


def test_a_dropdown_value_must_be_one_of_its_options() -> None:
    """A value outside the options is refused, listing them."""
    assert (
        refusal({"LeadType": "OT_9"}) == "LeadType: 'OT_9' is not one of its options (OT_0, OT_1)"
    )
    assert "is not one of its options" in refusal({"LeadType": 0})


def test_a_case_only_difference_is_sent_in_the_options_own_spelling() -> None:
    """``ot_1`` is sent as ``OT_1``, in a new mapping; the caller's own is left alone."""
    fields: dict[str, FieldValue] = {"leadtype": "ot_1", "FirstName": "Ann"}
    checked = check(fields)
    assert checked == {"leadtype": "OT_1", "FirstName": "Ann"}
    assert fields == {"leadtype": "ot_1", "FirstName": "Ann"}
    exact: dict[str, FieldValue] = {"LeadType": "OT_1"}
    assert check(exact) is exact


def test_many_options_are_listed_in_part() -> None:
    """An error lists at most ten options and says how many there are."""
    options = [{"Value": f"City{n}"} for n in range(40)]
    schema = LeadSchema.from_metadata(
        [{"SchemaName": "mx_City", "DataType": "Select", "Options": options}]
    )
    with pytest.raises(ValidationError, match=r"City9, … \(40 in all\)\)$"):
        schema.check_fields({"mx_City": "Atlantis"}, WriteKind.UPDATE)


def test_a_dropdown_without_options_takes_any_value() -> None:
    """Metadata fetched with excludeOptionSets=1 has no options: values are not checked."""
    schema = LeadSchema.from_metadata([{"SchemaName": "mx_City", "DataType": "Select"}])
    fields: dict[str, FieldValue] = {"mx_City": "Atlantis"}
    assert schema.check_fields(fields, WriteKind.UPDATE) is fields


def test_a_value_over_max_length_is_refused() -> None:
    """A value longer than its field's MaxLength is refused with both numbers."""
    assert refusal({"FirstName": "x" * 120}) == (
        "FirstName: 120 characters, over its MaxLength of 100"
    )
    fields: dict[str, FieldValue] = {"FirstName": "x" * 100}
    assert check(fields) is fields
    assert "over its MaxLength of 100" in refusal({"EmailAddress": "a" * 90 + "@example.com"})


def test_mandatory_fields_are_required_on_a_create_only() -> None:
    """A create must carry every mandatory field (one with a default excepted); others need not."""
    assert refusal({"FirstName": "Ann"}, WriteKind.CREATE) == (
        "mx_Region: mandatory, missing on a create"
    )
    assert refusal({"FirstName": "Ann", "mx_Region": " "}, WriteKind.CREATE) == (
        "mx_Region: mandatory, empty on a create"
    )
    created: dict[str, FieldValue] = {"FirstName": "Ann", "MX_REGION": "North"}
    assert check(created, WriteKind.CREATE) is created  # LeadType has a DefaultValue
    for kind in (WriteKind.UPSERT, WriteKind.UPDATE, WriteKind.FIELD):
        fields: dict[str, FieldValue] = {"FirstName": "Ann"}
        assert check(fields, kind) is fields


def test_the_lead_id_is_never_mandatory() -> None:
    """Fields the service fills on a create are not asked for, whatever the metadata says."""
    schema = LeadSchema.from_metadata(
        [
            {"SchemaName": "ProspectID", "DataType": "Text", "IsMandatory": True},
            {"SchemaName": "CreatedOn", "DataType": "Date", "IsMandatory": True},
            {"SchemaName": "FirstName", "DataType": "Text", "IsMandatory": True},
        ]
    )
    with pytest.raises(ValidationError, match=r"^FirstName: mandatory, missing on a create$"):
        schema.check_fields({"ProspectID": GUID}, WriteKind.CREATE)
    fields: dict[str, FieldValue] = {"FirstName": "Ann"}
    assert schema.check_fields(fields, WriteKind.CREATE) is fields


def test_a_failing_row_harms_no_other() -> None:
    """A refusal is about its own fields only; the schema keeps no state between writes."""
    with pytest.raises(ValidationError):
        SCHEMA.check(CreateLead({"EmailAdress": "ann@example.com"}))
    ok = CreateLead({"EmailAddress": "ann@example.com", "mx_Region": "North"})
    assert SCHEMA.check(ok) is ok


# -- operations --------------------------------------------------------------------------------


def test_check_takes_each_write_operation() -> None:
    """Each lead write is checked for its kind, and comes back re-spelled when a value was."""
    assert SCHEMA.check(CreateLead({"FirstName": "Ann", "mx_Region": "north"})) == CreateLead(
        {"FirstName": "Ann", "mx_Region": "North"}
    )
    with pytest.raises(ValidationError, match="mandatory, missing on a create"):
        SCHEMA.check(CreateLead({"FirstName": "Ann"}))
    upsert = UpsertLead({"EmailAddress": "ann@example.com", "LeadType": "ot_0"})
    assert SCHEMA.check(upsert) == UpsertLead(
        {"EmailAddress": "ann@example.com", "LeadType": "OT_0"}
    )
    by_id = UpdateLeadById(GUID, {"mx_Age": "x"})
    with pytest.raises(ValidationError, match=r"^mx_Age: 'x' is not a Number$"):
        SCHEMA.check(by_id)
    field = UpdateField(GUID, "leadtype", "ot_1", lead_type="OT_0")
    assert SCHEMA.check(field) == UpdateField(GUID, "leadtype", "OT_1", lead_type="OT_0")
    same = UpdateField(GUID, "mx_Age", 5)
    assert SCHEMA.check(same) is same
    with pytest.raises(ValidationError, match=r"^mx_Agee: no such field"):
        SCHEMA.check(UpdateField(GUID, "mx_Agee", 5))


def test_reads_and_activities_pass_unchanged() -> None:
    """Lookups and activities are not lead writes: nothing of theirs is checked."""
    for op in (GetLead(GUID), PostActivity(event=201, email="a@b.c", fields={"mx_Custom_1": "x"})):
        assert SCHEMA.check(op) is op


def test_custom_field_sets_are_checked_by_name_only() -> None:
    """A set's own fields are not described by the metadata, so only its name is checked."""
    fields: dict[str, FieldValue] = {
        "mx_KYC": {"Status": "Pending"},
        "mx_Notes": CustomFieldSet({"Anything": 1}, "v"),
    }
    assert check(fields) is fields
    assert "no such field" in refusal({"mx_KYK": {"Status": "Pending"}})


def test_what_the_encoder_refuses_is_left_to_it() -> None:
    """A non-mapping or a non-string name is not the schema's to name: the encoder does it."""
    text: Any = "not a mapping"
    assert SCHEMA.check_fields(text, WriteKind.UPDATE) is text
    odd: dict[Any, FieldValue] = {1: "x"}
    assert SCHEMA.check_fields(odd, WriteKind.UPDATE) is odd


# -- reading the metadata ----------------------------------------------------------------------


def test_the_offline_schema_is_loaded_from_a_saved_answer(tmp_path: Path) -> None:
    """A saved LeadsMetaData.Get answer gives the same schema as the answer itself."""
    saved = tmp_path / "metadata.json"
    saved.write_text(json.dumps(METADATA), encoding="utf-8")
    schema = LeadSchema.load(saved)
    assert schema == SCHEMA
    assert LeadSchema.load(str(saved)) == SCHEMA
    assert LeadSchema.from_metadata(saved.read_bytes()) == SCHEMA
    assert LeadSchema.from_metadata(saved.read_text(encoding="utf-8")) == SCHEMA
    assert refusal({"mx_Age": "abc"}) == "mx_Age: 'abc' is not a Number"
    with pytest.raises(ValidationError, match=r"^LeadType: 'OT_9'"):
        schema.check_fields({"LeadType": "OT_9"}, WriteKind.UPDATE)
    assert repr(schema) == f"LeadSchema({len(METADATA)} fields)"
    assert pickle.loads(pickle.dumps(schema)) == schema


def test_the_metadata_is_read_as_documented() -> None:
    """Each entry's documented keys become its FieldSpec (MaxLength from its string)."""
    assert SCHEMA.get("Phone") == FieldSpec(
        schema_name="Phone",
        data_type="Phone",
        display_name="Phone Number",
        render_type="Phone",
        max_length=10,
        is_lead_identifier=True,
    )
    lead_type = SCHEMA.get("leadtype")
    assert lead_type is not None
    assert lead_type.options == ("OT_0", "OT_1")
    assert lead_type.mandatory
    assert lead_type.default_value == "OT_0"
    region = SCHEMA.get("mx_Region")
    assert region is not None
    assert region.mandatory  # "true" as a string
    assert len(SCHEMA) == len(METADATA)
    assert [spec.schema_name for spec in SCHEMA][:2] == ["FirstName", "EmailAddress"]


def test_entries_it_cannot_read_are_skipped() -> None:
    """Junk entries are left out, odd values read as 'no rule'; the rest of the answer counts."""
    schema = LeadSchema.from_metadata(
        [
            "FirstName",
            None,
            {"DisplayName": "no schema name"},
            {"SchemaName": "  ", "DataType": "Text"},
            {"SchemaName": 7, "DataType": "Text"},
            {"SchemaName": "mx_A", "DataType": None, "MaxLength": "abc", "IsMandatory": "no"},
            {"SchemaName": "mx_B", "DataType": "Text", "MaxLength": "0", "Options": "x;y"},
            {"SchemaName": "mx_C", "DataType": "Select", "Options": [None, {"Value": 3}, {}]},
            {"SchemaName": "mx_D", "DataType": "Number", "MaxLength": 4, "IsMandatory": 1},
            {"SchemaName": "mx_d", "DataType": "Text"},
            {"SchemaName": "mx_E", "DataType": "Date", "RenderTypeTextValue": "Calendar"},
        ]
    )
    assert [spec.schema_name for spec in schema] == ["mx_A", "mx_B", "mx_C", "mx_D", "mx_d", "mx_E"]
    fields: dict[str, FieldValue] = {"mx_A": "x" * 500, "mx_B": "y" * 500, "mx_C": "z", "mx_D": 12}
    assert schema.check_fields(fields, WriteKind.UPDATE) is fields
    with pytest.raises(ValidationError, match=r"^mx_d: 'twelve' is not a Number$"):
        schema.check_fields({"mx_d": "twelve"}, WriteKind.UPDATE)  # the first of the two wins
    with pytest.raises(ValidationError, match=r"^mx_D: mandatory, missing on a create$"):
        schema.check_fields({"mx_A": "x"}, WriteKind.CREATE)
    for either in ("2026-12-07", "2026-12-07 04:00:00"):
        assert schema.check_fields({"mx_E": either}, WriteKind.UPDATE) == {"mx_E": either}
    with pytest.raises(ValidationError, match="is not a Date"):
        schema.check_fields({"mx_E": "soon"}, WriteKind.UPDATE)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"<html>", "not JSON"),
        ("", "not JSON"),
        ('{"Status": "Error"}', "not dict"),
        (b"null", "not NoneType"),
    ],
)
def test_an_answer_that_is_no_array_is_refused(answer: bytes | str, problem: str) -> None:
    """An answer that is not a JSON array of fields (an error envelope, HTML) is a ValueError."""
    with pytest.raises(ValueError, match=problem):
        LeadSchema.from_metadata(answer)
