"""The wire format both ways: value encoding, answer parsing, and per-endpoint decoding."""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async._api.answers import (
    NOT_JSON,
    AffectedAnswer,
    ErrorEnvelope,
    IdentifiedLead,
    RowAnswer,
    UpdateV2Answer,
    WireError,
    parse_json,
    structure,
)
from leadsq_async._api.encoding import encode_fields, encode_value, wire_items
from leadsq_async._api.registry import ENDPOINTS, Row, RowOutcome
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

BASE_URL = "https://api-in21.leadsquared.com"
RATE = lsq.RateLimit(25, 0.25)
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
PST = dt.timezone(dt.timedelta(hours=-8))

CREATE = "Lead/Bulk/Create"
UPSERT = "Lead/Bulk/CreateOrUpdate"
UPDATE_V2 = "Lead/Bulk/UpdateV2"
UPDATE_FIELD = "Lead/Bulk/Update"
LEAD_UPDATE = "Lead.Update"

GUIDS = [
    "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    "0b9f5b6e-6a4e-4d1c-9a51-7d8c2b1f0e11",
    "9d1c1a7e-2b3f-4c5d-8e6f-a0b1c2d3e4f5",
]


class Colour(str, enum.Enum):  # noqa: UP042 (callers' str-mixin enums are the case)
    """A str-based enum, as callers often use for picklist values."""

    RED = "Red"


# -- encoding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        pytest.param("Ann", "Ann", id="str"),
        pytest.param("", "", id="empty-str"),
        pytest.param("  padded ", "  padded ", id="str-kept-verbatim"),
        pytest.param("नमस्ते ✓", "नमस्ते ✓", id="unicode-str"),
        pytest.param(Colour.RED, "Red", id="str-enum"),
        pytest.param(42, "42", id="int"),
        pytest.param(-7, "-7", id="negative-int"),
        pytest.param(0, "0", id="zero"),
        pytest.param(10**20, "100000000000000000000", id="big-int"),
        pytest.param(1.5, "1.5", id="float"),
        pytest.param(0.1, "0.1", id="float-shortest-repr"),
        pytest.param(Decimal("12.50"), "12.50", id="decimal-keeps-scale"),
        pytest.param(Decimal("-0.001"), "-0.001", id="decimal-negative"),
        pytest.param(True, "true", id="bool-true"),
        pytest.param(False, "false", id="bool-false"),
        pytest.param(dt.date(2024, 2, 29), "2024-02-29", id="date"),
        pytest.param(
            dt.datetime(2024, 3, 1, 12, 0, 0, tzinfo=dt.UTC),
            "2024-03-01 12:00:00",
            id="datetime-utc",
        ),
        pytest.param(
            dt.datetime(2024, 3, 1, 5, 30, 15, tzinfo=IST),
            "2024-03-01 00:00:15",
            id="datetime-ist-to-utc",
        ),
        pytest.param(
            dt.datetime(2024, 12, 31, 20, 0, 0, tzinfo=PST),
            "2025-01-01 04:00:00",
            id="datetime-crosses-year-to-utc",
        ),
        pytest.param(
            dt.datetime(2024, 3, 1, 12, 0, 0, 999_999, tzinfo=dt.UTC),
            "2024-03-01 12:00:00",
            id="datetime-drops-microseconds",
        ),
        pytest.param(None, "", id="none-clears"),
    ],
)
def test_encode_value(value: object, wire: str) -> None:
    """Each supported scalar type is encoded to the service's string form."""
    assert encode_value("mx_Field", value) == wire


def test_encode_fields_custom_field_set() -> None:
    """A CustomFieldSet becomes an Attribute/Value/Fields item with its inner values encoded."""
    items = wire_items(
        encode_fields(
            {
                "EmailAddress": "ann@example.com",
                "mx_KYC": lsq.CustomFieldSet(
                    {"Status": "Pending", "mx_Count": 3, "mx_Ok": True}, value="Doc"
                ),
                "mx_Empty": lsq.CustomFieldSet(),
            }
        )
    )
    assert items == [
        {"Attribute": "EmailAddress", "Value": "ann@example.com"},
        {
            "Attribute": "mx_KYC",
            "Value": "Doc",
            "Fields": [
                {"Attribute": "Status", "Value": "Pending"},
                {"Attribute": "mx_Count", "Value": "3"},
                {"Attribute": "mx_Ok", "Value": "true"},
            ],
        },
        {"Attribute": "mx_Empty", "Value": "", "Fields": []},
    ]


