"""``FakeLeadSquared``: the in-memory service, as a raw ASGI application."""

from __future__ import annotations

import asyncio
import collections
import hmac
import itertools
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Literal, NoReturn
from urllib.parse import parse_qsl

import httpx

from .._limits import RateLimit
from ._faults import NO_FAULT, FaultPlan
from ._ledger import Ledger, LedgerEntry
from ._store import EMAIL, LEAD_ID, PHONE, LeadStore

if TYPE_CHECKING:
    import contextlib

__all__ = [
    "BULK_ENDPOINTS",
    "DEMO_ACCESS_KEY",
    "DEMO_SECRET_KEY",
    "ENDPOINTS",
    "LEAD_ENDPOINTS",
    "FakeLeadSquared",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEMO_ACCESS_KEY = "u$rdemo0000000000000000000000000000"
"""The access key the fake accepts by default."""
DEMO_SECRET_KEY = "demo0000000000000000000000000000000000000"
"""The secret key the fake accepts by default."""

BULK_CREATE = "Lead/Bulk/Create"
BULK_UPDATE = "Lead/Bulk/Update"
BULK_UPDATE_V2 = "Lead/Bulk/UpdateV2"
BULK_CREATE_OR_UPDATE = "Lead/Bulk/CreateOrUpdate"
LEAD_UPDATE = "Lead.Update"
GET_BY_ID = "Leads.GetById"
GET_BY_EMAIL = "Leads.GetByEmailaddress"
USER_BY_ACCESS_KEY = "UserByAccessKey.Get"

ENDPOINTS = (
    BULK_CREATE,
    BULK_UPDATE,
    BULK_UPDATE_V2,
    BULK_CREATE_OR_UPDATE,
    LEAD_UPDATE,
    GET_BY_ID,
    GET_BY_EMAIL,
    USER_BY_ACCESS_KEY,
)
"""Every endpoint the fake serves, as the ledger names them."""
BULK_ENDPOINTS = frozenset({BULK_CREATE, BULK_UPDATE, BULK_UPDATE_V2, BULK_CREATE_OR_UPDATE})
"""The endpoints that must also pass ``bulk_rate_limit``."""
LEAD_ENDPOINTS = frozenset(ENDPOINTS) - {USER_BY_ACCESS_KEY}
"""The endpoints fault plans apply to."""

_MAX_ROWS = {BULK_CREATE: 50, BULK_UPDATE: 50, BULK_UPDATE_V2: 25, BULK_CREATE_OR_UPDATE: 25}
_ROUTES: dict[str, tuple[str, str]] = {
    **{f"/v2/leadmanagement.svc/{name.lower()}": (name, "POST") for name in _MAX_ROWS},
    f"/v2/leadmanagement.svc/{LEAD_UPDATE.lower()}": (LEAD_UPDATE, "POST"),
    f"/v2/leadmanagement.svc/{GET_BY_ID.lower()}": (GET_BY_ID, "GET"),
    f"/v2/leadmanagement.svc/{GET_BY_EMAIL.lower()}": (GET_BY_EMAIL, "GET"),
    f"/v2/authentication.svc/{USER_BY_ACCESS_KEY.lower()}": (USER_BY_ACCESS_KEY, "GET"),
}
_NAME_FIELDS = ("FirstName", "LastName", EMAIL, PHONE)
_NOT_FOUND_REASON = (
    "Lead does not exist in the system or You do not have permission to update the lead"
)
_JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]
_HTML_HEADERS = [(b"content-type", b"text/html")]


