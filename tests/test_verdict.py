"""classify() and classify_transport_error(): one row per answer shape the service is known to give.

The shapes come from LeadSquared's reference pages and notes (shared/leadsquared-api) and from
the fake service (testing/_app.py, _faults.py). Rows are built with the endpoint specs'
``prepare`` from real operations; nothing touches the network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from unittest.mock import ANY

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async import (
    AuthenticationError,
    EndpointNotFoundError,
    FieldUpdated,
    LeadCreated,
    LeadNotFoundError,
    LeadRejectedError,
    LeadUpdated,
    LeadUpserted,
    OutcomeUnknownError,
    ResponseMismatchError,
    ServiceError,
)
from leadsq_async._api.registry import ENDPOINTS, Endpoint, Row
from leadsq_async._api.verdict import (
    Answered,
    Failed,
    NoSuchEndpoint,
    RateLimited,
    Resend,
    Split,
    Verdict,
    classify,
    classify_transport_error,
)
from leadsq_async._budgets.budgets import Budgets, Lesson
from leadsq_async._budgets.quota import Quota

GENERAL = lsq.RateLimit(25, 5.0)
BULK = lsq.RateLimit(5, 10.0)  # a bulk budget with a period of its own, to tell the pauses apart
ID = (
    "72f6999d-951f-45fc-984c-97e978ed3bc2",
    "f666c7c8-fd62-4198-aa2e-8bd3b791bc0c",
    "a4f351b9-bc2a-44a9-9a38-f1303cca214a",
)
EMAIL = ("lead0@example.com", "lead1@example.com", "lead2@example.com")
RME = ResponseMismatchError
DUP, ENTITY = "MXDuplicateEntryException", "MXInvalidEntityException"
INPUT, MANDATORY = "MXInvalidInputException", "MXMandatoryAttributeMissingException"
NOT_FOUND = "Lead does not exist in the system or You do not have permission to update the lead"

Call = tuple[Endpoint, list[Row]]


def _call(name: str, ops: Sequence[Any]) -> Call:
    endpoint = ENDPOINTS[name]
    return endpoint, [endpoint.prepare(op) for op in ops]


def create(n: int = 3) -> Call:
    ops = [lsq.CreateLead({"EmailAddress": EMAIL[i], "FirstName": f"F{i}"}) for i in range(n)]
    return _call("Lead/Bulk/Create", ops)


def upsert(n: int = 3) -> Call:
    ops = [lsq.UpsertLead({"EmailAddress": EMAIL[i], "mx_City": "Pune"}) for i in range(n)]
    return _call("Lead/Bulk/CreateOrUpdate", ops)


def v2(n: int = 3, emails: Sequence[str] = EMAIL) -> Call:
    ops = [lsq.UpdateLead({"EmailAddress": e, "mx_City": "Pune"}) for e in emails[:n]]
    return _call("Lead/Bulk/UpdateV2", ops)


def v2_by_id(n: int = 2) -> Call:
    ops = [lsq.UpdateLeadById(ID[i], {"mx_City": "Pune"}) for i in range(n)]
    return _call("Lead/Bulk/UpdateV2", ops)


def field(n: int = 3) -> Call:
    return _call("Lead/Bulk/Update", [lsq.UpdateField(ID[i], "mx_City", "Pune") for i in range(n)])


def single() -> Call:
    op = lsq.UpdateLeadById(ID[0], {"mx_City": "Pune"}, post_updated_lead=True)
    return _call("Lead.Update", [op])


def js(data: object) -> bytes:
    return json.dumps(data).encode()


def mx(exception_type: str, message: str) -> bytes:
    """The error envelope, as the service and the fake send it."""
    return js({"Status": "Error", "ExceptionType": exception_type, "ExceptionMessage": message})


def limit(calls: int, period: int) -> bytes:
    return mx(
        "MXAPIRateLimitExceededException",
        f"API calls exceeded the limit of {calls} in {period} second(s)",
    )


def html(title: str) -> bytes:
    """A gateway's HTML error page, as the fake's system errors send it."""
    return f"<html>\r\n<head><title>{title}</title></head>\r\n<body>{title}</body></html>".encode()


SYSTEM_ERROR = js({"Status": "Error", "ExceptionMessage": "An unexpected error occurred"})


def details(**lists: list[dict[str, str]]) -> bytes:
    """An UpdateV2 answer with these Details lists (Status as the service counts it)."""
    ok = len(lists.get("SuccessfulLeads", []))
    total = sum(len(v) for v in lists.values())
    status: dict[str, object] = {"TotalCount": total, "SuccessCount": ok}
    status.update(FailureCount=total - ok, Message="Processed" if ok == total else "Error")
    return js({"Status": status, "Details": lists})


def lead(value: str, reason: str | None = None, by: str = "EmailAddress") -> dict[str, str]:
    entry = {"Identifier": by, "IdentifierValue": value}
    return entry if reason is None else {**entry, "Reason": reason}


class AtLeast:
    """Equal to any number not below ``floor``."""

    def __init__(self, floor: float) -> None:
        self.floor = floor

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (int, float)) and other >= self.floor

    def __repr__(self) -> str:
        return f"AtLeast({self.floor})"


def run(call: Call, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Verdict:
    endpoint, rows = call
    reason = httpx2.codes.get_reason_phrase(status)
    return classify(endpoint, rows, status, headers or {}, body, reason=reason)


def lesson(call: Call, verdict: RateLimited, bulk: lsq.RateLimit | None) -> Lesson:
    """What budgets of ``GENERAL`` (and ``bulk``) learn from the rejection ``verdict``."""
    budgets = Budgets(
        lsq.TokenBucketLimiter(GENERAL, clock=lambda: 0.0),
        None if bulk is None else lsq.TokenBucketLimiter(bulk, clock=lambda: 0.0),
        Quota(None, clock=lambda: 0.0),
        clock=lambda: 0.0,
    )
    return budgets.rejected(verdict.announced, verdict.retry_after, bulk_call=call[0].bulk)


def outcome(item: object) -> object:
    """A row outcome to compare: results as they are, errors by type (and MX type)."""
    if isinstance(item, LeadRejectedError):
        return (type(item), item.exception_type)
    if isinstance(item, Exception):
        return type(item)
    return item


def shape(verdict: Verdict) -> tuple[object, ...]:
    """A verdict's kind and key fields, to compare with a table row."""
    if isinstance(verdict, Answered):
        return ("Answered", [outcome(o) for o in verdict.outcomes])
    if isinstance(verdict, Failed):
        if type(verdict.error) is OutcomeUnknownError:  # only creates end this way
            assert not verdict.error.safe_to_resend
        return ("Failed", outcome(verdict.error))
    if isinstance(verdict, Resend):
        return ("Resend", type(verdict.cause), verdict.sent)
    if isinstance(verdict, Split):
        return ("Split", verdict.cause.exception_type, verdict.cause.reason)
    if isinstance(verdict, NoSuchEndpoint):
        return ("NoSuchEndpoint", type(verdict.error), verdict.error.status)
    return ("RateLimited", verdict.announced, verdict.retry_after)