def test_encode_fields_nested_mapping_is_a_custom_field_set() -> None:
    """A mapping as a value is the custom field set of those fields (value ""), encoded alike."""
    as_mapping = encode_fields(
        {"mx_KYC": {"Status": "Pending", "mx_Count": 3}, "mx_Doc": MappingProxyType({"A": 1})}
    )
    as_class = encode_fields(
        {
            "mx_KYC": lsq.CustomFieldSet({"Status": "Pending", "mx_Count": 3}),
            "mx_Doc": lsq.CustomFieldSet({"A": 1}),
        }
    )
    assert as_mapping == as_class
    assert wire_items(as_mapping)[0] == {
        "Attribute": "mx_KYC",
        "Value": "",
        "Fields": [
            {"Attribute": "Status", "Value": "Pending"},
            {"Attribute": "mx_Count", "Value": "3"},
        ],
    }


async def test_json_body_with_a_nested_object_upserts_a_custom_field_set(
    env: tuple[FakeLeadSquared, lsq.LeadSquaredClient],
) -> None:
    """A JSON body (json.loads) with an object under mx_KYC goes through as a custom field set."""
    fake, client = env
    body = json.loads('{"EmailAddress": "kyc@example.com", "mx_KYC": {"Status": "Pending"}}')
    upserted = await client.upsert_lead(body, search_by="EmailAddress")
    stored = fake.store.get(upserted.lead_id)
    assert stored is not None
    assert stored["mx_KYC"] == {"Value": "", "Fields": {"Status": "Pending"}}


def test_encode_fields_keeps_caller_order() -> None:
    """Encoded items keep the order the caller gave the fields in."""
    fields = {"b": 1, "a": 2, "EmailAddress": "x@example.com", "c": 3}
    assert list(encode_fields(fields)) == ["b", "a", "EmailAddress", "c"]


def test_upsert_request_appends_search_by() -> None:
    """An upsert's request carries its search_by as a trailing SearchBy attribute."""
    endpoint = ENDPOINTS[UPSERT]
    with_key = endpoint.prepare(lsq.UpsertLead({"mx_Code": "C1", "FirstName": "A"}, "mx_Code"))
    without = endpoint.prepare(lsq.UpsertLead({"EmailAddress": "a@example.com"}))
    _, body = endpoint.request([with_key, without])
    assert body == [
        [
            {"Attribute": "mx_Code", "Value": "C1"},
            {"Attribute": "FirstName", "Value": "A"},
            {"Attribute": "SearchBy", "Value": "mx_Code"},
        ],
        [{"Attribute": "EmailAddress", "Value": "a@example.com"}],
    ]


@pytest.fixture
async def env() -> AsyncIterator[tuple[FakeLeadSquared, lsq.LeadSquaredClient]]:
    """A client wired in-process to a fresh fake."""
    fake = FakeLeadSquared(rate_limit=RATE)
    async with (
        httpx2.AsyncClient(transport=fake.transport()) as http,
        lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=BASE_URL, http_client=http, rate_limit=RATE
        ) as client,
    ):
        yield fake, client


async def test_create_round_trip_through_the_fake(
    env: tuple[FakeLeadSquared, lsq.LeadSquaredClient],
) -> None:
    """Every value type arrives at the fake in its wire form after a create."""
    fake, client = env
    created = await client.create_lead(
        {
            "EmailAddress": "ann@example.com",
            "FirstName": "Ann",
            "mx_Int": 42,
            "mx_Float": 1.5,
            "mx_Decimal": Decimal("9.90"),
            "mx_Yes": True,
            "mx_No": False,
            "mx_Date": dt.date(2024, 2, 29),
            "mx_When": dt.datetime(2024, 3, 1, 5, 30, 15, tzinfo=IST),
            "mx_Blank": None,
            "mx_Pick": Colour.RED,
            "mx_KYC": lsq.CustomFieldSet({"Status": "Pending", "mx_Doc": 7}, value="K"),
        }
    )
    stored = fake.store.get(created.lead_id)
    assert stored == {
        "ProspectID": created.lead_id,
        "EmailAddress": "ann@example.com",
        "FirstName": "Ann",
        "mx_Int": "42",
        "mx_Float": "1.5",
        "mx_Decimal": "9.90",
        "mx_Yes": "true",
        "mx_No": "false",
        "mx_Date": "2024-02-29",
        "mx_When": "2024-03-01 00:00:15",
        "mx_Blank": "",
        "mx_Pick": "Red",
        "mx_KYC": {"Value": "K", "Fields": {"Status": "Pending", "mx_Doc": "7"}},
    }