class _Reject(Exception):
    """A whole-request error, answered with the error envelope."""

    def __init__(self, status: int, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.exception_type = exception_type
        self.message = message


class _Drop(Exception):
    """Raised by the app to drop the connection (``kind``: drop_before or drop_after)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"fake LeadSquared deliberately dropped the connection ({kind})")
        self.kind = kind


def _bad(message: str) -> _Reject:
    return _Reject(400, "MXInvalidInputException", message)


def _envelope(exception_type: str, message: str) -> dict[str, object]:
    return {"Status": "Error", "ExceptionType": exception_type, "ExceptionMessage": message}


def _duplicate_message(attribute: str) -> str:
    return f"A lead with the same {attribute} already exists"


_MANDATORY_MESSAGE = "Mandatory attribute missing: pass at least one of " + ", ".join(_NAME_FIELDS)


def _value(raw: object, where: str) -> str:
    if isinstance(raw, str):
        return raw
    if raw is None:
        return ""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return str(raw)
    raise _bad(f"{where}: Value must be a string, got {type(raw).__name__}")


def _pairs(items: object, where: str, *, allow_fields: bool = True) -> list[tuple[str, object]]:
    """Read a list of {"Attribute", "Value"[, "Fields"]} objects."""
    if not isinstance(items, list):
        raise _bad(f"{where}: expected a list of attribute/value objects")
    out: list[tuple[str, object]] = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"{here}: expected an object with Attribute and Value")
        attribute = item.get("Attribute")
        if not isinstance(attribute, str) or not attribute.strip():
            raise _bad(f"{here}: Attribute must be a non-empty string")
        if "Value" not in item:
            raise _bad(f"{here}: Value is missing")
        value = _value(item["Value"], here)
        fields = item.get("Fields")
        if fields is not None and allow_fields:
            inner = _pairs(fields, f"{here}.Fields", allow_fields=False)
            out.append((attribute, {"Value": value, "Fields": dict(inner)}))
        elif fields is not None:
            raise _bad(f"{here}: nested Fields are not allowed")
        else:
            out.append((attribute, value))
    return out


def _rows(body: object, endpoint: str) -> list[list[tuple[str, object]]]:
    limit = _MAX_ROWS[endpoint]
    if not isinstance(body, list):
        raise _bad("The request body must be a JSON array of leads")
    if not body:
        raise _bad("The request body holds no leads")
    if len(body) > limit:
        raise _bad(f"At most {limit} leads can be sent in one call, got {len(body)}")
    return [_pairs(row, f"row {n}") for n, row in enumerate(body, 1)]


def _nonblank(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _count_rows(endpoint: str, body: object) -> int:
    if endpoint == LEAD_UPDATE:
        return 1
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        inner = body.get("LeadIds" if endpoint == BULK_UPDATE else "LeadPropertiesList")
        if isinstance(inner, list):
            return len(inner)
    return 0


class _Outcome:
    __slots__ = ("applied", "payload", "status")

    def __init__(self, payload: object, applied: bool, status: int = 200) -> None:
        self.payload = payload
        self.applied = applied
        self.status = status


#: Paths under this prefix control the fake itself (not part of LeadSquared's API).
ADMIN_PREFIX = "/_fake/"


class FakeLeadSquared:
    """An in-memory LeadSquared lead API, served in-process or over HTTP (like moto for AWS).

    The instance is itself an ASGI application. Use ``transport()`` for an in-process
    ``httpx`` transport, ``serve()`` / ``serve_in_thread()`` for a real HTTP server on
    loopback; inspect ``store`` (the leads) and ``ledger`` (every call) afterwards.
    """

    def __init__(
        self,
        access_key: str = DEMO_ACCESS_KEY,
        secret_key: str = DEMO_SECRET_KEY,
        *,
        rate_limit: RateLimit | None = RateLimit(25, 5.0),  # noqa: B008
        bulk_rate_limit: RateLimit | None = None,
        rate_limit_as_200: bool = False,
        retry_after: float | None = None,
        row_error_style: Literal["exception", "message"] = "exception",
        faults: FaultPlan | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        host: str = "api-in21.leadsquared.com",
        poison_value: str | None = None,
        poison_status: int = 500,
    ) -> None:
        if row_error_style not in ("exception", "message"):
            raise ValueError(
                f"row_error_style must be 'exception' or 'message', not {row_error_style!r}"
            )
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {retry_after!r}")
        self._access_key = access_key.encode()
        self._secret_key = secret_key.encode()
        self.access_key = access_key
        """The access key this fake accepts."""
        self.rate_limit = rate_limit
        """The account's limit on all calls (None: unlimited)."""
        self.bulk_rate_limit = bulk_rate_limit
        """The extra limit the four bulk endpoints must also pass (None: none)."""
        self.rate_limit_as_200 = rate_limit_as_200
        """Whether rate-limit rejections come as HTTP 200 with the error body."""
        self.retry_after = retry_after
        """Seconds sent in ``Retry-After`` on 429 answers (None: no header)."""
        self.row_error_style = row_error_style
        """How failed bulk rows name their error."""
        self.host = host
        """The host ``UserByAccessKey.Get`` names as the account's API host."""
        self.poison_value = poison_value
        """A field value that makes the service reject the whole call carrying it (None: off).

        The real service rejects a whole bulk call for one bad row (HTTP 500 with
        ``MXInvalidInputException``, or a 400); nothing of that call is applied.
        """
        self.poison_status = poison_status
        """The HTTP status of that rejection (500 or 400)."""
        self.seed = seed
        """The seed of the lead-id and fault generators."""
        self._clock = clock
        self._faults: FaultPlan | None = faults
        self._endpoint_faults: dict[str, FaultPlan] = {}
        self._id_rng = random.Random(seed)
        self._fault_rng = random.Random(f"faults-{seed}")
        self._seq = itertools.count()
        self._window: collections.deque[float] = collections.deque()
        self._bulk_window: collections.deque[float] = collections.deque()
        self._user_id = str(
            uuid.UUID(int=random.Random(f"user-{seed}").getrandbits(128), version=4)
        )
        self.store = LeadStore(self._new_id)
        """The leads (see ``LeadStore``)."""
        self.ledger = Ledger()
        """Every request received (see ``Ledger``)."""
        self.ledger.default_window = rate_limit.period if rate_limit else 5.0

    def __repr__(self) -> str:
        return (
            f"FakeLeadSquared(host={self.host!r}, rate_limit={self.rate_limit}, "
            f"bulk_rate_limit={self.bulk_rate_limit}, leads={self.store.count()}, "
            f"calls={len(self.ledger)})"
        )

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    # -- public controls ---------------------------------------------------------------------

    def set_faults(self, plan: FaultPlan | None, endpoint: str | None = None) -> None:
        """Set the fault plan for every lead endpoint, or override it for one ``endpoint``.

        ``set_faults(None)`` clears the global plan; ``set_faults(None, endpoint)`` removes that
        endpoint's override (use ``FaultPlan()`` to exempt one endpoint from the global plan).
        """
        if endpoint is None:
            self._faults = plan
            return
        if endpoint not in LEAD_ENDPOINTS:
            raise ValueError(
                f"faults apply to lead endpoints {sorted(LEAD_ENDPOINTS)}, not {endpoint!r}"
            )
        if plan is None:
            self._endpoint_faults.pop(endpoint, None)
        else:
            self._endpoint_faults[endpoint] = plan

    def faults(self, endpoint: str) -> FaultPlan | None:
        """The fault plan in force for ``endpoint``."""
        if endpoint not in LEAD_ENDPOINTS:
            return None
        return self._endpoint_faults.get(endpoint, self._faults)

    def reset(self) -> None:
        """Forget every lead, ledger entry and rate-limit window; reseed the generators."""
        self.store.clear()
        self.ledger.clear()
        self._window.clear()
        self._bulk_window.clear()
        self._id_rng.seed(self.seed)
        self._fault_rng.seed(f"faults-{self.seed}")

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process ``httpx`` transport to this fake (no sockets).

        Deliberate drops surface as ``httpx.ConnectError`` (drop_before) and
        ``httpx.RemoteProtocolError`` (drop_after).
        """
        return _FakeTransport(self)

    def serve(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> contextlib.AbstractAsyncContextManager[str]:
        """Serve over HTTP with uvicorn in the running event loop; yields the base URL."""
        from ._serve import serve

        return serve(self, host, port)

    def serve_in_thread(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> contextlib.AbstractContextManager[str]:
        """Serve over HTTP with uvicorn in a daemon thread; yields the base URL."""
        from ._serve import serve_in_thread

        return serve_in_thread(self, host, port)

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrival = self._clock()
        seq = next(self._seq)
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False) or message["type"] != "http.request":
                break
        raw = b"".join(chunks)
        query: dict[str, str] = {}
        query_string: bytes = scope.get("query_string", b"")
        if query_string:
            for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
                query.setdefault(name.lower(), value)
        path: str = scope["path"]
        if path.startswith(ADMIN_PREFIX):
            await self._admin(scope, path, query, send)
            return
        route = _ROUTES.get(path.lower().rstrip("/"))
        record = self.ledger.record

        if route is None:
            await _send_json(send, 404, _envelope("MXInvalidInputException", f"No API at {path}"))
            record(LedgerEntry(arrival, path, 0, 404, seq=seq))
            return
        endpoint, method = route

        if not self._authorized(scope, query):
            await _send_json(
                send,
                401,
                _envelope(
                    "MXUnAuthorizedAccessException",
                    "The access key or secret key is invalid, or missing",
                ),
            )
            record(LedgerEntry(arrival, endpoint, 0, 401, auth_failed=True, seq=seq))
            return
        if scope["method"] != method:
            await _send_json(
                send,
                405,
                _envelope("MXInvalidInputException", f"{endpoint} accepts {method} only"),
            )
            record(LedgerEntry(arrival, endpoint, 0, 405, seq=seq))
            return

        body: object = None
        parse_error: _Reject | None = None
        if method == "POST":
            try:
                body = json.loads(raw)
            except ValueError:
                parse_error = _bad("The request body is not valid JSON")
        rows = _count_rows(endpoint, body)

        plan = self.faults(endpoint)
        decision = plan.decide(self._fault_rng) if plan is not None else NO_FAULT
        fault = decision.fault

        if fault == "drop_before":
            record(LedgerEntry(arrival, endpoint, rows, 0, fault=fault, seq=seq))
            await _drop(send, fault)

        if fault == "rate_limited":
            limit = self.rate_limit or RateLimit()
            status = await self._send_rate_limited(send, limit, decision.as_200)
            record(
                LedgerEntry(
                    arrival, endpoint, rows, status, rate_limited=True, fault=fault, seq=seq
                )
            )
            return
        exceeded = self._admit(endpoint, arrival)
        if exceeded is not None:
            status = await self._send_rate_limited(send, exceeded, False)
            record(LedgerEntry(arrival, endpoint, rows, status, rate_limited=True, seq=seq))
            return

        if decision.delay > 0:
            await asyncio.sleep(decision.delay)

        if fault == "system_error":
            status = await _send_system_error(send, decision.variant)
            record(LedgerEntry(arrival, endpoint, rows, status, fault=fault, seq=seq))
            return

        post_updated = (
            endpoint == LEAD_UPDATE and query.get("postupdatedlead", "").lower() == "true"
        )
        try:
            if parse_error is not None:
                raise parse_error
            outcome = self._handle(endpoint, body, query, post_updated)
        except _Reject as reject:
            outcome = _Outcome(
                _envelope(reject.exception_type, reject.message), False, reject.status
            )

        if fault in ("omit_rows", "change_case") and not (
            outcome.status == 200 and _distort(endpoint, outcome.payload, fault, decision.variant)
        ):
            fault = None

        record(
            LedgerEntry(
                arrival,
                endpoint,
                rows,
                outcome.status,
                applied=outcome.applied,
                fault=fault,
                post_updated_lead=post_updated,
                seq=seq,
            )
        )
        if fault == "drop_after":
            await _drop(send, fault)
        await _send_json(send, outcome.status, outcome.payload)

    def summary(self, window: float | None = None) -> dict[str, object]:
        """What a benchmark or a test in another process needs from the ledger and store."""
        ledger = self.ledger
        endpoints: dict[str, dict[str, int]] = {}
        for entry in ledger.entries:
            if entry.applied:
                counts = endpoints.setdefault(entry.endpoint, {"calls": 0, "rows": 0})
                counts["calls"] += 1
                counts["rows"] += entry.rows
        return {
            "calls": ledger.calls(),
            "accepted": ledger.calls(accepted_only=True),
            "rate_limited": ledger.rate_limited(),
            "max_calls_in_window": ledger.max_calls_in_window(window),
            "window": window if window is not None else ledger.default_window,
            "endpoints": endpoints,
            "leads": self.store.count(),
            "duplicates": len(self.store.duplicates()),
        }

    async def _admin(self, scope: Scope, path: str, query: dict[str, str], send: Send) -> None:
        """``GET /_fake/summary[?window=S]`` and ``POST /_fake/reset``, for other processes."""
        if not self._authorized(scope, query):
            await _send_json(send, 401, _envelope("MXUnAuthorizedAccessException", "bad keys"))
            return
        action = path[len(ADMIN_PREFIX) :].strip("/").lower()
        if action == "summary" and scope["method"] == "GET":
            try:
                window = float(query["window"]) if "window" in query else None
            except ValueError:
                window = None
            await _send_json(send, 200, self.summary(window))
        elif action == "reset" and scope["method"] == "POST":
            self.reset()
            await _send_json(send, 200, {"Status": "Success"})
        else:
            await _send_json(send, 404, _envelope("MXInvalidInputException", f"No API at {path}"))

    def _authorized(self, scope: Scope, query: dict[str, str]) -> bool:
        access: bytes | None = None
        secret: bytes | None = None
        for name, value in scope["headers"]:
            lower = name.lower()
            if lower == b"x-lsq-accesskey":
                access = value
            elif lower == b"x-lsq-secretkey":
                secret = value
        if access is None and "accesskey" in query:
            access = query["accesskey"].encode()
        if secret is None and "secretkey" in query:
            secret = query["secretkey"].encode()
        if access is None or secret is None:
            return False
        # Evaluate both comparisons: no early exit on the access key.
        ok_access = hmac.compare_digest(access, self._access_key)
        ok_secret = hmac.compare_digest(secret, self._secret_key)
        return ok_access and ok_secret

    def _admit(self, endpoint: str, now: float) -> RateLimit | None:
        """Count the call in the windows, or return the limit it would exceed."""
        checks: list[tuple[RateLimit, collections.deque[float]]] = []
        if self.rate_limit is not None:
            checks.append((self.rate_limit, self._window))
        if self.bulk_rate_limit is not None and endpoint in BULK_ENDPOINTS:
            checks.append((self.bulk_rate_limit, self._bulk_window))
        for limit, window in checks:
            horizon = now - limit.period
            while window and window[0] <= horizon:
                window.popleft()
            if len(window) >= limit.calls:
                return limit
        for _, window in checks:
            window.append(now)
        return None

    async def _send_rate_limited(self, send: Send, limit: RateLimit, as_200: bool) -> int:
        body = _envelope(
            "MXAPIRateLimitExceededException",
            f"API calls exceeded the limit of {limit.calls} in {limit.period:g} second(s)",
        )
        if as_200 or self.rate_limit_as_200:
            await _send_json(send, 200, body)
            return 200
        extra: list[tuple[bytes, bytes]] = []
        if self.retry_after is not None:
            extra.append((b"retry-after", f"{self.retry_after:g}".encode()))
        await _send_json(send, 429, body, extra)
        return 429

    # -- endpoints ---------------------------------------------------------------------------

    def _handle(
        self, endpoint: str, body: object, query: dict[str, str], post_updated: bool
    ) -> _Outcome:
        if self.poison_value is not None and endpoint in LEAD_ENDPOINTS:
            attribute = _find_poison(body, self.poison_value)
            if attribute is not None:
                raise _Reject(
                    self.poison_status,
                    "MXInvalidInputException",
                    f"Invalid value for attribute {attribute}",
                )
        if endpoint == BULK_CREATE:
            return self._bulk_create(body)
        if endpoint == BULK_CREATE_OR_UPDATE:
            return self._bulk_create_or_update(body)
        if endpoint == BULK_UPDATE_V2:
            return self._bulk_update_v2(body)
        if endpoint == BULK_UPDATE:
            return self._bulk_update(body)
        if endpoint == LEAD_UPDATE:
            return self._lead_update(body, query, post_updated)
        if endpoint == GET_BY_ID:
            lead_id = query.get("id", "").strip()
            if not lead_id:
                raise _bad("The id parameter is required")
            lead = self.store.get(lead_id)
            return _Outcome([] if lead is None else [lead], False)
        if endpoint == GET_BY_EMAIL:
            email = query.get("emailaddress", "").strip()
            if not email:
                raise _bad("The emailaddress parameter is required")
            lead = self.store.find_by_email(email)
            return _Outcome([] if lead is None else [lead], False)
        return _Outcome(self._user(), False)

    def _row_error(self, row: dict[str, object], exception_type: str, message: str) -> None:
        if self.row_error_style == "message":
            row["ErrorMessage"] = message
        else:
            row["ExceptionType"] = exception_type
            row["ExceptionMessage"] = message

    def _bulk_create(self, body: object) -> _Outcome:
        rows = _rows(body, BULK_CREATE)
        store = self.store
        out: list[dict[str, object]] = []
        applied = False
        for number, pairs in enumerate(rows, 1):
            fields = store.canonical(pairs)
            fields.pop("SearchBy", None)
            fields.pop(LEAD_ID, None)
            row: dict[str, object] = {"RowNumber": number}
            if not any(_nonblank(fields.get(name)) for name in _NAME_FIELDS):
                row["LeadCreated"] = False
                self._row_error(row, "MXMandatoryAttributeMissingException", _MANDATORY_MESSAGE)
            elif (clash := store.conflict(None, fields)) is not None:
                row["LeadCreated"] = False
                self._row_error(row, "MXDuplicateEntryException", _duplicate_message(clash))
            else:
                row["LeadId"] = store.create(fields)
                row["LeadCreated"] = True
                applied = True
            out.append(row)
        return _Outcome(out, applied)

    def _bulk_create_or_update(self, body: object) -> _Outcome:
        rows = _rows(body, BULK_CREATE_OR_UPDATE)
        store = self.store
        out: list[dict[str, object]] = []
        applied = False
        for number, pairs in enumerate(rows, 1):
            fields = store.canonical(pairs)
            search_by = _nonblank(fields.pop("SearchBy", None))
            fields.pop(LEAD_ID, None)
            row: dict[str, object] = {"RowNumber": number}
            lead_id: str | None = None
            searched = False
            if search_by is not None:
                wanted = _nonblank(fields.get(store.name(search_by)))
                if wanted is not None:
                    searched = True
                    lead_id = store.find_first(search_by, wanted)
            if not searched:
                email = _nonblank(fields.get(EMAIL))
                phone = _nonblank(fields.get(PHONE))
                if email is None and phone is None:
                    row.update(LeadCreated=False, LeadUpdated=False, AffectedRows=0)
                    self._row_error(
                        row,
                        "MXMandatoryAttributeMissingException",
                        "Mandatory attribute missing: pass EmailAddress, Phone or a SearchBy value",
                    )
                    out.append(row)
                    continue
                lead_id = store.owner(EMAIL, email) or store.owner(PHONE, phone)
            clash = store.conflict(lead_id, fields)
            if clash is not None:
                row.update(LeadCreated=False, LeadUpdated=False, AffectedRows=0)
                self._row_error(row, "MXDuplicateEntryException", _duplicate_message(clash))
            elif lead_id is not None:
                store.update(lead_id, fields)
                row.update(LeadId=lead_id, LeadCreated=False, LeadUpdated=True, AffectedRows=1)
                applied = True
            else:
                new_id = store.create(fields)
                row.update(LeadId=new_id, LeadCreated=True, LeadUpdated=False, AffectedRows=1)
                applied = True
            out.append(row)
        return _Outcome(out, applied)

    def _bulk_update(self, body: object) -> _Outcome:
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object with LeadIds and LeadFields")
        ids = body.get("LeadIds")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _bad("LeadIds must be a list of lead ids")
        if not ids:
            raise _bad("LeadIds holds no lead ids")
        if len(ids) > _MAX_ROWS[BULK_UPDATE]:
            raise _bad(
                f"At most {_MAX_ROWS[BULK_UPDATE]} leads can be updated in one call, got {len(ids)}"
            )
        lead_fields = body.get("LeadFields")
        if not isinstance(lead_fields, dict):
            raise _bad("LeadFields must be an object with Attribute and Value")
        pairs = _pairs([lead_fields], "LeadFields")
        if "Attribute" in body or "Value" in body:
            pairs += _pairs(
                [{"Attribute": body.get("Attribute"), "Value": body.get("Value")}], "LeadType"
            )
        store = self.store
        fields = store.canonical(pairs)
        if LEAD_ID in fields:
            raise _bad("ProspectID cannot be updated")
        existing = list(dict.fromkeys(i for i in (store.lead_id(x) for x in ids) if i is not None))
        for attribute in (EMAIL, PHONE):
            if _nonblank(fields.get(attribute)) is None:
                continue
            owner = store.owner(attribute, fields[attribute])
            if len(existing) > 1 or (owner is not None and owner not in existing):
                raise _Reject(500, "MXDuplicateEntryException", _duplicate_message(attribute))
        for lead_id in existing:
            store.update(lead_id, fields)
        return _Outcome(
            {"Status": "Success", "Message": {"AffectedRows": len(existing)}}, bool(existing)
        )

    def _bulk_update_v2(self, body: object) -> _Outcome:
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object with LeadPropertiesList")
        search_key = body.get("SearchByKey")
        if search_key is not None and not isinstance(search_key, str):
            raise _bad("SearchByKey must be a string")
        search_key = _nonblank(search_key)
        options = body.get("Options")
        push_unprocessed = False
        if options is not None:
            if not isinstance(options, dict):
                raise _bad("Options must be an object")
            flag = options.get("PushNonExistentLeadsToUnProcessedList", False)
            if isinstance(flag, str) and flag.lower() in ("true", "false"):
                flag = flag.lower() == "true"
            if not isinstance(flag, bool):
                raise _bad("PushNonExistentLeadsToUnProcessedList must be true or false")
            push_unprocessed = flag
        items = body.get("LeadPropertiesList")
        if not isinstance(items, list):
            raise _bad('LeadPropertiesList must be a list of {"Fields": [...]} objects')
        if not items:
            raise _bad("LeadPropertiesList holds no leads")
        if len(items) > _MAX_ROWS[BULK_UPDATE_V2]:
            raise _bad(
                f"At most {_MAX_ROWS[BULK_UPDATE_V2]} leads can be updated in one call, "
                f"got {len(items)}"
            )
        rows: list[list[tuple[str, object]]] = []
        for n, item in enumerate(items, 1):
            if isinstance(item, list):
                raise _bad(
                    "Cannot deserialize the current JSON array (e.g. [1,2,3]) into type "
                    "'LeadPropertiesV2' because the type requires a JSON object "
                    '(e.g. {"name":"value"}) to deserialize correctly.'
                )
            if not isinstance(item, dict):
                raise _bad(f"LeadPropertiesList[{n - 1}] must be an object with Fields")
            rows.append(_pairs(item.get("Fields"), f"LeadPropertiesList[{n - 1}].Fields"))

        store = self.store
        identifier = search_key or "ProspectId"
        key_name = store.name(search_key) if search_key else LEAD_ID
        successful: list[dict[str, object]] = []
        failed: list[dict[str, object]] = []
        unprocessed: list[dict[str, object]] = []
        for pairs in rows:
            fields = store.canonical(pairs)
            raw = fields.get(key_name)
            if isinstance(raw, dict):
                raw = raw.get("Value")
            value = raw if isinstance(raw, str) else ""
            fields.pop(LEAD_ID, None)
            fields.pop("SearchBy", None)
            entry: dict[str, object] = {"Identifier": identifier, "IdentifierValue": value}
            if not value.strip():
                entry["Reason"] = f"The value of {identifier} is missing for this lead"
                failed.append(entry)
                continue
            lead_id = store.find_first(key_name, value)
            if lead_id is None:
                entry["Reason"] = _NOT_FOUND_REASON
                (unprocessed if push_unprocessed else failed).append(entry)
                continue
            clash = store.conflict(lead_id, fields)
            if clash is not None:
                entry["Reason"] = f"MXDuplicateEntryException: {_duplicate_message(clash)}"
                failed.append(entry)
                continue
            store.update(lead_id, fields)
            successful.append(entry)
        status: dict[str, object] = {
            "TotalCount": len(rows),
            "SuccessCount": len(successful),
            "FailureCount": len(failed),
        }
        if push_unprocessed:
            status["UnProcessedCount"] = len(unprocessed)
        status["Message"] = "Processed" if len(successful) == len(rows) else "Error"
        details: dict[str, object] = {}
        for name, entries in (
            ("SuccessfulLeads", successful),
            ("FailedLeads", failed),
            ("UnProcessedLeads", unprocessed),
        ):
            if entries:
                details[name] = entries
        return _Outcome({"Status": status, "Details": details}, bool(successful))

    def _lead_update(self, body: object, query: dict[str, str], post_updated: bool) -> _Outcome:
        lead_param = query.get("leadid", "").strip()
        if not lead_param:
            raise _bad("The leadId parameter is required")
        if not isinstance(body, list):
            raise _bad("The request body must be a JSON array of attribute/value objects")
        if not body:
            raise _bad("The request body holds no fields")
        store = self.store
        fields = store.canonical(_pairs(body, "body"))
        fields.pop(LEAD_ID, None)
        fields.pop("SearchBy", None)
        lead_id = store.lead_id(lead_param)
        if lead_id is None:
            raise _Reject(
                500, "MXInvalidEntityException", f"Lead with id {lead_param} does not exist"
            )
        clash = store.conflict(lead_id, fields)
        if clash is not None:
            raise _Reject(500, "MXDuplicateEntryException", _duplicate_message(clash))
        store.update(lead_id, fields)
        if post_updated:
            store.note_automation(lead_id)
        return _Outcome({"Status": "Success", "Message": {"AffectedRows": 1}}, True)

    def _user(self) -> dict[str, object]:
        region = self.host.split(".", 1)[0].removeprefix("api").lstrip("-")
        suffix = f"-{region}" if region else ""
        return {
            "Id": self._user_id,
            "FirstName": "Demo",
            "LastName": "User",
            "EmailAddress": "demo.user@example.com",
            "Role": "Administrator",
            "Timezone": "Asia/Kolkata",
            "OrgId": "10000",
            "IsAdministrator": True,
            "LSQCommonServiceURLs": {
                "api": self.host,
                "app": f"app{suffix}.leadsquared.com",
                "async": f"asyncapi{suffix}.leadsquared.com",
            },
        }


def _distort(endpoint: str, payload: object, fault: str | None, variant: float) -> bool:
    """Apply omit_rows / change_case to a success payload; False when it does not apply."""
    if endpoint in (BULK_CREATE, BULK_CREATE_OR_UPDATE) and isinstance(payload, list) and payload:
        if fault == "omit_rows":
            del payload[min(int(variant * len(payload)), len(payload) - 1)]
            return True
        changed = False
        for row in payload:
            lead_id = row.get("LeadId")
            if isinstance(lead_id, str):
                row["LeadId"] = lead_id.upper()
                changed = True
        return changed
    if endpoint == BULK_UPDATE_V2 and isinstance(payload, dict):
        details = payload["Details"]
        lists: list[list[dict[str, object]]] = list(details.values())
        flat = [(entries, i) for entries in lists for i in range(len(entries))]
        if not flat:
            return False
        if fault == "omit_rows":
            entries, i = flat[min(int(variant * len(flat)), len(flat) - 1)]
            del entries[i]
            for name in [name for name, value in details.items() if not value]:
                del details[name]
            return True
        for entries, i in flat:
            value = entries[i]["IdentifierValue"]
            if isinstance(value, str):
                if variant < 1 / 3:
                    value = value.upper()
                elif variant < 2 / 3:
                    value = f"  {value} "
                else:
                    value = f" {value.upper()}  "
                entries[i]["IdentifierValue"] = value
        return True
    return False


async def _send_json(
    send: Send, status: int, payload: object, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_system_error(send: Send, variant: float) -> int:
    if variant < 0.5:
        await _send_json(
            send, 500, {"Status": "Error", "ExceptionMessage": "An unexpected error occurred"}
        )
        return 500
    status = 502 if variant < 0.75 else 503
    title = "502 Bad Gateway" if status == 502 else "503 Service Temporarily Unavailable"
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    ).encode()
    headers = [*_HTML_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status


async def _drop(send: Send, kind: str) -> NoReturn:
    """Start a response that never completes, then raise ``_Drop`` so the server aborts."""
    headers = [*_JSON_HEADERS, (b"content-length", b"4096")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    raise _Drop(kind)


def _find_poison(body: object, marker: str) -> str | None:
    """The attribute of the first ``{"Attribute": a, "Value": marker}`` anywhere in ``body``."""
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("Value") == marker:
                return str(item.get("Attribute", "?"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


class _FakeTransport(httpx.AsyncBaseTransport):
    """``httpx.ASGITransport`` to the fake, turning deliberate drops into transport errors."""

    def __init__(self, fake: FakeLeadSquared) -> None:
        self._inner = httpx.ASGITransport(app=fake)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except _Drop as drop:
            if drop.kind == "drop_before":
                raise httpx.ConnectError(
                    "fake LeadSquared dropped the connection before the request", request=request
                ) from None
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response", request=request
            ) from None

    async def aclose(self) -> None:
        await self._inner.aclose()
