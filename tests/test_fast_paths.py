"""The fast paths (plain fields, plain answers, orjson) give exactly what the full paths give."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import leadsq_async as lsq
from leadsq_async._api.answers import READERS, RowAnswer, WireError
from leadsq_async._api.decode import RowNumbered
from leadsq_async._api.encoding import encode_fields
from leadsq_async._util import json as _json

_NAMES = st.sampled_from(
    ["EmailAddress", "emailaddress", "FirstName", "Phone", "mx_City", "SearchBy", "", " ", "é"]
)
_VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "x" * 32_001, "caf\u00e9", "\ud800", "lead@example.com"]),
    st.integers(),
    st.none(),
    st.booleans(),
)


def _encoded(fields: Any, **options: Any) -> tuple[str, Any]:
    try:
        return "ok", encode_fields(fields, **options)
    except lsq.ValidationError as error:
        return "error", (error.field, str(error))


@settings(max_examples=400, deadline=None)
@given(
    fields=st.dictionaries(_NAMES, _VALUES, max_size=5),
    reserved=st.sampled_from([(), ("SearchBy",)]),
)
def test_plain_fields_encode_as_the_full_path_does(
    fields: dict[str, Any], reserved: tuple[str, ...]
) -> None:
    """A plain dict (the fast path) and the same fields behind a mapping proxy agree."""
    assert _encoded(fields, reserved=reserved) == _encoded(
        MappingProxyType(fields), reserved=reserved
    )


def test_plain_fields_are_copied() -> None:
    """The encoded fields do not change when the caller's dict changes afterwards."""
    fields = {"EmailAddress": "a@example.com"}
    items = encode_fields(fields)
    fields["EmailAddress"] = "b@example.com"
    assert items == {"EmailAddress": "a@example.com"}


_ENTRY_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["", "7", "true", "False", "x", " 12 "]),
    st.floats(allow_nan=False, width=16),
    st.lists(st.integers(), max_size=1),
    st.dictionaries(st.just("Id"), st.integers(), max_size=1),
)
_KEYS = st.sampled_from(
    [
        "RowNumber",
        "LeadId",
        "LeadCreated",
        "LeadUpdated",
        "AffectedRows",
        "ExceptionType",
        "ExceptionMessage",
        "ErrorMessage",
        "Other",
    ]
)


def _slow(cls: type, data: dict[str, Any]) -> Any:
    try:
        return READERS[cls][1](data, cls)
    except WireError:
        return "refused"
    except Exception:  # cattrs refuses some shapes with errors of its own
        return "refused"


@settings(max_examples=500, deadline=None)
@given(entry=st.dictionaries(_KEYS, _ENTRY_VALUES, max_size=6))
def test_plain_answers_read_as_cattrs_reads_them(entry: dict[str, Any]) -> None:
    """Whatever the plain reader reads, cattrs reads the same; what it leaves, cattrs decides."""
    plain = READERS[RowAnswer][0]
    assert plain is not None
    fast = plain(entry)
    if fast is not None:
        assert fast == _slow(RowAnswer, entry)


def test_every_flat_answer_class_has_a_plain_reader() -> None:
    """RowAnswer and its kin, all optional scalars, get the fast reader; nested ones do not."""
    with_plain = {cls.__name__ for cls, (plain, _) in READERS.items() if plain is not None}
    assert {"RowAnswer", "ActivityRowAnswer", "ErrorEnvelope"} <= with_plain
    assert "AffectedAnswer" not in with_plain  # its Message is an object


_BODIES: list[object] = [
    [[{"Attribute": "EmailAddress", "Value": "a@example.com"}]],
    [[{"Attribute": "FirstName", "Value": "Zoë \u2028 \u00e9\u4e2d\U0001f600"}]],
    {"SearchByKey": "EmailAddress", "LeadPropertiesList": [{"Fields": []}]},
    [[{"Attribute": "mx_Note", "Value": 'tab\tnew\nline "quoted" back\\slash \x00 \x1f'}]],
    {"n": 2**70, "t": True, "f": None, "x": 1.5},
]


