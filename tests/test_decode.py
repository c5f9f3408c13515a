"""Decoding 2xx answers row by row: only what ties an entry to exactly one row answers that row.

Unit tests call the endpoint specs' ``decode`` directly; one end-to-end test per contract goes
through a client whose transport answers the crafted JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async._api.registry import ENDPOINTS, Row, RowOutcome

BASE_URL = "https://api-in21.leadsquared.com"
CREATE = "Lead/Bulk/Create"
UPSERT = "Lead/Bulk/CreateOrUpdate"
UPDATE_V2 = "Lead/Bulk/UpdateV2"
NUMBERED = [CREATE, UPSERT]


def prepared(endpoint: str, ops: Sequence[object]) -> list[Row]:
    """Rows prepared by ``endpoint`` for ``ops``."""
    spec = ENDPOINTS[endpoint]
    return [spec.prepare(op) for op in ops]


def numbered_rows(endpoint: str, n: int) -> list[Row]:
    """``n`` create or upsert rows, each on its own lead."""
    fields = [{"EmailAddress": f"l{i}@example.com", "FirstName": "F"} for i in range(n)]
    if endpoint == CREATE:
        return prepared(CREATE, [lsq.CreateLead(f) for f in fields])
    return prepared(UPSERT, [lsq.UpsertLead(f) for f in fields])


def ok(number: object, lead_id: str = "") -> dict[str, object]:
    """A per-row entry saying the lead was created (and, for upserts, not updated)."""
    return {
        "RowNumber": number,
        "LeadId": lead_id or f"lead-{number}",
        "LeadCreated": True,
        "LeadUpdated": False,
    }


def refused(number: object) -> dict[str, object]:
    """A per-row entry saying the row was refused."""
    return {
        "RowNumber": number,
        "LeadCreated": False,
        "LeadUpdated": False,
        "ExceptionType": "MXDuplicateEntryException",
        "ExceptionMessage": "dup",
    }


def decode(endpoint: str, rows: list[Row], data: object) -> list[RowOutcome]:
    """Decode ``data`` for ``rows``, checking there is one outcome per row."""
    outcomes = ENDPOINTS[endpoint].decode(rows, data)
    assert len(outcomes) == len(rows)
    return outcomes


def lead_ids(outcomes: Sequence[RowOutcome]) -> list[str | None]:
    """Each outcome's LeadId, or None for an outcome that is not a created or upserted lead."""
    return [
        o.lead_id if isinstance(o, (lsq.LeadCreated, lsq.LeadUpserted)) else None for o in outcomes
    ]


def mismatched(outcomes: Sequence[RowOutcome]) -> list[bool]:
    """Which outcomes are ResponseMismatchError."""
    return [isinstance(o, lsq.ResponseMismatchError) for o in outcomes]


# -- 4. numbering ---------------------------------------------------------------------------


UNTRUSTED_NUMBERING = [
    pytest.param([ok(0), ok(1), ok(2)], id="zero-based"),
    pytest.param([ok(2), ok(3), ok(4)], id="shifted-up"),
    pytest.param([ok(0), refused(1), ok(2)], id="zero-based-with-a-refusal"),
    pytest.param([ok(1), ok(2), ok(2, "other"), ok(3)], id="repeated-number-extra-entry"),
    pytest.param([ok(1), ok(2), ok(2)], id="repeated-number-right-count"),
    pytest.param([ok(1), ok(3)], id="one-entry-short"),
    pytest.param([ok(1), ok(2), ok(3), ok(4)], id="one-entry-too-many"),
    pytest.param(
        [ok(1), ok(2), ok(3), {"LeadId": "x", "LeadCreated": True}], id="unnumbered-extra"
    ),
    pytest.param([ok(0), ok(1), ok(2), ok(3)], id="zero-based-and-one-based-mixed"),
    pytest.param([ok(1), ok(2), ok(10**30)], id="huge-number"),
    pytest.param([], id="empty"),
]


@pytest.mark.parametrize("endpoint", NUMBERED)
@pytest.mark.parametrize("data", UNTRUSTED_NUMBERING)
def test_untrustworthy_numbering_fails_every_row(endpoint: str, data: object) -> None:
    """Out-of-range, repeated numbers or a wrong entry count leave every row unanswered."""
    outcomes = decode(endpoint, numbered_rows(endpoint, 3), data)
    assert mismatched(outcomes) == [True, True, True]
    assert all(isinstance(o, lsq.OutcomeUnknownError) for o in outcomes)


@pytest.mark.parametrize("endpoint", NUMBERED)
@pytest.mark.parametrize("number", [0, 2, -1])
def test_a_single_row_numbered_wrongly_is_not_trusted(endpoint: str, number: int) -> None:
    """Even a one-row call is not given the LeadId of an entry numbered outside 1..1."""
    (outcome,) = decode(endpoint, numbered_rows(endpoint, 1), [ok(number)])
    assert isinstance(outcome, lsq.ResponseMismatchError)


