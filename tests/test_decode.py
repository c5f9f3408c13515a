"""Decoding 2xx answers row by row: only what ties an entry to exactly one row answers that row.

Unit tests call the endpoint specs' ``decode`` directly; one end-to-end test per contract goes
through a client whose transport answers the crafted JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence

import httpx
import pytest

import leadsq_async as lsq
from leadsq_async._endpoints import ENDPOINTS, Row, RowOutcome

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


# -- end to end -----------------------------------------------------------------------------


def _zero_based(request: httpx.Request) -> object:
    """Zero-based numbering: the classic off-by-one."""
    body = json.loads(request.content)
    return [ok(n, f"id-{n}") for n in range(len(body))]


@pytest.mark.parametrize(
    ("ops", "answer", "expected"),
    [
        pytest.param(
            [lsq.CreateLead({"EmailAddress": f"e{i}@x.com"}) for i in range(3)],
            _zero_based,
            [lsq.ResponseMismatchError] * 3,
            id="4-zero-based-creates-are-unknown",
        ),
    ],
)
async def test_end_to_end_through_the_client(
    ops: list[lsq.Operation],
    answer: Callable[[httpx.Request], object],
    expected: list[object],
) -> None:
    """Crafted 2xx answers reach callers as the decode contract says, in one call."""
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=answer(request))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = lsq.LeadSquaredClient(
        "access", "secret", base_url=BASE_URL, http_client=http, linger=0.05, max_retries=0
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