P = pytest.param
CREATED = {"RowNumber": 1, "LeadId": ID[0], "LeadCreated": True}
NOT_CREATED = {"RowNumber": 2, "LeadCreated": False}


@pytest.mark.parametrize(
    ("call", "body", "expected"),
    [
        # Lead/Bulk/Create: one entry per row, placed by its 1-based RowNumber.
        P(create(2), js([CREATED, {"RowNumber": 2, "LeadId": ID[1], "LeadCreated": True}]),
          [LeadCreated(ID[0]), LeadCreated(ID[1])], id="create-all-created"),
        P(create(3), js([CREATED, {**NOT_CREATED, "ErrorMessage": "Lead already exists"},
                         {"RowNumber": 3, "LeadCreated": False, "ExceptionType": DUP,
                          "ExceptionMessage": "A lead with the same EmailAddress already exists"}]),
          [LeadCreated(ID[0]), (LeadRejectedError, None), (LeadRejectedError, DUP)],
          id="create-row-errors-errormessage-and-exceptiontype"),
        P(create(2), js([{"RowNumber": 2, "LeadId": ID[1], "LeadCreated": True}, CREATED]),
          [LeadCreated(ID[0]), LeadCreated(ID[1])], id="create-rows-out-of-order"),
        # A count that disagrees with the call: the numbering cannot be trusted (issue 11.4).
        P(create(2), js([CREATED]), [RME, RME], id="create-row-omitted"),
        P(create(2), js([CREATED, CREATED]), [RME, RME], id="create-row-number-repeated"),
        # Lead/Bulk/CreateOrUpdate: LeadCreated / LeadUpdated per row.
        P(upsert(2), js([{**CREATED, "LeadUpdated": False, "AffectedRows": 1},
                         {"RowNumber": 2, "LeadId": ID[1], "LeadCreated": False,
                          "LeadUpdated": True, "AffectedRows": 1}]),
          [LeadUpserted(ID[0], True, False), LeadUpserted(ID[1], False, True)],
          id="upsert-created-and-updated"),
        P(upsert(2), js([{**CREATED, "LeadUpdated": False},
                         {**NOT_CREATED, "LeadUpdated": False, "AffectedRows": 0,
                          "ExceptionType": DUP, "ExceptionMessage": "same Phone"}]),
          [LeadUpserted(ID[0], True, False), (LeadRejectedError, DUP)],
          id="upsert-row-error-exceptiontype"),
        P(upsert(2), js([{**CREATED, "LeadUpdated": False}]), [RME, RME], id="upsert-row-omitted"),
        # Lead/Bulk/UpdateV2: Successful / Failed / UnProcessed lists naming identifiers.
        P(v2(2), details(SuccessfulLeads=[lead(EMAIL[0]), lead(EMAIL[1])]),
          [LeadUpdated("EmailAddress", EMAIL[0]), LeadUpdated("EmailAddress", EMAIL[1])],
          id="v2-all-successful"),
        P(v2(2), details(SuccessfulLeads=[lead(f"  {EMAIL[0].upper()} "), lead(EMAIL[1].upper())]),
          [LeadUpdated("EmailAddress", EMAIL[0]), LeadUpdated("EmailAddress", EMAIL[1])],
          id="v2-echo-normalised-case-and-padding"),
        P(v2(2), details(SuccessfulLeads=[lead(EMAIL[0])], FailedLeads=[
            lead(EMAIL[1], f"{DUP}: A lead with the same Phone already exists")]),
          [LeadUpdated("EmailAddress", EMAIL[0]), (LeadRejectedError, DUP)],
          id="v2-failed-duplicate"),
        P(v2(1), details(FailedLeads=[lead(EMAIL[0], NOT_FOUND)]), [(LeadNotFoundError, None)],
          id="v2-failed-not-exist-without-push-option"),
        P(v2(1), js({"Status": {"TotalCount": 1, "SuccessCount": 0, "FailureCount": 0,
                                "UnProcessedCount": 1, "Message": "Error"},
                     "Details": {"UnProcessedLeads": [lead(EMAIL[0], NOT_FOUND)]}}),
          [(LeadNotFoundError, None)], id="v2-unprocessed-status-message-error"),
        P(v2(2), details(SuccessfulLeads=[lead(EMAIL[0])]),
          [LeadUpdated("EmailAddress", EMAIL[0]), RME], id="v2-row-not-mentioned"),
        P(v2_by_id(1), details(SuccessfulLeads=[lead(ID[0].upper(), by="ProspectId")]),
          [LeadUpdated("ProspectId", ID[0], ID[0])], id="v2-by-prospect-id"),
        # The reference page's own example echoes "johnwick @gmail.com": answered, not guessed.
        P(v2(1, ["johnwick@gmail.com"]), details(UnProcessedLeads=[lead("johnwick @gmail.com")]),
          [RME], id="v2-doc-echo-with-inner-space"),
        # Lead/Bulk/Update: only a count for the whole call.
        P(field(3), js({"Status": "Success", "Message": {"AffectedRows": 3}}),
          [FieldUpdated(ID[i], "mx_City", True, 3, 3) for i in range(3)],
          id="field-affected-rows-full"),
        P(field(3), js({"Status": "Success", "Message": {"AffectedRows": 2}}),
          [FieldUpdated(ID[i], "mx_City", False, 2, 3) for i in range(3)],
          id="field-affected-rows-partial"),
        P(field(2), js({"Status": "Success", "Message": {"AffectedRows": 0}}),
          [(LeadNotFoundError, None)] * 2, id="field-affected-rows-zero"),
        # Lead.Update: one lead.
        P(single(), js({"Status": "Success", "Message": {"AffectedRows": 1}}),
          [LeadUpdated("ProspectId", ID[0], ID[0])], id="lead-update-success"),
        P(single(), js({"Status": "Success", "Message": {"AffectedRows": 0}}),
          [(LeadNotFoundError, None)], id="lead-update-affected-rows-zero"),
    ],
)  # fmt: skip
def test_success_bodies(call: Call, body: bytes, expected: list[object]) -> None:
    """A 200 with an endpoint's success body answers every row in call order."""
    assert shape(run(call, 200, body)) == ("Answered", expected)