@pytest.mark.parametrize("body", _BODIES, ids=range(len(_BODIES)))
def test_both_json_backends_write_the_same_body(body: object) -> None:
    """orjson (when installed) and json write bodies that read back the same."""
    assert json.loads(_json.dumps(body)) == json.loads(_json.std_dumps(body)) == body


_ANSWERS = [
    b'[{"RowNumber":1,"LeadId":"x","LeadCreated":true}]',
    b'{"Status":"Error","ExceptionMessage":"caf\xc3\xa9"}',
    b"[NaN]",
    b"[" * 2000 + b"]" * 2000,
]


@pytest.mark.parametrize("content", _ANSWERS, ids=range(len(_ANSWERS)))
def test_both_json_backends_read_the_same_answer(content: bytes) -> None:
    """What orjson refuses goes to json, so both read (or refuse) an answer alike."""

    def read(loads: Any) -> object:
        try:
            return loads(content)
        except (ValueError, RecursionError) as error:
            return type(error).__name__

    fast, slow = read(_json.loads), read(_json.std_loads)
    if isinstance(slow, float) or slow == [float("nan")]:
        assert repr(fast) == repr(slow)
    else:
        assert fast == slow or repr(fast) == repr(slow)


def test_integers_beyond_64_bits_read_as_floats_with_orjson() -> None:
    """The one difference: no answer field we read is a number that large, and as a float it
    is refused where an integer is expected (an entry that is malformed either way)."""
    content = b'{"RowNumber": 123456789012345678901234567890}'
    assert _json.std_loads(content) == {"RowNumber": 123456789012345678901234567890}
    assert _json.loads(content) == {"RowNumber": pytest.approx(1.2345678901234568e29)}


def test_the_test_environment_has_orjson() -> None:
    """The speedups extra is installed for the tests, so the orjson path is the one tested."""
    assert _json.BACKEND == "orjson"


def _created_entry() -> st.SearchStrategy[Any]:
    good = st.fixed_dictionaries(
        {
            "RowNumber": st.sampled_from([1, 2, 3, True, "1", 1.0]),
            "LeadId": st.sampled_from(["id-1", "id-2", "", None, 7]),
            "LeadCreated": st.sampled_from([True, False, "true", 1, None]),
        },
        optional={"ExceptionType": st.sampled_from(["MXDuplicateEntryException", None])},
    )
    return st.one_of(good, st.none(), st.just([]))


def _described(outcomes: Sequence[Any]) -> list[tuple[str, str]]:
    return [(type(o).__name__, str(getattr(o, "lead_id", o))) for o in outcomes]


def _row_numbered() -> list[RowNumbered[Any, Any]]:
    """Every spec's RowNumber decoder (each endpoint answering in that shape has one)."""
    from leadsq_async._api.registry import ENDPOINTS

    found = (getattr(spec, "answer", None) for spec in ENDPOINTS.values())
    return [answer for answer in found if isinstance(answer, RowNumbered)]


def test_the_row_numbered_answers_are_read_by_one_decoder() -> None:
    """Bulk/Create, Bulk/CreateOrUpdate and both bulk activity APIs read through RowNumbered,
    and only Bulk/Create's has an at-once reading (the one d8287e8 had to take out of upserts).
    """
    from leadsq_async._api.registry import ENDPOINTS

    readers = {
        name
        for name, spec in ENDPOINTS.items()
        if isinstance(getattr(spec, "answer", None), RowNumbered)
    }
    assert readers == {
        "Lead/Bulk/Create",
        "Lead/Bulk/CreateOrUpdate",
        "ProspectActivity.svc/Bulk/CustomActivity/Add/ByLeadId",
        "ProspectActivity.svc/Bulk/CustomActivity/Add/ByLeadField",
    }
    fast = {n for n in readers if ENDPOINTS[n].answer.usual is not None}  # type: ignore[attr-defined]
    assert fast == {"Lead/Bulk/Create"}