async def test_none_clears_a_field_on_update(
    env: tuple[FakeLeadSquared, lsq.LeadSquaredClient],
) -> None:
    """Updating a field to None stores an empty string: the field is cleared."""
    fake, client = env
    created = await client.create_lead({"EmailAddress": "ann@example.com", "mx_City": "Pune"})
    result = await client.update_lead_by_id(created.lead_id, {"mx_City": None})
    assert result == lsq.LeadUpdated("ProspectId", created.lead_id, created.lead_id)
    stored = fake.store.get(created.lead_id)
    assert stored is not None
    assert stored["mx_City"] == ""


# -- parsing helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "cls", "expected"),
    [
        pytest.param({"RowNumber": 3}, RowAnswer, RowAnswer(row_number=3), id="int"),
        pytest.param({"RowNumber": "3"}, RowAnswer, RowAnswer(row_number=3), id="digit-str-int"),
        pytest.param(
            {"RowNumber": " 12 "}, RowAnswer, RowAnswer(row_number=12), id="padded-digit-str"
        ),
        pytest.param(
            {"LeadCreated": "true"}, RowAnswer, RowAnswer(lead_created=True), id="str-true"
        ),
        pytest.param(
            {"LeadCreated": "False"}, RowAnswer, RowAnswer(lead_created=False), id="str-false"
        ),
        pytest.param({"LeadCreated": True}, RowAnswer, RowAnswer(lead_created=True), id="bool"),
        pytest.param({"LeadId": None}, RowAnswer, RowAnswer(), id="null-optional"),
        pytest.param(
            {"RowNumber": 1, "LeadId": "x", "Unknown": [1, {"a": 2}], "Status": "Ok"},
            RowAnswer,
            RowAnswer(row_number=1, lead_id="x"),
            id="unknown-keys-ignored",
        ),
        pytest.param({}, RowAnswer, RowAnswer(), id="empty-object"),
        pytest.param(
            {"Status": "Error", "ExceptionType": "MXX", "ExceptionMessage": "m"},
            ErrorEnvelope,
            ErrorEnvelope("Error", "MXX", "m"),
            id="error-envelope",
        ),
        pytest.param(
            {"Status": "Success", "Message": {"AffectedRows": "2"}},
            AffectedAnswer,
            structure({"Status": "Success", "Message": {"AffectedRows": 2}}, AffectedAnswer),
            id="nested-digit-str",
        ),
        pytest.param("abc", str, "abc", id="plain-str"),
    ],
)
def test_structure_accepts(data: object, cls: type, expected: object) -> None:
    """structure() reads well-formed answers, tolerating digit strings and "true"/"false"."""
    assert structure(data, cls) == expected


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        pytest.param({"RowNumber": "three"}, RowAnswer, id="non-digit-str-for-int"),
        pytest.param({"RowNumber": "-1"}, RowAnswer, id="signed-str-for-int"),
        pytest.param({"RowNumber": 1.0}, RowAnswer, id="float-for-int"),
        pytest.param({"RowNumber": True}, RowAnswer, id="bool-for-int"),
        pytest.param({"LeadCreated": 1}, RowAnswer, id="int-for-bool"),
        pytest.param({"LeadCreated": "yes"}, RowAnswer, id="yes-for-bool"),
        pytest.param({"LeadCreated": None, "LeadId": 5}, RowAnswer, id="int-for-str"),
        pytest.param({"LeadId": ["x"]}, RowAnswer, id="list-for-str"),
        pytest.param(None, str, id="none-for-str"),
        pytest.param(5, str, id="int-for-plain-str"),
        pytest.param([], RowAnswer, id="list-for-object"),
        pytest.param("Success", AffectedAnswer, id="str-for-object"),
        pytest.param(
            {"Message": "3 rows"},
            AffectedAnswer,
            id="str-for-nested-object",
        ),
        pytest.param(
            {"Details": {"SuccessfulLeads": "nope"}},
            UpdateV2Answer,
            id="str-for-nested-list",
        ),
        pytest.param("junk", IdentifiedLead, id="str-for-update-v2-entry"),
        pytest.param(
            {"Details": {"SuccessfulLeads": {"a": 1}}},
            UpdateV2Answer,
            id="object-for-nested-list",
        ),
        pytest.param({"IdentifierValue": 3}, IdentifiedLead, id="int-in-update-v2-entry"),
    ],
)
def test_structure_rejects(data: object, cls: type) -> None:
    """structure() raises WireError (never another exception) for every wrong shape."""
    with pytest.raises(WireError):
        structure(data, cls)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b'{"a": 1}', {"a": 1}, id="object"),
        pytest.param(b"[1, 2]", [1, 2], id="array"),
        pytest.param(b"null", None, id="null-is-json"),
        pytest.param(b'"text"', "text", id="string"),
        pytest.param(b"", NOT_JSON, id="empty"),
        pytest.param(b"<html>502 Bad Gateway</html>", NOT_JSON, id="html"),
        pytest.param(b'{"a": 1', NOT_JSON, id="truncated"),
        pytest.param(b"\xff\xfe\xfa", NOT_JSON, id="not-utf8"),
        pytest.param(b"[" * 100_000, NOT_JSON, id="too-deep"),
    ],
)
def test_parse_json(content: bytes, expected: object) -> None:
    """parse_json() gives the parsed value, or NOT_JSON for anything that is not JSON."""
    parsed = parse_json(content)
    if expected is NOT_JSON:
        assert parsed is NOT_JSON
    else:
        assert parsed == expected