DAILY = limit(10000, 86400)
DAILY_LIMIT = lsq.RateLimit(10000, 86400)


@pytest.mark.parametrize(
    ("call", "status", "headers", "body", "bulk", "expected"),
    [
        P(v2(), 429, {}, limit(25, 5), None, ("general", GENERAL, 5.0), id="429-no-retry-after"),
        P(v2(), 429, {"retry-after": "7"}, limit(25, 5), None, ("general", GENERAL, 7.0),
          id="429-retry-after-honoured"),
        P(create(), 429, {}, b"", None, ("general", None, 5.0), id="429-empty-body"),
        P(upsert(), 429, {"Retry-After": "soon"}, limit(25, 5), None, ("general", GENERAL, 5.0),
          id="429-retry-after-garbage"),
        P(field(), 429, {"Retry-After": "-3"}, limit(25, 5), None, ("general", GENERAL, 5.0),
          id="429-retry-after-negative"),
        # Longer than the hourly window: honoured as an hour, not dropped for the 5 s period.
        P(v2(), 429, {"Retry-After": "86400"}, b"", None, ("general", None, 3600.0),
          id="429-retry-after-huge"),
        P(v2(), 429, {"Retry-After": "nan"}, b"", None, ("general", None, 5.0),
          id="429-retry-after-nan"),
        P(create(), 200, {}, limit(20, 5), None, ("bulk", lsq.RateLimit(20, 5), 5.0),
          id="200-rate-limit-envelope"),
        P(single(), 429, {}, limit(5, 5), None, ("general", lsq.RateLimit(5, 5), 5.0),
          id="announced-lower-limit"),
        P(v2(), 429, {}, limit(5, 10), BULK, ("bulk", BULK, 10.0), id="bulk-limit-on-bulk-call"),
        # Adopted as the general budget (it is lower), so the pause is its period.
        P(single(), 429, {}, limit(5, 10), BULK, ("general", BULK, 10.0),
          id="bulk-numbers-on-lead-update-are-general"),
        P(field(), 429, {}, limit(25, 5), BULK, ("general", GENERAL, 5.0),
          id="general-limit-on-bulk-call"),
        # A bulk call refused naming less than the general budget teaches the bulk budget.
        P(upsert(), 429, {}, limit(1, 5), None, ("bulk", lsq.RateLimit(1, 5), 5.0),
          id="bulk-limit-without-bulk-budget"),
        P(v2(), 429, {}, DAILY, None, ("quota", lsq.RateLimit(10000, 86400), ANY),
          id="daily-window-is-the-quota"),
        P(v2(), 429, {}, DAILY, None, ("quota", DAILY_LIMIT, AtLeast(3600)),
          id="daily-quota-pause"),
        P(create(), 429, {}, mx("MXAPIRateLimitExceededException", "Daily API quota exhausted"),
          None, ("general", None, 5.0), id="unparseable-limit-message"),
    ],
)  # fmt: skip
def test_rate_limits(
    call: Call,
    status: int,
    headers: dict[str, str],
    body: bytes,
    bulk: lsq.RateLimit | None,
    expected: tuple[object, ...],
) -> None:
    """A 429, or any answer carrying MXAPIRateLimitExceededException, is a rate limit; the
    budgets learn which budget it names and how long to pause it."""
    verdict = run(call, status, body, headers)
    assert isinstance(verdict, RateLimited)
    learned = lesson(call, verdict, bulk)
    assert (learned.budget, verdict.announced, learned.pause) == expected