@pytest.mark.parametrize("endpoint", NUMBERED)
def test_a_clean_permutation_answers_every_row_in_any_order(endpoint: str) -> None:
    """Exactly n entries numbered 1..n, in any order, answer their rows (refusals included)."""
    outcomes = decode(endpoint, numbered_rows(endpoint, 3), [ok(3), refused(1), ok("2")])
    assert lead_ids(outcomes) == [None, "lead-2", "lead-3"]
    assert isinstance(outcomes[0], lsq.LeadRejectedError)


# -- 5. malformed entries -------------------------------------------------------------------


MALFORMED_SECOND = [
    pytest.param(None, id="null"),
    pytest.param("row two", id="string"),
    pytest.param(2, id="int"),
    pytest.param([ok(2)], id="array"),
    pytest.param({"RowNumber": 2, "LeadId": 5, "LeadCreated": True}, id="int-lead-id"),
    pytest.param({"RowNumber": 2.0, "LeadId": "x", "LeadCreated": True}, id="float-row-number"),
    pytest.param({"RowNumber": "2.0", "LeadId": "x", "LeadCreated": True}, id="str-float-number"),
    pytest.param({"RowNumber": True, "LeadId": "x", "LeadCreated": True}, id="bool-row-number"),
    pytest.param({"LeadId": "x", "LeadCreated": True}, id="no-row-number"),
    pytest.param({"RowNumber": 2, "LeadId": "x", "LeadCreated": "yes"}, id="yes-for-bool"),
    pytest.param(
        {"RowNumber": 2, "LeadCreated": False, "ExceptionMessage": ["dup"]}, id="list-for-message"
    ),
]


@pytest.mark.parametrize("endpoint", NUMBERED)
@pytest.mark.parametrize("entry", MALFORMED_SECOND)
def test_a_malformed_entry_fails_only_its_row(endpoint: str, entry: object) -> None:
    """One malformed entry among n fails only the row it is or might be; the others stand."""
    outcomes = decode(endpoint, numbered_rows(endpoint, 3), [ok(3), entry, ok(1)])
    assert lead_ids(outcomes) == ["lead-1", None, "lead-3"]
    assert mismatched(outcomes) == [False, True, False]


@pytest.mark.parametrize("endpoint", NUMBERED)
def test_many_created_leads_survive_one_null_entry(endpoint: str) -> None:
    """Nine of ten well-formed, well-numbered entries answer their rows despite a null."""
    data: list[object] = [ok(n) for n in range(1, 11)]
    data[4] = None
    outcomes = decode(endpoint, numbered_rows(endpoint, 10), data)
    assert mismatched(outcomes) == [n == 5 for n in range(1, 11)]
    assert lead_ids(outcomes) == [None if n == 5 else f"lead-{n}" for n in range(1, 11)]


@pytest.mark.parametrize("endpoint", NUMBERED)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param([None, ok(1), ok(2)], id="zero-based-first-entry-null"),
        pytest.param([ok(2), ok(3), ok(4.0)], id="shifted-last-number-unreadable"),
        pytest.param([None, ok(2), ok(3)], id="first-row-unreadable"),
        pytest.param([ok(1), ok(2), "junk"], id="last-row-unreadable"),
        pytest.param([ok(1), None, None], id="only-row-one-readable"),
        pytest.param([ok(1), None, ok(3), ok(0)], id="unreadable-and-out-of-range"),
        pytest.param([ok(1), None, ok(1)], id="unreadable-and-repeated"),
        pytest.param([ok(1), None], id="unreadable-and-short"),
    ],
)
def test_unreadable_numbers_that_could_hide_a_shift_fail_every_row(
    endpoint: str, data: object
) -> None:
    """If the readable numbers miss 1 or n, a shifted numbering fits them: no row is trusted."""
    outcomes = decode(endpoint, numbered_rows(endpoint, 3), data)
    assert mismatched(outcomes) == [True, True, True]


@pytest.mark.parametrize("endpoint", NUMBERED)
def test_a_malformed_entry_with_a_readable_number_fails_that_row(endpoint: str) -> None:
    """An entry whose number reads but whose body does not is that row's, and unusable."""
    data = [ok(1), {"RowNumber": "3", "LeadId": {"id": "x"}, "LeadCreated": True}, ok(2)]
    outcomes = decode(endpoint, numbered_rows(endpoint, 3), data)
    assert lead_ids(outcomes) == ["lead-1", "lead-2", None]
    assert mismatched(outcomes) == [False, False, True]