# -- endpoint decoding ----------------------------------------------------------------------


def rows_for(endpoint: str, ops: Sequence[object]) -> list[Row]:
    """Rows prepared by ``endpoint`` for ``ops``."""
    spec = ENDPOINTS[endpoint]
    return [spec.prepare(op) for op in ops]


def creates(n: int = 3) -> list[Row]:
    """``n`` prepared create rows."""
    return rows_for(
        CREATE, [lsq.CreateLead({"EmailAddress": f"l{i}@example.com"}) for i in range(n)]
    )


def created(number: int, lead_id: str) -> dict[str, object]:
    """A successful create row answer."""
    return {"RowNumber": number, "LeadId": lead_id, "LeadCreated": True}


def decode(endpoint: str, rows: list[Row], data: object) -> list[RowOutcome]:
    """Decode ``data`` for ``rows``, checking one outcome per row."""
    outcomes = ENDPOINTS[endpoint].decode(rows, data)
    assert len(outcomes) == len(rows)
    return outcomes


def test_create_rows_matched_by_row_number_in_any_order() -> None:
    """Create answers are matched to rows by RowNumber, not by position."""
    data = [created(3, "id-3"), created(1, "id-1"), created(2, "id-2")]
    assert decode(CREATE, creates(), data) == [
        lsq.LeadCreated("id-1"),
        lsq.LeadCreated("id-2"),
        lsq.LeadCreated("id-3"),
    ]


def test_create_row_number_as_digit_string() -> None:
    """A RowNumber sent as a digit string still matches its row."""
    data = [created(2, "id-2"), {"RowNumber": "1", "LeadId": "id-1", "LeadCreated": "true"}]
    assert decode(CREATE, creates(2), data) == [lsq.LeadCreated("id-1"), lsq.LeadCreated("id-2")]


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        pytest.param([created(1, "a"), created(3, "c")], [False, False, False], id="missing-row"),
        pytest.param(
            [created(1, "a"), created(2, "b"), created(2, "b2"), created(3, "c")],
            [False, False, False],
            id="repeated-row-number",
        ),
        pytest.param([], [False, False, False], id="empty-answer"),
        pytest.param(
            [created(1, "a"), {"RowNumber": 2, "LeadId": "b"}, created(3, "c")],
            [True, False, True],
            id="row-without-created-flag",
        ),
        pytest.param(
            [created(1, "a"), {"RowNumber": 2, "LeadCreated": True}, created(3, "c")],
            [True, False, True],
            id="created-without-lead-id",
        ),
    ],
)
def test_create_unaccounted_rows_are_mismatches(data: object, ok: list[bool]) -> None:
    """A row left unclear fails alone; a row missing or repeated makes every row a mismatch."""
    outcomes = decode(CREATE, creates(), data)
    for outcome, good in zip(outcomes, ok, strict=True):
        if good:
            assert isinstance(outcome, lsq.LeadCreated)
        else:
            assert isinstance(outcome, lsq.ResponseMismatchError)
            assert isinstance(outcome, lsq.OutcomeUnknownError)