def test_a_run_of_unexplained_rejections_doubles_its_own_pause_but_not_retry_after() -> None:
    """Rejections naming no limit, one after another: the period-long pause doubles after the
    third (up to 15 minutes), while a Retry-After is honoured as it is, however many came."""
    budgets = Budgets(
        lsq.TokenBucketLimiter(GENERAL, clock=lambda: 0.0),
        None,
        Quota(None, clock=lambda: 0.0),
        clock=lambda: 0.0,
    )
    guessed = [budgets.rejected(None, None, bulk_call=False).pause for _ in range(12)]
    asked = [budgets.rejected(None, 7.0, bulk_call=False).pause for _ in range(3)]
    assert guessed[:5] == [5.0, 5.0, 5.0, 10.0, 20.0]
    assert guessed[-1] == 900.0
    assert asked == [7.0, 7.0, 7.0]


FAKE_404 = mx(INPUT, "No API at /v2/LeadManagement.svc/Lead/Bulk/UpdateV3")
FAKE_405 = mx(INPUT, "Lead.Update accepts POST only")
#: LeadSquared's reference pages: "404 Not Found | The API could not be found. Please check the
#: API signature."
REAL_404 = mx(INPUT, "The API could not be found. Please check the API signature.")
NO_API_404 = ("NoSuchEndpoint", EndpointNotFoundError, 404)
NO_API_405 = ("NoSuchEndpoint", EndpointNotFoundError, 405)