@settings(max_examples=500, deadline=None)
@given(count=st.integers(1, 3), data=st.lists(_created_entry(), max_size=4))
def test_the_at_once_reading_reads_as_row_by_row_reading_does(count: int, data: list[Any]) -> None:
    """Whenever a decoder's at-once reading applies, it agrees with its row-by-row reading."""
    for decoder in _row_numbered():
        fast = decoder.at_once(count, data)
        if fast is not None:
            assert _described(fast) == _described(decoder.row_by_row(count, data))


_NEAR_MISSES = [
    {"LeadId": ""},
    {"LeadId": None},
    {"LeadId": 7},
    {"LeadCreated": "true"},
    {"LeadCreated": 1},
    {"LeadCreated": False},
    {"RowNumber": True},
    {"RowNumber": "2"},
    {"RowNumber": 2.0},
    {"RowNumber": 1},
    {"ExceptionType": None},
]


@pytest.mark.parametrize("change", _NEAR_MISSES, ids=str)
def test_near_misses_of_the_documented_answer_read_as_row_by_row(change: dict[str, Any]) -> None:
    """A Bulk/Create answer one value away from the documented shape (its second entry
    changed) reads as reading it row by row does, whether or not it is read at once."""
    from leadsq_async._api.registry import ENDPOINTS

    data = [{"RowNumber": n, "LeadId": f"id-{n}", "LeadCreated": True} for n in (1, 2, 3)]
    data[1] = {**data[1], **change}
    spec = ENDPOINTS["Lead/Bulk/Create"]
    slow = spec.answer.row_by_row(3, data)  # type: ignore[attr-defined]
    assert _described(spec.decode([None] * 3, data)) == _described(slow)  # type: ignore[arg-type]


def test_the_documented_answer_takes_the_at_once_reading() -> None:
    """The documented shape, in order, is read at once; one row out of order is not."""
    from leadsq_async._api import decode
    from leadsq_async._api.registry import ENDPOINTS

    data = [{"RowNumber": n, "LeadId": f"id-{n}", "LeadCreated": True} for n in (1, 2)]
    rows = [None, None]
    spec = ENDPOINTS["Lead/Bulk/Create"]
    with mock.patch.object(decode, "by_row_number", side_effect=AssertionError("row by row")):
        outcomes = spec.decode(rows, data)  # type: ignore[arg-type]
    assert _described(outcomes) == [("LeadCreated", "id-1"), ("LeadCreated", "id-2")]
    with mock.patch.object(decode, "by_row_number", wraps=decode.by_row_number) as read:
        outcomes = spec.decode(rows, data[::-1])  # type: ignore[arg-type]
    assert read.call_count == 1
    assert _described(outcomes) == [("LeadCreated", "id-1"), ("LeadCreated", "id-2")]


def test_names_found_plain_once_are_still_checked_against_other_reserved_names() -> None:
    """The names' verdict is kept per set of reserved names: one set's pass is not another's."""
    assert encode_fields({"SearchBy": "x", "FirstName": "F"}) == {"SearchBy": "x", "FirstName": "F"}
    with pytest.raises(lsq.ValidationError, match="reserved"):
        encode_fields({"SearchBy": "x", "FirstName": "F"}, reserved=("SearchBy",))


def test_the_names_kept_are_bounded() -> None:
    """However many different sets of names come, only a bounded number are kept."""
    from leadsq_async._api import encoding

    for i in range(encoding._PLAIN_NAMES_MAX * 2):
        assert encode_fields({f"mx_Field{i}": "v"}) == {f"mx_Field{i}": "v"}
    assert len(encoding._PLAIN_NAMES) <= encoding._PLAIN_NAMES_MAX