def test_create_out_of_range_row_numbers_fail_every_row() -> None:
    """Answers with RowNumber 0, beyond the call, or none at all make the numbering untrusted."""
    data = [
        created(0, "zero"),
        created(4, "four"),
        {"LeadId": "none", "LeadCreated": True},
        created(1, "a"),
        created(2, "b"),
    ]
    outcomes = decode(CREATE, creates(2), data)
    assert all(isinstance(o, lsq.ResponseMismatchError) for o in outcomes)


@pytest.mark.parametrize(
    ("answer", "error_type", "exception_type", "reason"),
    [
        pytest.param(
            {
                "ExceptionType": "MXDuplicateEntryException",
                "ExceptionMessage": "A lead with the same EmailAddress already exists",
            },
            lsq.LeadRejectedError,
            "MXDuplicateEntryException",
            "A lead with the same EmailAddress already exists",
            id="exception-type-and-message",
        ),
        pytest.param(
            {"ErrorMessage": "Mandatory attribute missing"},
            lsq.LeadRejectedError,
            None,
            "Mandatory attribute missing",
            id="error-message",
        ),
        pytest.param(
            {"ExceptionType": "MXInvalidEntityException", "ExceptionMessage": "no such lead"},
            lsq.LeadNotFoundError,
            "MXInvalidEntityException",
            "no such lead",
            id="invalid-entity-is-not-found",
        ),
        pytest.param(
            {}, lsq.LeadRejectedError, None, "the service did not apply the row", id="no-reason"
        ),
    ],
)
def test_create_failed_row(
    answer: dict[str, object],
    error_type: type[lsq.LeadRejectedError],
    exception_type: str | None,
    reason: str,
) -> None:
    """A row with LeadCreated false becomes a LeadRejectedError carrying type and reason."""
    data = [created(1, "a"), {"RowNumber": 2, "LeadCreated": False, **answer}]
    first, second = decode(CREATE, creates(2), data)
    assert first == lsq.LeadCreated("a")
    assert type(second) is error_type
    assert isinstance(second, lsq.LeadRejectedError)
    assert second.exception_type == exception_type
    assert second.reason == reason


def test_create_answer_not_a_list_is_wire_error() -> None:
    """A create answer that is not a JSON array raises WireError for the whole call."""
    with pytest.raises(WireError):
        ENDPOINTS[CREATE].decode(creates(1), {"RowNumber": 1})


def upserts(n: int = 2) -> list[Row]:
    """``n`` prepared upsert rows."""
    return rows_for(UPSERT, [lsq.UpsertLead({"EmailAddress": f"u{i}@x.com"}) for i in range(n)])


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        pytest.param(
            {"LeadId": "L", "LeadCreated": True, "LeadUpdated": False},
            lsq.LeadUpserted("L", created=True, updated=False),
            id="created",
        ),
        pytest.param(
            {"LeadId": "L", "LeadCreated": False, "LeadUpdated": True, "AffectedRows": 1},
            lsq.LeadUpserted("L", created=False, updated=True),
            id="updated",
        ),
        pytest.param(
            {"LeadId": "L", "LeadCreated": "false", "LeadUpdated": "true"},
            lsq.LeadUpserted("L", created=False, updated=True),
            id="string-flags",
        ),
        pytest.param(
            {"LeadId": "L", "LeadUpdated": True},
            lsq.LeadUpserted("L", created=False, updated=True),
            id="created-flag-absent",
        ),
    ],
)
def test_upsert_flags(answer: dict[str, object], expected: lsq.LeadUpserted) -> None:
    """Upsert rows say whether the lead was created or updated."""
    (outcome,) = decode(UPSERT, upserts(1), [{"RowNumber": 1, **answer}])
    assert outcome == expected