@pytest.mark.parametrize(
    ("call", "status", "body", "expected"),
    [
        # A 500 with an MX type rejects the input: split a bulk call, else end the row.
        P(v2(), 500, mx(DUP, "same Phone"), ("Split", DUP, "same Phone"), id="v2-multi-500-dup"),
        P(v2(1), 500, mx(ENTITY, "no lead"), ("Answered", [(LeadNotFoundError, ENTITY)]),
          id="v2-single-500-invalid-entity"),
        P(v2(1), 500, mx(DUP, "same Phone"), ("Failed", (LeadRejectedError, DUP)),
          id="v2-single-500-dup"),
        P(field(), 500, mx(DUP, "A lead with the same Phone already exists"), ("Split", DUP, ANY),
          id="field-multi-500-dup"),
        P(upsert(), 500, mx(INPUT, "bad value"), ("Split", INPUT, "bad value"),
          id="upsert-multi-500-invalid-input"),
        P(upsert(), 200, mx(INPUT, "bad value"), ("Split", INPUT, "bad value"),
          id="upsert-multi-200-status-error-mx"),
        P(single(), 500, mx(ENTITY, f"Lead with id {ID[0]} does not exist"),
          ("Answered", [(LeadNotFoundError, ENTITY)]), id="lead-update-500-invalid-entity"),
        P(single(), 500, mx(DUP, "same Phone"), ("Failed", (LeadRejectedError, DUP)),
          id="lead-update-500-dup"),
        # A create is split only when the refusal proves nothing was applied.
        P(create(), 500, mx(INPUT, "Invalid value for attribute mx_City"), ("Split", INPUT, ANY),
          id="create-multi-500-invalid-input"),
        P(create(), 500, mx(MANDATORY, "missing"), ("Split", MANDATORY, "missing"),
          id="create-multi-500-mandatory-missing"),
        P(create(), 500, mx(DUP, "same Phone"), ("Failed", (LeadRejectedError, DUP)),
          id="create-multi-500-dup-not-split"),
        P(create(), 400, mx(INPUT, "bad value"), ("Split", INPUT, "bad value"),
          id="create-multi-400-invalid-input"),
        P(create(1), 500, mx(INPUT, "bad value"), ("Failed", (LeadRejectedError, INPUT)),
          id="create-single-500-invalid-input"),
        # A 400 without an MX type: JSON, text, or bytes in no charset.
        P(create(), 400, b"Bad Request", ("Split", None, "Bad Request"),
          id="create-multi-400-text"),
        P(v2(), 400, js({"Message": "Cannot deserialize the current JSON array"}),
          ("Split", None, ANY), id="v2-multi-400-json-without-type"),
        P(v2(), 400, b"Bad \xff\xfe request", ("Split", None, "Bad \ufffd\ufffd request"),
          id="v2-multi-400-not-utf8"),
        P(field(2), 400, b"", ("Split", None, "HTTP 400 Bad Request"), id="field-multi-400-empty"),
        P(single(), 400, b"Bad Request", ("Failed", (LeadRejectedError, None)),
          id="lead-update-400-text"),
        # Bad keys, and statuses that are about the request rather than its rows.
        P(v2(), 401, mx("MXUnAuthorizedAccessException", "The access key is invalid"),
          ("Failed", AuthenticationError), id="401"),
        P(v2(), 403, html("403 Forbidden"), ("Failed", ServiceError), id="403"),
        # No such API here (a wrong host or base URL): every row ends, nothing is split or
        # resent, and the engine sends nothing more to the endpoint.
        P(create(), 404, b"Not Found", NO_API_404, id="404"),
        P(v2(), 404, html("404 Not Found"), NO_API_404, id="404-html"),
        P(upsert(), 404, js({"Message": "No HTTP resource was found"}), NO_API_404,
          id="404-json-without-type"),
        P(create(), 404, REAL_404, NO_API_404, id="404-reference-page-message"),
        P(v2(), 404, FAKE_404, NO_API_404, id="404-fake-mx-envelope"),
        P(field(), 405, b"", NO_API_405, id="405"),
        P(single(), 405, FAKE_405, NO_API_405, id="405-fake-mx-envelope"),
        P(create(), 405, mx(DUP, "same Phone"), NO_API_405, id="405-any-mx-type"),
        # A 404 with an MX type that does not say the API is missing is about the rows.
        P(v2(), 404, mx(ENTITY, "Lead not found"), ("Split", ENTITY, "Lead not found"),
          id="404-mx-about-rows-multi"),
        P(single(), 404, mx(ENTITY, "Lead not found"),
          ("Answered", [(LeadNotFoundError, ENTITY)]), id="404-mx-about-rows-single"),
        P(upsert(), 413, html("413 Request Entity Too Large"), ("Failed", ServiceError),
          id="413"),
        P(single(), 422, js({"Message": "Unprocessable"}), ("Failed", ServiceError), id="422"),
    ],
)  # fmt: skip
def test_refusals(call: Call, status: int, body: bytes, expected: tuple[object, ...]) -> None:
    """Refusals split a bulk call, end its rows, or fail the call, by MX type and status."""
    assert shape(run(call, status, body)) == expected