def v2_rows(search_by: str, *values: str) -> list[Row]:
    """UpdateV2 rows matched by ``search_by``."""
    return prepared(
        UPDATE_V2, [lsq.UpdateLead({search_by: v, "mx_City": "Goa"}, search_by) for v in values]
    )


def v2_answer(
    ok: Sequence[object] = (), failed: Sequence[object] = (), unprocessed: Sequence[object] = ()
) -> dict[str, object]:
    """An UpdateV2 answer with these raw entries in its three lists."""
    return {
        "Status": {"TotalCount": 3},
        "Details": {
            "SuccessfulLeads": list(ok),
            "FailedLeads": list(failed),
            "UnProcessedLeads": list(unprocessed),
        },
    }


def named(value: object, reason: object = None) -> dict[str, object]:
    """An UpdateV2 list entry naming ``value``."""
    entry: dict[str, object] = {"Identifier": "EmailAddress", "IdentifierValue": value}
    if reason is not None:
        entry["Reason"] = reason
    return entry


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(None, id="null"),
        pytest.param("b@x.com", id="string"),
        pytest.param(named(3), id="int-value"),
        pytest.param(named(["b@x.com"]), id="list-value"),
        pytest.param(named("b@x.com", 5), id="int-reason"),
        pytest.param({**named("b@x.com", "dup"), "Identifier": 7}, id="int-identifier"),
    ],
)
@pytest.mark.parametrize("where", ["ok", "failed", "unprocessed"])
def test_update_v2_malformed_entry_spoils_no_other_row(bad: object, where: str) -> None:
    """A malformed entry in any list fails at most the row it names; other rows are answered."""
    rows = v2_rows("EmailAddress", "a@x.com", "b@x.com", "c@x.com")
    lists: dict[str, list[object]] = {"ok": [named("a@x.com")], "failed": [], "unprocessed": []}
    lists["failed"].append(named("c@x.com", "MXDuplicateEntryException: dup"))
    lists[where].append(bad)
    first, second, third = decode(UPDATE_V2, rows, v2_answer(**lists))
    assert first == lsq.LeadUpdated("EmailAddress", "a@x.com", None)
    assert isinstance(second, lsq.ResponseMismatchError)
    assert type(third) is lsq.LeadRejectedError
    assert third.exception_type == "MXDuplicateEntryException"


def test_update_v2_malformed_entry_naming_an_answered_row_makes_it_unknown() -> None:
    """A readable but malformed second entry for a row contradicts the first: mismatch."""
    rows = v2_rows("EmailAddress", "a@x.com", "b@x.com")
    answer = v2_answer(ok=[named("a@x.com"), named("b@x.com")], failed=[named("A@x.com", 5)])
    first, second = decode(UPDATE_V2, rows, answer)
    assert isinstance(first, lsq.ResponseMismatchError)
    assert second == lsq.LeadUpdated("EmailAddress", "b@x.com", None)


# -- 6. phone identifiers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("search_by", "sent", "echoed"),
    [
        pytest.param("Phone", "9876543210", "+91-9876543210", id="country-code-added"),
        pytest.param("Phone", "+91-9876543210", "9876543210", id="country-code-dropped"),
        pytest.param("Phone", "9876543210", "+91 98765 43210", id="spaces"),
        pytest.param("Phone", "98765-43210", "9876543210", id="hyphens-dropped"),
        pytest.param("Phone", "(987) 654-3210", "+1 987 654 3210", id="us-style"),
        pytest.param("Phone", "09876543210", "9876543210", id="trunk-zero-dropped"),
        pytest.param("Phone", "+971 50 123 4567", "501234567", id="three-digit-code"),
        pytest.param("Mobile", "+44 7700 900123", "7700900123", id="mobile"),
        pytest.param("mobile", "7700900123", "447700900123", id="mobile-lowercase"),
        pytest.param("PHONE", "1234567", "+1-123-4567", id="seven-digits"),
    ],
)
def test_phone_identifiers_match_on_digits(search_by: str, sent: str, echoed: str) -> None:
    """Phone and Mobile match on digits, a 1-3 digit country code allowed on either side."""
    rows = v2_rows(search_by, sent, "5550001111")
    answer = v2_answer(ok=[named(echoed)], failed=[named("5550001111", "dup")])
    first, second = decode(UPDATE_V2, rows, answer)
    assert first == lsq.LeadUpdated(search_by, sent, None)
    assert type(second) is lsq.LeadRejectedError