@pytest.mark.parametrize(
    ("answer", "error_type"),
    [
        pytest.param(
            {
                "LeadCreated": False,
                "LeadUpdated": False,
                "ExceptionType": "MXDuplicateEntryException",
                "ExceptionMessage": "dup",
            },
            lsq.LeadRejectedError,
            id="exception",
        ),
        pytest.param(
            {"LeadCreated": False, "LeadUpdated": False, "ErrorMessage": "dup"},
            lsq.LeadRejectedError,
            id="error-message",
        ),
        pytest.param(
            {"LeadCreated": False, "LeadUpdated": False},
            lsq.LeadRejectedError,
            id="neither-without-reason",
        ),
        pytest.param({"LeadId": "L"}, lsq.ResponseMismatchError, id="no-flags"),
        pytest.param(
            {"LeadCreated": True, "LeadUpdated": False}, lsq.ResponseMismatchError, id="no-lead-id"
        ),
    ],
)
def test_upsert_failures(answer: dict[str, object], error_type: type[Exception]) -> None:
    """Upsert rows that failed are rejections; rows that say nothing usable are mismatches."""
    ok, bad = decode(
        UPSERT,
        upserts(2),
        [{"RowNumber": 2, **answer}, {"RowNumber": 1, "LeadId": "A", "LeadCreated": True}],
    )
    assert ok == lsq.LeadUpserted("A", created=True, updated=False)
    assert type(bad) is error_type


def v2_answer(
    ok: Sequence[str] = (),
    failed: Sequence[tuple[str, str | None]] = (),
    unprocessed: Sequence[str] = (),
) -> dict[str, object]:
    """An UpdateV2 answer naming these identifier values."""
    details: dict[str, object] = {}
    if ok:
        details["SuccessfulLeads"] = [
            {"Identifier": "EmailAddress", "IdentifierValue": v} for v in ok
        ]
    if failed:
        details["FailedLeads"] = [
            {"Identifier": "EmailAddress", "IdentifierValue": v, "Reason": r} for v, r in failed
        ]
    if unprocessed:
        details["UnProcessedLeads"] = [
            {"Identifier": "EmailAddress", "IdentifierValue": v, "Reason": "Lead does not exist"}
            for v in unprocessed
        ]
    return {"Status": {"TotalCount": 1}, "Details": details}


def v2_rows(*emails: str) -> list[Row]:
    """UpdateV2 rows matched by EmailAddress."""
    return rows_for(
        UPDATE_V2, [lsq.UpdateLead({"EmailAddress": e, "FirstName": "X"}) for e in emails]
    )


@pytest.mark.parametrize(
    "identifier_value",
    [
        pytest.param("Ann@Example.com", id="exact"),
        pytest.param("ann@example.com", id="lowercase"),
        pytest.param("ANN@EXAMPLE.COM", id="uppercase"),
        pytest.param("  ann@example.com \t", id="surrounding-whitespace"),
    ],
)
def test_update_v2_matches_identifier_leniently(identifier_value: str) -> None:
    """UpdateV2 rows match IdentifierValue regardless of case and surrounding whitespace."""
    (outcome,) = decode(UPDATE_V2, v2_rows("Ann@Example.com"), v2_answer(ok=[identifier_value]))
    assert outcome == lsq.LeadUpdated("EmailAddress", "Ann@Example.com", None)


def test_update_v2_by_id_reports_lead_id() -> None:
    """An update by lead id is matched on ProspectId and reports the id in canonical form."""
    rows = rows_for(UPDATE_V2, [lsq.UpdateLeadById(GUIDS[0].upper(), {"FirstName": "X"})])
    answer = {"Details": {"SuccessfulLeads": [{"IdentifierValue": GUIDS[0]}]}}
    (outcome,) = decode(UPDATE_V2, rows, answer)
    assert outcome == lsq.LeadUpdated("ProspectId", GUIDS[0], GUIDS[0])


