"""``FakeLeadSquared``: the in-memory service as a raw ASGI application (routing and auth).

The endpoints' semantics live in ``_leads_bulk``, ``_leads_single`` and ``_lookups``, the rate
limits in ``_budgets``, the wire format in ``_wire``; this module reads requests, checks keys,
applies faults and budgets in the service's order, and records every call in the ledger.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from ._budgets import GENERAL, Budgets, Limit, LimitLike, rejection_message
from ._endpoints import (
    ADMIN_PREFIX,
    BULK_ENDPOINTS,
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    LEAD_ENDPOINTS,
    LEAD_UPDATE,
    ROUTES,
    count_rows,
)
from ._faults import NO_FAULT, FaultPlan
from ._leads_bulk import distort
from ._ledger import Ledger, LedgerEntry
from ._routing import handle
from ._store import LeadStore
from ._transport import FakeTransport
from ._wire import (
    Outcome,
    Receive,
    Reject,
    Scope,
    Send,
    bad,
    drop,
    envelope,
    find_poison,
    keys_match,
    read_body,
    read_query,
    send_json,
    send_system_error,
)

if TYPE_CHECKING:
    import contextlib

    import httpx

__all__ = ["FakeLeadSquared"]

_DEFAULT_RATE = Limit(25, 5.0)


def _limit(value: LimitLike | None) -> Limit | None:
    return None if value is None else Limit.of(value)


class FakeLeadSquared:
    """An in-memory LeadSquared lead API, served in-process or over HTTP (like moto for AWS).

    The instance is itself an ASGI application. Use ``transport()`` for an in-process
    ``httpx`` transport, ``serve()`` / ``serve_in_thread()`` for a real HTTP server on
    loopback; inspect ``store`` (the leads) and ``ledger`` (every call) afterwards.

    Limits (``rate_limit``, ``bulk_rate_limit``) take a ``Limit`` or any object with ``calls``
    and ``period`` (the client's ``RateLimit`` too); the fake keeps them as ``Limit``.
    """

    def __init__(
        self,
        access_key: str = DEMO_ACCESS_KEY,
        secret_key: str = DEMO_SECRET_KEY,
        *,
        rate_limit: LimitLike | None = _DEFAULT_RATE,
        bulk_rate_limit: LimitLike | None = None,
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
        self._budgets = Budgets(_limit(rate_limit), _limit(bulk_rate_limit))
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
        self._user_id = str(
            uuid.UUID(int=random.Random(f"user-{seed}").getrandbits(128), version=4)
        )
        self.store = LeadStore(self._new_id)
        """The leads (see ``LeadStore``)."""
        self.ledger = Ledger()
        """Every request received (see ``Ledger``)."""
        general = self.rate_limit
        self.ledger.default_window = general.period if general else 5.0

    @property
    def rate_limit(self) -> Limit | None:
        """The account's limit on all calls (None: unlimited)."""
        return self._budgets.limits[GENERAL]

    @rate_limit.setter
    def rate_limit(self, value: LimitLike | None) -> None:
        self._budgets.limits[GENERAL] = _limit(value)

    @property
    def bulk_rate_limit(self) -> Limit | None:
        """The extra limit the four bulk endpoints must also pass (None: none)."""
        return self._budgets.limits["bulk"]

    @bulk_rate_limit.setter
    def bulk_rate_limit(self, value: LimitLike | None) -> None:
        self._budgets.limits["bulk"] = _limit(value)

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
        self._budgets.clear()
        self._id_rng.seed(self.seed)
        self._fault_rng.seed(f"faults-{self.seed}")

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process ``httpx`` transport to this fake (no sockets).

        Deliberate drops surface as ``httpx.ConnectError`` (drop_before) and
        ``httpx.RemoteProtocolError`` (drop_after).
        """
        return FakeTransport(self)

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
        raw = await read_body(receive)
        query = read_query(scope)
        path: str = scope["path"]
        if path.startswith(ADMIN_PREFIX):
            await self._admin(scope, path, query, send)
            return
        route = ROUTES.get(path.lower().rstrip("/"))
        record = self.ledger.record

        if route is None:
            await send_json(send, 404, envelope("MXInvalidInputException", f"No API at {path}"))
            record(LedgerEntry(arrival, path, 0, 404, seq=seq))
            return
        endpoint, method = route

        if not self._authorized(scope, query):
            await send_json(
                send,
                401,
                envelope(
                    "MXUnAuthorizedAccessException",
                    "The access key or secret key is invalid, or missing",
                ),
            )
            record(LedgerEntry(arrival, endpoint, 0, 401, auth_failed=True, seq=seq))
            return
        if scope["method"] != method:
            await send_json(
                send,
                405,
                envelope("MXInvalidInputException", f"{endpoint} accepts {method} only"),
            )
            record(LedgerEntry(arrival, endpoint, 0, 405, seq=seq))
            return

        body: object = None
        parse_error: Reject | None = None
        if method == "POST":
            try:
                body = json.loads(raw)
            except ValueError:
                parse_error = bad("The request body is not valid JSON")
        rows = count_rows(endpoint, body)

        plan = self.faults(endpoint)
        decision = plan.decide(self._fault_rng) if plan is not None else NO_FAULT
        fault = decision.fault

        if fault == "drop_before":
            record(LedgerEntry(arrival, endpoint, rows, 0, fault=fault, seq=seq))
            await drop(send, fault)

        if fault == "rate_limited":
            limit = self.rate_limit or _DEFAULT_RATE
            status = await self._send_rate_limited(send, limit, decision.as_200)
            record(
                LedgerEntry(
                    arrival, endpoint, rows, status, rate_limited=True, fault=fault, seq=seq
                )
            )
            return
        exceeded = self._budgets.admit(endpoint in BULK_ENDPOINTS, arrival)
        if exceeded is not None:
            status = await self._send_rate_limited(send, exceeded[1], False)
            record(LedgerEntry(arrival, endpoint, rows, status, rate_limited=True, seq=seq))
            return

        if decision.delay > 0:
            await asyncio.sleep(decision.delay)

        if fault == "system_error":
            status = await send_system_error(send, decision.variant)
            record(LedgerEntry(arrival, endpoint, rows, status, fault=fault, seq=seq))
            return

        post_updated = (
            endpoint == LEAD_UPDATE and query.get("postupdatedlead", "").lower() == "true"
        )
        try:
            if parse_error is not None:
                raise parse_error
            outcome = self._handle(endpoint, body, query, post_updated)
        except Reject as reject:
            outcome = Outcome(envelope(reject.exception_type, reject.message), False, reject.status)

        if fault in ("omit_rows", "change_case") and not (
            outcome.status == 200 and distort(endpoint, outcome.payload, fault, decision.variant)
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
            await drop(send, fault)
        await send_json(send, outcome.status, outcome.payload)

    async def _admin(self, scope: Scope, path: str, query: dict[str, str], send: Send) -> None:
        """``GET /_fake/summary[?window=S]`` and ``POST /_fake/reset``, for other processes."""
        if not self._authorized(scope, query):
            await send_json(send, 401, envelope("MXUnAuthorizedAccessException", "bad keys"))
            return
        action = path[len(ADMIN_PREFIX) :].strip("/").lower()
        if action == "summary" and scope["method"] == "GET":
            try:
                window = float(query["window"]) if "window" in query else None
            except ValueError:
                window = None
            await send_json(send, 200, self.summary(window))
        elif action == "reset" and scope["method"] == "POST":
            self.reset()
            await send_json(send, 200, {"Status": "Success"})
        else:
            await send_json(send, 404, envelope("MXInvalidInputException", f"No API at {path}"))

    def _authorized(self, scope: Scope, query: dict[str, str]) -> bool:
        return keys_match(scope, query, self._access_key, self._secret_key)

    async def _send_rate_limited(self, send: Send, limit: Limit, as_200: bool) -> int:
        body = envelope("MXAPIRateLimitExceededException", rejection_message(limit))
        if as_200 or self.rate_limit_as_200:
            await send_json(send, 200, body)
            return 200
        extra: list[tuple[bytes, bytes]] = []
        if self.retry_after is not None:
            extra.append((b"retry-after", f"{self.retry_after:g}".encode()))
        await send_json(send, 429, body, extra)
        return 429

    def _handle(
        self, endpoint: str, body: object, query: dict[str, str], post_updated: bool
    ) -> Outcome:
        if self.poison_value is not None and endpoint in LEAD_ENDPOINTS:
            attribute = find_poison(body, self.poison_value)
            if attribute is not None:
                raise Reject(
                    self.poison_status,
                    "MXInvalidInputException",
                    f"Invalid value for attribute {attribute}",
                )
        return handle(
            endpoint,
            self.store,
            body,
            query,
            style=self.row_error_style,
            post_updated=post_updated,
            user_id=self._user_id,
            host=self.host,
        )