async def test_looking_for_interactive_rows_to_spill_skips_the_bulk_queue() -> None:
    """With only interactive rows allowed to spill, thousands of bulk rows are not scanned."""
    import time

    from leadsq_async._api.registry import route
    from leadsq_async._queue.batcher import Batcher, Spill
    from leadsq_async._queue.rows import BULK, RowFuture

    batcher = Batcher(linger=60.0, max_pending=10_000, delivery_timeout=300.0, clock=time.monotonic)
    loop = asyncio.get_running_loop()
    for i in range(3000):
        op = lsq.CreateLead({"EmailAddress": f"bulk{i}@example.com"})
        endpoint = route(op)
        assert batcher.try_admit()
        batcher.add(endpoint.prepare(op), endpoint, RowFuture(loop=loop), BULK)
    looked = [0]
    spillable = batcher._spillable

    def counted(now: float, spill: Spill) -> Any:
        check = spillable(now, spill)

        def counting(entry: Any) -> bool:
            looked[0] += 1
            return check(entry)

        return counting

    batcher._spillable = counted  # type: ignore[method-assign]
    interactive_only = Spill(interactive=True, interactive_lone=True)
    assert batcher.ready_at(False, interactive_only) == float("inf")
    assert batcher.take(False, interactive_only) is None
    assert looked[0] == 0
    assert batcher.ready_at(False, Spill(interactive=True, bulk=True)) <= time.monotonic()
    assert looked[0] == 1  # with bulk rows allowed too, the first one qualifies


def test_an_upsert_answer_in_the_created_shape_is_read_as_an_upsert() -> None:
    """Only Bulk/Create reads the all-created shape at once: an upsert row stays LeadUpserted."""
    from leadsq_async._api.registry import ENDPOINTS

    data = [{"RowNumber": 1, "LeadId": "id-1", "LeadCreated": True}]
    (outcome,) = ENDPOINTS["Lead/Bulk/CreateOrUpdate"].decode([None], data)  # type: ignore[list-item]
    assert outcome == lsq.LeadUpserted("id-1", True, False)


def test_per_row_results_made_without_init_equal_the_classes_own() -> None:
    """``lead_created`` and ``outcome`` give what the attrs ``__init__`` gives, field for field."""
    import attrs

    from leadsq_async._api.operations import LeadCreated, Outcome, lead_created, outcome

    # Setting the slots directly is the same only while no field converts or validates.
    for kind in (LeadCreated, Outcome):
        assert all(f.converter is None and f.validator is None for f in attrs.fields(kind))
    assert lead_created("id-1") == LeadCreated("id-1")
    assert repr(lead_created("id-1")) == repr(LeadCreated("id-1"))
    op = lsq.CreateLead({"EmailAddress": "a@example.com"})
    error = lsq.ValidationError("fields", "bad")
    assert outcome(op, LeadCreated("x"), None) == Outcome(op, LeadCreated("x"))
    assert outcome(op, None, error) == Outcome(op, error=error)
    assert hash(outcome(None, None, None)) == hash(Outcome(None))  # type: ignore[arg-type]


def _prepared(fields: Any) -> tuple[str, Any]:
    from leadsq_async._api.bulk import BULK_CREATE

    try:
        row = BULK_CREATE.prepare(lsq.CreateLead(fields))
    except lsq.ValidationError as error:
        return "error", (error.field, str(error))
    return "ok", (row.items, row.identities, BULK_CREATE.request([row]))


@settings(max_examples=400, deadline=None)
@given(
    fields=st.dictionaries(
        st.sampled_from(["EmailAddress", "emailADDRESS", "Phone", "PHONE", "FirstName", "x"]),
        st.one_of(st.sampled_from(["", " ", "  a@b.c ", "Lead@Example.COM", "+91 98"]), _VALUES),
        max_size=4,
    )
)
def test_a_plain_create_prepares_as_the_full_path_does(fields: dict[str, Any]) -> None:
    """A create's plain dict (the fast path) and the same fields behind a mapping proxy give
    the same items, identity keys and request body, or the same error."""
    assert _prepared(fields) == _prepared(MappingProxyType(fields))


def test_a_create_request_is_wire_items_per_row() -> None:
    """``BulkCreate.request``'s inline steps give ``wire_items`` of each row, set fields too."""
    from leadsq_async._api.bulk import BULK_CREATE
    from leadsq_async._api.encoding import wire_items

    ops = [
        lsq.CreateLead({"EmailAddress": "a@example.com", "mx_Set": {"Sub": "1"}}),
        lsq.CreateLead({"FirstName": "F", "mx_N": 3}),
    ]
    rows = [BULK_CREATE.prepare(op) for op in ops]
    assert BULK_CREATE.request(rows) == ({}, [wire_items(row.items) for row in rows])