@pytest.mark.parametrize(
    ("answer", "error_type", "exception_type"),
    [
        pytest.param(
            v2_answer(failed=[("b@x.com", "Lead does not exist")]),
            lsq.LeadNotFoundError,
            None,
            id="failed-does-not-exist",
        ),
        pytest.param(
            v2_answer(failed=[("b@x.com", "The Lead DOES NOT EXIST in the system")]),
            lsq.LeadNotFoundError,
            None,
            id="failed-does-not-exist-any-case",
        ),
        pytest.param(
            v2_answer(unprocessed=["b@x.com"]),
            lsq.LeadNotFoundError,
            None,
            id="unprocessed",
        ),
        pytest.param(
            v2_answer(failed=[("b@x.com", "MXDuplicateEntryException: same Phone exists")]),
            lsq.LeadRejectedError,
            "MXDuplicateEntryException",
            id="failed-other-reason",
        ),
        pytest.param(
            v2_answer(failed=[("b@x.com", None)]),
            lsq.LeadRejectedError,
            None,
            id="failed-without-reason",
        ),
        pytest.param(
            v2_answer(ok=["b@x.com"], failed=[("b@x.com", "dup")]),
            lsq.ResponseMismatchError,
            None,
            id="named-twice",
        ),
        pytest.param(v2_answer(), lsq.ResponseMismatchError, None, id="missing"),
        pytest.param(
            {"Details": {"SuccessfulLeads": [{"Identifier": "EmailAddress"}]}},
            lsq.ResponseMismatchError,
            None,
            id="entry-without-value",
        ),
    ],
)
def test_update_v2_row_outcomes(
    answer: dict[str, object], error_type: type[Exception], exception_type: str | None
) -> None:
    """Each UpdateV2 failure form maps to its error for that row only."""
    rows = v2_rows("a@x.com", "b@x.com")
    answer.setdefault("Details", {})
    answer["Details"].setdefault("SuccessfulLeads", [])  # type: ignore[union-attr]
    answer["Details"]["SuccessfulLeads"].append({"IdentifierValue": "a@x.com"})  # type: ignore[index]
    first, second = decode(UPDATE_V2, rows, answer)
    assert first == lsq.LeadUpdated("EmailAddress", "a@x.com", None)
    assert type(second) is error_type
    if isinstance(second, lsq.LeadRejectedError):
        assert second.exception_type == exception_type
        assert second.reason


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"Status": {"TotalCount": 1}}, id="no-details"),
        pytest.param({"Details": None}, id="null-details"),
        pytest.param([], id="array"),
        pytest.param({"Details": {"SuccessfulLeads": {"a": 1}}}, id="object-for-list"),
        pytest.param({"Details": "none"}, id="str-for-details"),
    ],
)
def test_update_v2_bad_answer_is_wire_error(data: object) -> None:
    """An UpdateV2 answer without usable Details raises WireError for the whole call."""
    with pytest.raises(WireError):
        ENDPOINTS[UPDATE_V2].decode(v2_rows("a@x.com"), data)


def field_rows(n: int = 3) -> list[Row]:
    """``n`` prepared Bulk/Update rows setting mx_Stage to Won."""
    return rows_for(UPDATE_FIELD, [lsq.UpdateField(g, "mx_Stage", "Won") for g in GUIDS[:n]])


@pytest.mark.parametrize(
    ("affected", "confirmed"),
    [
        pytest.param(3, True, id="all-rows"),
        pytest.param("3", True, id="all-rows-digit-string"),
        pytest.param(2, False, id="fewer"),
        pytest.param(1, False, id="one"),
    ],
)
def test_bulk_update_affected_rows(affected: object, confirmed: bool) -> None:
    """Bulk/Update confirms its rows only when AffectedRows covers every row of the call."""
    data = {"Status": "Success", "Message": {"AffectedRows": affected}}
    outcomes = decode(UPDATE_FIELD, field_rows(3), data)
    count = int(str(affected))
    assert outcomes == [
        lsq.FieldUpdated(g, "mx_Stage", confirmed=confirmed, affected_rows=count, call_rows=3)
        for g in GUIDS
    ]


def test_bulk_update_zero_affected_is_not_found() -> None:
    """Bulk/Update with AffectedRows 0 fails every row with LeadNotFoundError."""
    data = {"Status": "Success", "Message": {"AffectedRows": 0}}
    outcomes = decode(UPDATE_FIELD, field_rows(2), data)
    assert all(type(o) is lsq.LeadNotFoundError for o in outcomes)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"Status": "Success"}, id="no-message"),
        pytest.param({"Status": "Success", "Message": {}}, id="no-affected-rows"),
        pytest.param({"Status": "Success", "Message": {"AffectedRows": "many"}}, id="bad-count"),
        pytest.param([], id="array"),
    ],
)
def test_bulk_update_bad_answer_is_wire_error(data: object) -> None:
    """A Bulk/Update answer without a usable AffectedRows raises WireError."""
    with pytest.raises(WireError):
        ENDPOINTS[UPDATE_FIELD].decode(field_rows(1), data)