@pytest.mark.parametrize(
    ("search_by", "sent", "echoed"),
    [
        pytest.param("Phone", "9876543210", "9876543211", id="other-number"),
        pytest.param("Phone", "9876543210", "12349876543210", id="four-digit-prefix"),
        pytest.param("Phone", "123456", "91123456", id="too-short-to-have-a-country-code"),
        pytest.param("Phone", "9876543210", "987654321", id="last-digit-dropped"),
        pytest.param("Phone", "9876543210", "", id="empty-echo"),
        pytest.param("Phone", "no digits", "nodigits", id="no-digits"),
        pytest.param("mx_AccountNo", "9876543210", "+91-9876543210", id="not-a-phone-key"),
        pytest.param("EmailAddress", "9876543210@x.com", "919876543210@x.com", id="email"),
    ],
)
def test_phone_matching_is_not_looser_than_that(search_by: str, sent: str, echoed: str) -> None:
    """Digits that differ beyond a short country code, or a key that is no phone, do not match."""
    (outcome,) = decode(UPDATE_V2, v2_rows(search_by, sent), v2_answer(ok=[named(echoed)]))
    assert isinstance(outcome, lsq.ResponseMismatchError)


@pytest.mark.parametrize(
    "echoed",
    [
        pytest.param(["9876543210"], id="one-echo-fits-both"),
        pytest.param(["919876543210", "9876543210"], id="each-echo-fits-both"),
        pytest.param(["+91 98765 43210"], id="prefixed-echo-fits-both"),
    ],
)
def test_a_phone_echo_that_fits_two_rows_answers_neither(echoed: list[str]) -> None:
    """Two rows a lenient match cannot tell apart both get ResponseMismatchError."""
    rows = v2_rows("Phone", "9876543210", "+91 9876543210", "5550001111")
    answer = v2_answer(ok=[named(e) for e in [*echoed, "5550001111"]])
    first, second, third = decode(UPDATE_V2, rows, answer)
    assert isinstance(first, lsq.ResponseMismatchError)
    assert isinstance(second, lsq.ResponseMismatchError)
    assert third == lsq.LeadUpdated("Phone", "5550001111", None)


# -- end to end -----------------------------------------------------------------------------


def _zero_based(request: httpx2.Request) -> object:
    """Zero-based numbering: the classic off-by-one."""
    body = json.loads(request.content)
    return [ok(n, f"id-{n}") for n in range(len(body))]


def _create_with_null(request: httpx2.Request) -> object:
    """Well-numbered entries, the second of them null."""
    body = json.loads(request.content)
    entries: list[object] = [ok(n, f"id-{n}") for n in range(1, len(body) + 1)]
    entries[1] = None
    return entries


def _phone_echo(request: httpx2.Request) -> object:
    """Every phone echoed with a +91- country code and without its punctuation."""
    body = json.loads(request.content)
    values = [
        next(f["Value"] for f in lead["Fields"] if f["Attribute"] == "Phone")
        for lead in body["LeadPropertiesList"]
    ]
    echoed = ["+91-" + "".join(c for c in v if c.isdigit()) for v in values]
    return v2_answer(ok=[{"Identifier": "Phone", "IdentifierValue": e} for e in echoed])


@pytest.mark.parametrize(
    ("ops", "answer", "expected"),
    [
        pytest.param(
            [lsq.CreateLead({"EmailAddress": f"e{i}@x.com"}) for i in range(3)],
            _zero_based,
            [lsq.ResponseMismatchError] * 3,
            id="4-zero-based-creates-are-unknown",
        ),
        pytest.param(
            [lsq.CreateLead({"EmailAddress": f"e{i}@x.com"}) for i in range(3)],
            _create_with_null,
            [lsq.LeadCreated("id-1"), lsq.ResponseMismatchError, lsq.LeadCreated("id-3")],
            id="5-null-entry-fails-only-its-row",
        ),
        pytest.param(
            [
                lsq.UpdateLead({"Phone": p, "mx_City": "Goa"}, "Phone")
                for p in ("98765 43210", "7700900123")
            ],
            _phone_echo,
            [
                lsq.LeadUpdated("Phone", "98765 43210", None),
                lsq.LeadUpdated("Phone", "7700900123", None),
            ],
            id="6-phone-echoed-with-country-code",
        ),
    ],
)
async def test_end_to_end_through_the_client(
    ops: list[lsq.Operation],
    answer: Callable[[httpx2.Request], object],
    expected: list[object],
) -> None:
    """Crafted 2xx answers reach callers as the decode contract says, in one call."""
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        return httpx2.Response(200, json=answer(request))

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    client = lsq.LeadSquaredClient(
        "access",
        "secret",
        base_url=BASE_URL,
        http_client=http,
        linger=0.05,
        max_retries=0,
        reconcile=False,  # the decode contract itself (reconciling is tests/test_reconcile.py)
    )
    async with http, client:
        futures = [await client.submit(op) for op in ops]
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
    assert calls == 1
    for outcome, want in zip(outcomes, expected, strict=True):
        if isinstance(want, type):
            assert type(outcome) is want, repr(outcome)
        else:
            assert outcome == want