MAYBE = ("Resend", ServiceError, True)
UNKNOWN = ("Failed", OutcomeUnknownError)
MISMATCH = ("Failed", RME)


@pytest.mark.parametrize(
    ("call", "status", "body", "expected"),
    [
        # A system error without an MX type: the service may have acted.
        P(v2(), 500, SYSTEM_ERROR, MAYBE, id="v2-500-system-error"),
        P(create(), 500, SYSTEM_ERROR, UNKNOWN, id="create-500-system-error"),
        P(upsert(), 502, html("502 Bad Gateway"), MAYBE, id="upsert-502-html"),
        P(create(), 503, html("503 Service Temporarily Unavailable"), UNKNOWN,
          id="create-503-html"),
        # A 2xx is not a success until its body says so.
        P(v2(), 200, SYSTEM_ERROR, MAYBE, id="v2-200-status-error"),
        P(create(), 200, SYSTEM_ERROR, UNKNOWN, id="create-200-status-error"),
        P(v2(), 200, html("OK"), MISMATCH, id="v2-200-html"),
        P(create(), 200, b"", MISMATCH, id="create-200-empty"),
        P(create(), 200, js({"RowNumber": 1}), MISMATCH, id="create-200-object-not-array"),
        P(v2(), 200, js({"Status": {"Message": "Processed"}}), MISMATCH, id="v2-200-no-details"),
        P(field(), 200, js({"Status": "Success"}), MISMATCH, id="field-200-no-affected-rows"),
        P(single(), 200, js({"Message": {"AffectedRows": 1}}), MISMATCH,
          id="lead-update-200-no-status"),
    ],
)  # fmt: skip
def test_unusable_answers(
    call: Call, status: int, body: bytes, expected: tuple[object, ...]
) -> None:
    """Unusable answers are resent when idempotent, else end as outcome unknown or mismatch."""
    assert shape(run(call, status, body)) == expected