def test_bulk_update_request_body() -> None:
    """Bulk/Update sends the call's lead ids with the one shared field and value."""
    rows = rows_for(
        UPDATE_FIELD, [lsq.UpdateField(g, "mx_Stage", 3, lead_type="OT_1") for g in GUIDS[:2]]
    )
    assert ENDPOINTS[UPDATE_FIELD].request(rows) == (
        {},
        {
            "LeadIds": GUIDS[:2],
            "LeadFields": {"Attribute": "mx_Stage", "Value": "3"},
            "Attribute": "LeadType",
            "Value": "OT_1",
        },
    )


def lead_update_row(lead_id: str = GUIDS[0]) -> list[Row]:
    """One prepared Lead.Update row."""
    return rows_for(
        LEAD_UPDATE, [lsq.UpdateLeadById(lead_id, {"FirstName": "X"}, post_updated_lead=True)]
    )


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"Status": "Success", "Message": {"AffectedRows": 1}}, id="affected-one"),
        pytest.param({"Status": "Success"}, id="no-message"),
    ],
)
def test_lead_update_success(data: object) -> None:
    """Lead.Update with Status Success updates the lead addressed by id."""
    (outcome,) = decode(LEAD_UPDATE, lead_update_row(f"  {GUIDS[1]} "), data)
    assert outcome == lsq.LeadUpdated("ProspectId", GUIDS[1], GUIDS[1])


def test_lead_update_zero_affected_is_not_found() -> None:
    """Lead.Update with AffectedRows 0 reports LeadNotFoundError."""
    data = {"Status": "Success", "Message": {"AffectedRows": 0}}
    (outcome,) = decode(LEAD_UPDATE, lead_update_row(), data)
    assert type(outcome) is lsq.LeadNotFoundError


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"Status": "Error"}, id="status-error"),
        pytest.param({}, id="no-status"),
        pytest.param([], id="array"),
    ],
)
def test_lead_update_bad_answer_is_wire_error(data: object) -> None:
    """Lead.Update without Status Success raises WireError."""
    with pytest.raises(WireError):
        ENDPOINTS[LEAD_UPDATE].decode(lead_update_row(), data)


def test_lead_update_request() -> None:
    """Lead.Update sends the lead id and postUpdatedLead as query parameters."""
    params, body = ENDPOINTS[LEAD_UPDATE].request(lead_update_row())
    assert params == {"leadId": GUIDS[0], "postUpdatedLead": "true"}
    assert body == [{"Attribute": "FirstName", "Value": "X"}]


def test_response_mismatch_is_outcome_unknown() -> None:
    """ResponseMismatchError is an OutcomeUnknownError (the row may have been applied)."""
    assert issubclass(lsq.ResponseMismatchError, lsq.OutcomeUnknownError)
    error: Any = lsq.ResponseMismatchError("x")
    assert isinstance(error, lsq.OutcomeUnknownError)
    assert isinstance(error, lsq.LeadSquaredError)


_ID = "5d3b9f3e-0c1a-4a8e-9f5e-2f1c3e4d5a6b"


@pytest.mark.parametrize(
    ("endpoint", "data", "expected"),
    [
        ("Lead.Create", {"Status": "Success", "Message": {"Id": _ID}}, lsq.LeadCreated(_ID)),
        (
            "Lead.CreateOrUpdate",
            {"Status": "success", "Message": {"Id": _ID}},
            lsq.LeadUpserted(_ID, None, None),
        ),
        (
            "ProspectActivity.svc/Create",
            {"Status": "Success", "Message": {"Id": " a-1 "}},
            lsq.ActivityPosted("a-1"),
        ),
        ("Lead.Create", {"Status": "Error", "Message": {"Id": _ID}}, "Status is not Success"),
        ("Lead.Create", {"Status": "Success", "Message": {}}, "names no lead Id"),
        ("ProspectActivity.svc/Create", {"Status": "Success"}, "names no activity Id"),
        (
            "ProspectActivity.svc/Create",
            {"Status": "Success", "Message": {"Id": " "}},
            "no activity",
        ),
    ],
)
def test_the_created_answers_are_read_alike(endpoint: str, data: object, expected: object) -> None:
    """Lead.Create, Lead.CreateOrUpdate and ProspectActivity.svc/Create read one answer shape
    (Status Success and the new record's Message.Id) with one reader."""
    spec = ENDPOINTS[endpoint]
    if isinstance(expected, str):
        with pytest.raises(WireError, match=expected):
            spec.decode([], data)
    else:
        assert spec.decode([], data) == [expected]
