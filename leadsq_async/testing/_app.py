"""``FakeLeadSquared``: the in-memory service as a raw ASGI application (routing and auth).

The endpoints' semantics live in ``_leads_bulk``, ``_leads_single`` and ``_lookups``, the rate
limits in ``_budgets``, the wire format in ``_wire``; this module reads requests, checks keys,
applies faults and budgets in the service's order, and records every call in the ledger.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from ._budgets import (
    BULK,
    GENERAL,
    QUOTA,
    QUOTA_MESSAGES,
    Budgets,
    Limit,
    LimitLike,
    rejection_message,
)
from ._endpoints import (
    ADMIN_PREFIX,
    BULK_ENDPOINTS,
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    LEAD_CREATE_OR_UPDATE,
    LEAD_ENDPOINTS,
    LEAD_UPDATE,
    LEADS_METADATA,
    ROUTES,
    count_rows,
)
from ._faults import FaultBook, FaultPlan
from ._leads_bulk import distort
from ._ledger import Ledger, LedgerEntry
from ._plans import Plan, plan_limits
from ._routing import admin, handle
from ._schema import FieldsLike, LeadSchema, schema_of
from ._store import LeadStore
from ._summary import summarize
from ._transport import FakeTransport
from ._wire import (
    Message,
    Outcome,
    Receive,
    Reject,
    Scope,
    Send,
    bad,
    drop,
    envelope,
    keys_match,
    read_body,
    read_query,
    send_json,
    send_rate_limited,
    send_system_error,
)

if TYPE_CHECKING:
    import contextlib

    import httpx2

__all__ = ["FakeLeadSquared"]

_DEFAULT_RATE = Limit(25, 5.0)
# The writes whose postUpdatedLead=true makes automations fire on an update.
_POSTS_UPDATED = frozenset({LEAD_UPDATE, LEAD_CREATE_OR_UPDATE})


def _limit(value: LimitLike | None) -> Limit | None:
    return None if value is None else Limit.of(value)


class FakeLeadSquared:
    """An in-memory LeadSquared lead API, served in-process or over HTTP (like moto for AWS).

    The instance is itself an ASGI application. Use ``transport()`` for an in-process
    ``httpx2`` transport, ``serve()`` / ``serve_in_thread()`` for a real HTTP server on
    loopback; inspect ``store`` (the leads) and ``ledger`` (every call) afterwards.

    Rate limits model a real account's budgets: ``rate_limit`` bounds every call (single-lead
    writes and lookups pass this one only), ``bulk_rate_limit`` also bounds the bulk APIs
    (``BULK_ENDPOINTS``; a bulk call takes a slot of both unless ``bulk_counts_in_general`` is
    false), and ``daily_quota`` bounds every accepted call over a long rolling window
    (``Limit(10_000, 86400)``, or a shorter window in a scaled test). Each takes a ``Limit``
    or any object with ``calls`` and ``period`` (the client's ``RateLimit`` too), or None for
    no such budget; the fake keeps them as ``Limit``.
    A rejection names the exceeded budget's own numbers ("API calls exceeded the limit of 1 in
    5 second(s)") as HTTP 429, or as HTTP 200 with the same body when ``rate_limit_as_200``;
    ``quota_message="opaque"`` words the quota's rejection so that no client can parse it
    (the service's real wording is undocumented). Rejected calls count in no budget.
    ``from_plan()`` builds a fake with the budgets of a published plan (``PLANS``).

    ``fields`` is the account's lead schema: custom field names (``["mx_City", "mx_KYC",
    "mx_KYC.Status"]``), a ``LeadSchema``, or the path of a file for ``LeadSchema.load``;
    the standard fields are built in. A write naming any other attribute is then rejected
    whole with HTTP 500 ``MXInvalidInputException`` and nothing of it applied, as the
    service refuses a call for one bad row. Without ``fields`` any attribute is stored, and
    ``LeadsMetaData.Get`` is answered as by an account without that API (HTTP 404): the fake
    has no field list to publish. The schema's fields have types (``Field``; a
    ``LeadsMetaData.Get`` answer loaded as it is), and ``LeadsMetaData.Get`` answers them. A
    value its field refuses (not a Number, not one of a dropdown's options, over
    ``MaxLength``, ...) fails its row alone in a bulk answer when ``bad_value_refuses`` is
    "row" (the default), or refuses the whole bulk call
    (HTTP 500 ``MXInvalidInputException``, nothing applied) when "call"; a single-lead write
    fails, whole, either way. A create without a mandatory field fails its row
    (``MXMandatoryAttributeMissingException``).

    Lookups answer every value as a string (``[]`` when there is no lead, ``Leads`` of
    ``Leads/Retrieve/ByIds`` shuffled, pages of at most ``page_size_limit``);
    ``Leads.RecentlyModified`` reads a range of ModifiedOn (every write sets it from ``now``,
    the wall clock unless given; ``store.set_clock`` changes it), ``Leads.Get`` compares one
    field, both sorted (ties in no stable order) and paged by at most ``modified_page_limit``;
    ``modified_to_inclusive`` says whether ``ToDate`` includes its second; activities are
    stored per lead (``store.activities(lead_id)``), the two bulk activity APIs pass the
    bulk budget, and fault plans apply to them as to every lead endpoint.
    """

    def __init__(
        self,
        access_key: str = DEMO_ACCESS_KEY,
        secret_key: str = DEMO_SECRET_KEY,
        *,
        rate_limit: LimitLike | None = _DEFAULT_RATE,
        bulk_rate_limit: LimitLike | None = None,
        daily_quota: LimitLike | None = None,
        bulk_counts_in_general: bool = True,
        quota_message: Literal["window", "opaque"] = "window",
        rate_limit_as_200: bool = False,
        retry_after: float | None = None,
        row_error_style: Literal["exception", "message"] = "exception",
        faults: FaultPlan | None = None,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
        host: str = "api-in21.leadsquared.com",
        poison_value: str | None = None,
        poison_status: int = 500,
        fields: FieldsLike | None = None,
        page_size_limit: int = 1000,
        bad_value_refuses: Literal["row", "call"] = "row",
        modified_page_limit: int = 5000,
        modified_to_inclusive: bool = True,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if row_error_style not in ("exception", "message"):
            raise ValueError(
                f"row_error_style must be 'exception' or 'message', not {row_error_style!r}"
            )
        if bad_value_refuses not in ("row", "call"):
            raise ValueError(
                f"bad_value_refuses must be 'row' or 'call', not {bad_value_refuses!r}"
            )
        if quota_message not in QUOTA_MESSAGES:
            raise ValueError(f"quota_message must be 'window' or 'opaque', not {quota_message!r}")
        if retry_after is not None and retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {retry_after!r}")
        if isinstance(page_size_limit, bool) or not isinstance(page_size_limit, int):
            raise ValueError(f"page_size_limit must be an int >= 1, got {page_size_limit!r}")
        if page_size_limit < 1:
            raise ValueError(f"page_size_limit must be an int >= 1, got {page_size_limit!r}")
        if isinstance(modified_page_limit, bool) or not isinstance(modified_page_limit, int):
            raise ValueError(
                f"modified_page_limit must be an int >= 1, got {modified_page_limit!r}"
            )
        if modified_page_limit < 1:
            raise ValueError(
                f"modified_page_limit must be an int >= 1, got {modified_page_limit!r}"
            )
        self._access_key = access_key.encode()
        self._secret_key = secret_key.encode()
        self.access_key = access_key
        """The access key this fake accepts."""
        self._budgets = Budgets(
            _limit(rate_limit),
            _limit(bulk_rate_limit),
            _limit(daily_quota),
            bulk_counts_in_general=bulk_counts_in_general,
        )
        self.quota_message = quota_message
        """How a spent quota is announced: "window" names its numbers, "opaque" does not."""
        self.plan: Plan | None = None
        """The published plan this fake was built from (``from_plan``), if any."""
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
        self.schema: LeadSchema | None = schema_of(fields)
        """The account's lead fields (None: any attribute is stored, as a new field)."""
        self.bad_value_refuses = bad_value_refuses
        """What a value its field refuses fails: its "row" alone, or the whole bulk "call"."""
        self.page_size_limit = page_size_limit
        """The largest page ``Leads/Retrieve/ByIds`` answers (a larger PageSize is cut)."""
        self.modified_page_limit = modified_page_limit
        """The largest page ``Leads.RecentlyModified`` and ``Leads.Get`` answer (5,000, the
        service's; a larger PageSize is cut). A test may make it small."""
        self.modified_to_inclusive = modified_to_inclusive
        """Whether ``Leads.RecentlyModified``'s ``ToDate`` includes its own second (the
        service's pages do not say; ``FromDate`` always does)."""
        self.seed = seed
        """The seed of the lead-id and fault generators."""
        self._clock = clock
        self._faults = FaultBook(faults, seed, LEAD_ENDPOINTS)
        self._id_rng = random.Random(seed)
        self._seq = itertools.count()
        self._user_id = str(
            uuid.UUID(int=random.Random(f"user-{seed}").getrandbits(128), version=4)
        )
        self.store = LeadStore(self._new_id) if now is None else LeadStore(self._new_id, now)
        """The leads (see ``LeadStore``); ``now`` gives their times (``store.set_clock``)."""
        self._ties = random.Random(f"ties-{seed}")
        self.ledger = Ledger()
        """Every request received (see ``Ledger``)."""
        general = self.rate_limit
        self.ledger.default_window = general.period if general else 5.0

    @classmethod
    def from_plan(
        cls, plan: str | Plan, *, users: int = 1, scale: float = 1.0, **options: Any
    ) -> FakeLeadSquared:
        """A fake with the budgets of a published plan (a ``PLANS`` name such as "pro-b").

        ``users`` sizes a version-B daily quota (base + 1,000 per user, capped). ``options``
        are any other constructor options; an explicit ``rate_limit``, ``bulk_rate_limit`` or
        ``daily_quota`` there replaces the plan's (a tenant can have its bulk budget raised on
        request). ``scale`` then divides the period of every budget (``scale=5``: 1 s stands
        for 5 s, a day for 4.8 hours); call counts stay, so rejections name the plan's counts
        with the scaled periods ("limit of 1 in 1 second(s)").
        """
        chosen, limits = plan_limits(plan, users, scale, options)
        fake = cls(
            rate_limit=limits["rate_limit"],
            bulk_rate_limit=limits["bulk_rate_limit"],
            daily_quota=limits["daily_quota"],
            **options,
        )
        fake.plan = chosen
        return fake

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
        return self._budgets.limits[BULK]

    @bulk_rate_limit.setter
    def bulk_rate_limit(self, value: LimitLike | None) -> None:
        self._budgets.limits[BULK] = _limit(value)

    @property
    def daily_quota(self) -> Limit | None:
        """The calls every accepted call counts against over a long window (None: none)."""
        return self._budgets.limits[QUOTA]

    @daily_quota.setter
    def daily_quota(self, value: LimitLike | None) -> None:
        self._budgets.limits[QUOTA] = _limit(value)

    @property
    def bulk_counts_in_general(self) -> bool:
        """Whether a bulk call takes a slot of ``rate_limit`` as well as of the bulk budget."""
        return self._budgets.bulk_counts_in_general

    @bulk_counts_in_general.setter
    def bulk_counts_in_general(self, value: bool) -> None:
        self._budgets.bulk_counts_in_general = value

    def __repr__(self) -> str:
        return (
            f"FakeLeadSquared(host={self.host!r}, rate_limit={self.rate_limit}, "
            f"bulk_rate_limit={self.bulk_rate_limit}, daily_quota={self.daily_quota}, "
            f"plan={self.plan.name if self.plan else None}, leads={self.store.count()}, "
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
        self._faults.set(plan, endpoint)

    def faults(self, endpoint: str) -> FaultPlan | None:
        """The fault plan in force for ``endpoint``."""
        return self._faults.plan(endpoint)

    def reset(self) -> None:
        """Forget every lead, ledger entry and rate-limit window; reseed the generators."""
        self.store.clear()
        self.ledger.clear()
        self._budgets.clear()
        self._id_rng.seed(self.seed)
        self._ties.seed(f"ties-{self.seed}")
        self._faults.reseed(self.seed)

    def transport(self) -> httpx2.AsyncBaseTransport:
        """An in-process ``httpx2`` transport to this fake (no sockets).

        Deliberate drops surface as ``httpx2.ConnectError`` (drop_before) and
        ``httpx2.RemoteProtocolError`` (drop_after).
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
        """What a benchmark or a test in another process needs from the ledger and store.

        ``budgets`` maps each budget in force to its ``limit``, its ``rejected`` calls and the
        most calls of its kind received in any window of its period (``max_calls_in_window``).
        """
        return summarize(self.ledger, self.store, self._budgets, window)

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
            record(LedgerEntry(arrival, path, 0, 404, seq=seq))
            await send_json(send, 404, envelope("MXInvalidInputException", f"No API at {path}"))
            return
        endpoint, method = route
        if endpoint == LEADS_METADATA and self.schema is None:
            # Without a schema the fake has no field list to publish (it stores any
            # attribute): it answers as an account without that API, not with a closed list.
            record(LedgerEntry(arrival, endpoint, 0, 404, seq=seq))
            await send_json(send, 404, envelope("MXInvalidInputException", f"No API at {path}"))
            return

        if not self._authorized(scope, query):
            message = "The access key or secret key is invalid, or missing"
            record(LedgerEntry(arrival, endpoint, 0, 401, auth_failed=True, seq=seq))
            await send_json(send, 401, envelope("MXUnAuthorizedAccessException", message))
            return
        if scope["method"] != method:
            message = f"{endpoint} accepts {method} only"
            record(LedgerEntry(arrival, endpoint, 0, 405, seq=seq))
            await send_json(send, 405, envelope("MXInvalidInputException", message))
            return

        body: object = None
        parse_error: Reject | None = None
        if method == "POST":
            try:
                body = json.loads(raw)
            except ValueError:
                parse_error = bad("The request body is not valid JSON")
        rows = count_rows(endpoint, body)

        def recording(**facts: Any) -> Send:
            """``send`` that puts the call in the ledger as its answer starts to leave."""
            return _on_start(
                send,
                lambda status: record(
                    LedgerEntry(arrival, endpoint, rows, status, seq=seq, **facts)
                ),
            )

        decision = self._faults.decide(endpoint)
        fault = decision.fault

        if fault == "drop_before":
            record(LedgerEntry(arrival, endpoint, rows, 0, fault=fault, seq=seq))
            await drop(send, fault)

        if fault == "rate_limited":
            limit = self.rate_limit or _DEFAULT_RATE
            await self._send_rate_limited(
                recording(rate_limited=True, fault=fault), GENERAL, limit, decision.as_200
            )
            return
        exceeded = self._budgets.admit(endpoint in BULK_ENDPOINTS, arrival)
        if exceeded is not None:
            budget, limit = exceeded
            await self._send_rate_limited(
                recording(rate_limited=True, budget=budget), budget, limit, False
            )
            return

        if decision.delay > 0:
            await asyncio.sleep(decision.delay)

        if fault == "system_error":
            await send_system_error(recording(fault=fault), decision.variant)
            return

        post_updated = (
            endpoint in _POSTS_UPDATED and query.get("postupdatedlead", "").lower() == "true"
        )
        try:
            if parse_error is not None:
                raise parse_error
            outcome = handle(
                endpoint,
                self.store,
                body,
                query,
                style=self.row_error_style,
                post_updated=post_updated,
                user_id=self._user_id,
                host=self.host,
                poison=(self.poison_value, self.poison_status),
                schema=self.schema,
                page_limit=self.page_size_limit,
                seed=self.seed,
                bad_value_refuses=self.bad_value_refuses,
                modified_page_limit=self.modified_page_limit,
                modified_to_inclusive=self.modified_to_inclusive,
                ties=self._ties,
            )
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
        if not self._authorized(scope, query):
            await send_json(send, 401, envelope("MXUnAuthorizedAccessException", "bad keys"))
            return
        status, payload = admin(path, scope["method"], query, self.summary, self.reset, self.store)
        await send_json(send, status, payload)

    def _authorized(self, scope: Scope, query: dict[str, str]) -> bool:
        return keys_match(scope, query, self._access_key, self._secret_key)

    async def _send_rate_limited(self, send: Send, budget: str, limit: Limit, as_200: bool) -> int:
        message = rejection_message(
            limit, opaque=budget == QUOTA and self.quota_message == "opaque"
        )
        as_200 = as_200 or self.rate_limit_as_200
        return await send_rate_limited(send, message, as_200=as_200, retry_after=self.retry_after)


def _on_start(send: Send, recorded: Callable[[int], None]) -> Send:
    """``send`` that calls ``recorded(status)`` before the answer starts to leave.

    The ledger holds a call before its caller can read the answer, so a test that asserts on
    the ledger right after a response (even across threads, from ``serve_in_thread``) sees it.
    """

    async def starting(message: Message) -> None:
        if message["type"] == "http.response.start":
            recorded(message["status"])
        await send(message)

    return starting