@pytest.mark.parametrize(
    ("call", "error", "expected"),
    [
        P(create(), httpx2.ConnectError("refused"), ("Resend", ServiceError, False),
          id="create-connect-error"),
        P(upsert(), httpx2.ConnectTimeout("timed out"), ("Resend", ServiceError, False),
          id="upsert-connect-timeout"),
        P(v2(), httpx2.PoolTimeout("no connection"), ("Resend", ServiceError, False),
          id="v2-pool-timeout"),
        P(v2(), httpx2.ReadTimeout("timed out"), MAYBE, id="v2-read-timeout"),
        P(upsert(), httpx2.RemoteProtocolError("disconnected"), MAYBE,
          id="upsert-remote-protocol-error"),
        P(field(), httpx2.ReadError("reset"), MAYBE, id="field-read-error"),
        P(create(), httpx2.ReadTimeout("timed out"), UNKNOWN, id="create-read-timeout"),
        P(create(), httpx2.RemoteProtocolError("disconnected"), UNKNOWN,
          id="create-remote-protocol-error"),
        P(create(), httpx2.ReadError("reset"), UNKNOWN, id="create-read-error"),
    ],
)  # fmt: skip
def test_transport_errors(
    call: Call, error: httpx2.HTTPError, expected: tuple[object, ...]
) -> None:
    """No answer: resend if unsent or idempotent, else the create's outcome is unknown."""
    assert shape(classify_transport_error(call[0], error)) == expected


URL = "https://api-in21.leadsquared.com/v2/LeadManagement.svc/Lead/Bulk/Create"


def test_messages_name_the_url_or_host_called() -> None:
    """401 names the host and find_host; 404/405 and unsent requests name the URL called."""
    endpoint, rows = create()
    refused = classify(endpoint, rows, 401, {}, b"", url=URL)
    assert isinstance(refused, Failed)
    assert isinstance(refused.error, AuthenticationError)
    assert refused.error.host == "api-in21.leadsquared.com"
    assert "at api-in21.leadsquared.com refused" in str(refused.error)
    assert "find_host" in str(refused.error)
    missing = classify(endpoint, rows, 404, {}, FAKE_404, url=URL, reason="Not Found")
    assert isinstance(missing, NoSuchEndpoint)
    assert (missing.error.url, missing.error.status) == (URL, 404)
    assert str(missing.error).startswith(f"no such API at {URL} (HTTP 404 Not Found: ")
    assert "check the host or base URL" in str(missing.error)
    unsent = classify_transport_error(endpoint, httpx2.ConnectError("refused"), URL)
    assert isinstance(unsent, Resend)
    assert str(unsent.cause) == f"request not sent to {URL}: ConnectError"


@pytest.mark.parametrize("status", [200, 201, 204, 299])
@pytest.mark.parametrize(
    "body",
    [
        js([{"RowNumber": 1, "LeadId": ID[0], "LeadCreated": True}]),
        js({"Status": "Error", "ExceptionType": "X", "ExceptionMessage": "m"}),
        js({"Status": "Error", "ExceptionType": INPUT, "ExceptionMessage": "bad"}),
        b"<html>",
        js([]),
    ],
)
def test_a_2xx_answer_never_reads_the_reason_phrase(status: int, body: bytes) -> None:
    """The sender skips the reason phrase on a 2xx answer: no 2xx verdict may depend on it."""
    endpoint, rows = create(1)
    said = repr(classify(endpoint, rows, status, {}, body, reason="Odd Phrase", url="u"))
    assert said == repr(classify(endpoint, rows, status, {}, body, reason="", url="u"))
    assert "Odd Phrase" not in said
