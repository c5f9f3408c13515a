"""What an answer means for the rows of a call: the verdicts, and the pure function giving them.

``classify`` reads one HTTP answer (or the transport error that stood in for one) and says what
it means for every row of the call, without acting on it: the engine is the one place that
acts (finishing rows, resending, splitting, pausing the limiters), as the retry policy
(``_rules.policy``) says. A rate-limit rejection carries what the answer said (the limit it
names, ``Retry-After``); which budget it names is the budgets' to learn. Keeping the decision
pure lets a table test cover every answer shape the service is known to give.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Union
from urllib.parse import urlsplit

import attrs
import httpx2

from .._budgets.limiters import RateLimit, parse_rate_limit_message
from .._errors import (
    AuthenticationError,
    EndpointNotFoundError,
    LeadRejectedError,
    LeadSquaredError,
    OutcomeUnknownError,
    ResponseMismatchError,
    ServiceError,
)
from .answers import NOT_JSON, ErrorEnvelope, WireError, parse_json, structure
from .registry import Endpoint, Row
from .spec import Decoded

__all__ = [
    "Answered",
    "Failed",
    "NoSuchEndpoint",
    "RateLimited",
    "Resend",
    "Split",
    "Verdict",
    "classify",
    "classify_transport_error",
]

RATE_LIMITED = "MXAPIRateLimitExceededException"
#: Whole-call refusals raised while checking the input, before anything is written.
VALIDATION_TYPES = frozenset({"MXInvalidInputException", "MXMandatoryAttributeMissingException"})
#: Transport errors raised before the request left: nothing can have been applied.
NOT_SENT = (
    httpx2.ConnectError,
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
    httpx2.UnsupportedProtocol,
)
#: A 404's message that says the API itself does not exist (LeadSquared: "The API could not be
#: found. Please check the API signature."; the fake: "No API at /v2/...").
NO_SUCH_API = re.compile(r"\bno (such )?api\b|\bapi (could|can) ?not be found", re.IGNORECASE)


@attrs.frozen
class Answered:
    """The call ended: one outcome per row, in call order (results or row errors).

    A row may be ``UNANSWERED`` (a page of the answer did not reach it): it goes again.
    """

    outcomes: tuple[Decoded, ...]


@attrs.frozen
class Failed:
    """The call ended with one error for every row."""

    error: LeadSquaredError


@attrs.frozen
class Resend:
    """A failure that is safe to retry: send the rows again after a back-off.

    ``sent`` says whether the request may have reached the service (the endpoint is then
    idempotent, or the verdict would have been ``Failed`` with ``OutcomeUnknownError``);
    ``cause`` is the error the rows end with once their retries run out.
    """

    cause: ServiceError
    sent: bool


@attrs.frozen
class RateLimited:
    """The service refused the call for a budget: nothing was applied; resend after a pause.

    ``announced`` is the limit the message names (None when it names none); ``retry_after``
    the pause the answer asked for (``Retry-After``; None when it asked for none). Which
    budget refused, and how long to pause it, ``Budgets.rejected`` learns from these.
    """

    message: str
    announced: RateLimit | None
    retry_after: float | None


@attrs.frozen
class Split:
    """The service refused the whole call, perhaps for one bad row: send it again in halves."""

    cause: LeadRejectedError


@attrs.frozen
class NoSuchEndpoint:
    """There is no such API at the URL called: every row of the call ends with ``error``, and
    nothing more goes to that endpoint (a configuration error: resending cannot help)."""

    error: EndpointNotFoundError


Verdict = Union[Answered, Failed, Resend, RateLimited, Split, NoSuchEndpoint]


_LONGEST_RETRY_AFTER = 3600.0


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not seconds >= 0:  # negative, or NaN
        return None
    # A pause longer than the hourly window is honoured as an hour: the client looks again then
    # rather than sleeping for a day on one header (a spent daily quota is learned from the
    # message, not from this).
    return min(seconds, _LONGEST_RETRY_AFTER)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _maybe_applied(endpoint: Endpoint, what: str) -> Verdict:
    """The request reached the service but the answer is unusable."""
    if endpoint.idempotent:
        return Resend(ServiceError(what), sent=True)
    return Failed(OutcomeUnknownError(f"{what}; a create is not resent, it may have been applied"))


def classify_transport_error(endpoint: Endpoint, error: httpx2.HTTPError, url: str = "") -> Verdict:
    """The verdict when no answer came: resend if nothing can have been applied, or if safe.

    ``url`` is the URL called, for messages.
    """
    name = type(error).__name__
    where = url or endpoint.path
    if isinstance(error, NOT_SENT):
        return Resend(ServiceError(f"request not sent to {where}: {name}"), sent=False)
    return _maybe_applied(endpoint, f"{name} after the request was sent to {where}")


def _no_such_endpoint(url: str, status: int, reason: str, message: str) -> NoSuchEndpoint:
    said = f"HTTP {status} {reason}".strip() + (f": {_short(message)}" if message else "")
    what = "no such API" if status == 404 else "this API does not take this request"
    return NoSuchEndpoint(
        EndpointNotFoundError(
            f"{what} at {url} ({said}); check the host or base URL (the client adds "
            "/v2/LeadManagement.svc/... itself); nothing was applied",
            url,
            status,
        )
    )


def _authentication(url: str) -> AuthenticationError:
    host = urlsplit(url).netloc or None
    at = f" at {host}" if host else ""
    return AuthenticationError(
        f"the service{at} refused the access key or secret key (HTTP 401); keys work only on "
        "their account's own host (api.leadsquared.com is the Singapore region): "
        "lsq.find_host(access_key, secret_key) asks UserByAccessKey.Get for it",
        host,
    )


def _rate_limited(message: str, headers: Mapping[str, str]) -> RateLimited:
    return RateLimited(message, parse_rate_limit_message(message), _retry_after(headers))


def _rejected(
    endpoint: Endpoint, rows: Sequence[Row], exception_type: str | None, message: str, status: int
) -> Verdict:
    """The service refused the whole call: resending it unchanged would not help.

    A bulk call may have been refused for one bad row, so it is split and the halves sent
    alone until the bad rows are isolated; for creates only when the refusal proves nothing
    was applied (a 400, or an input-validation MX type).
    """
    if (
        len(rows) > 1
        and endpoint.bulk
        and (endpoint.idempotent or status == 400 or exception_type in VALIDATION_TYPES)
    ):
        return Split(LeadRejectedError(message, exception_type))
    if exception_type == "MXInvalidEntityException":
        return Answered(tuple(endpoint.not_found(row, message, exception_type) for row in rows))
    return Failed(LeadRejectedError(message, exception_type))


def classify(
    endpoint: Endpoint,
    rows: Sequence[Row],
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    reason: str = "",
    url: str = "",
) -> Verdict:
    """What the answer ``status``/``headers``/``body`` to a call of ``rows`` means.

    ``reason`` is the HTTP reason phrase and ``url`` the URL called, for messages.
    """
    data = parse_json(body)
    envelope = None
    if isinstance(data, dict):
        try:
            envelope = structure(data, ErrorEnvelope)
        except WireError:
            envelope = None
    exception_type = envelope.exception_type if envelope else None
    message = (envelope.exception_message if envelope else None) or ""
    if status == 429 or exception_type == RATE_LIMITED:
        return _rate_limited(message or "HTTP 429", headers)
    if status == 401:
        return Failed(_authentication(url))
    if status == 405 or (status == 404 and (not exception_type or NO_SUCH_API.search(message))):
        return _no_such_endpoint(url or endpoint.path, status, reason, message)
    if exception_type and exception_type.startswith("MX"):
        return _rejected(endpoint, rows, exception_type, message or f"HTTP {status}", status)
    if 200 <= status < 300:
        if envelope is not None and (envelope.status or "").casefold() == "error":
            return _maybe_applied(endpoint, f"HTTP {status} with Status Error: {_short(message)}")
        if data is NOT_JSON:
            return Failed(ResponseMismatchError(f"HTTP {status} with a body that is not JSON"))
        try:
            outcomes = endpoint.decode(rows, data)
        except WireError as exc:
            return Failed(ResponseMismatchError(f"HTTP {status}: {exc}"))
        if len(outcomes) != len(rows):  # a decoder must answer every row; never guess
            return Failed(ResponseMismatchError(f"HTTP {status}: the answer's rows do not match"))
        return Answered(tuple(outcomes))
    if status == 400:
        text = body.decode("utf-8", "replace")  # whatever charset it claims
        return _rejected(
            endpoint, rows, None, message or _short(text) or "HTTP 400 Bad Request", 400
        )
    if status in (403, 404, 413, 414, 415, 422):
        return Failed(ServiceError(f"HTTP {status} {reason}".strip()))
    # 5xx without an MX type, and anything else unexpected: the service may have acted.
    return _maybe_applied(endpoint, f"HTTP {status} {reason}".strip())
