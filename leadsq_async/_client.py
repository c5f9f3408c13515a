"""The client: one call per lead for the caller, full bulk calls on the wire."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from types import TracebackType
from typing import Any, Literal, cast

import attrs
import httpx2

from ._api.encoding import FieldValue
from ._api.lookups import DEFAULT_LEAD_COLUMNS, check_columns
from ._api.metadata import LEADS_METADATA, GetLeadFields
from ._api.modified import KEY_COLUMNS, LEADS_RECENTLY_MODIFIED, ModifiedPage, ReadModifiedPage
from ._api.operations import (
    ActivityPosted,
    CreateLead,
    FieldUpdated,
    FindLead,
    GetLead,
    Lead,
    LeadCreated,
    LeadUpdated,
    LeadUpserted,
    Operation,
    Outcome,
    PostActivity,
    Priority,
    Result,
    UpdateField,
    UpdateLead,
    UpdateLeadById,
    UpsertLead,
)
from ._api.ranges import MAX_PAGE, ExportCheckpoint
from ._api.registry import Endpoint, route
from ._api.schema import LeadSchema
from ._budgets.account import account_budgets
from ._budgets.limiters import Limiter, RateLimit
from ._dispatch.connections import own_http_client
from ._dispatch.engine import Engine
from ._dispatch.export import LeadsModified
from ._dispatch.fields import AccountFields
from ._dispatch.sender import Sender
from ._errors import (
    ClientClosedError,
    ValidationError,
    WrongEventLoopError,
)
from ._observe.events import CallHook, EventHook, Telemetry, fan_out
from ._observe.stats import CloseReport, Counters, Stats
from ._queue.batcher import Batcher
from ._queue.intake import Admitting, queue_row
from ._queue.rows import RowFuture
from ._queue.stream import outcomes
from ._rules.circuit import Circuit
from ._rules.gate import Gate
from ._settings import DEFAULT_HOST, Settings
from ._util.httpclient import old_httpx_rule

__all__ = ["DEFAULT_HOST", "LeadSquaredClient"]

_INTERACTIVE = Priority.INTERACTIVE  # read once: a member read off an Enum class is slow


class LeadSquaredClient:
    """An asyncio LeadSquared lead client that packs concurrent calls into bulk calls.

    Call it one lead at a time from as many tasks as you like; each await returns that lead's
    own result or raises that lead's own error. Use it as an async context manager (or call
    ``aclose()``) so that rows still queued are sent before the program ends. Every keyword
    argument is a ``Settings`` field; ``http_client`` shares your ``httpx2.AsyncClient``;
    ``on_call`` is called with a ``CallEvent`` just before each call leaves, ``on_event`` with
    every event (``CallEvent``, then ``CallEnded`` once the call's answer was acted on);
    ``telemetry=OpenTelemetry()`` reports spans and metrics (the ``otel`` extra).
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        host: str | None = None,
        base_url: str | None = None,
        rate_limit: RateLimit | None = None,
        bulk_rate_limit: RateLimit | None = None,
        limiter: Limiter | None = None,
        bulk_limiter: Limiter | None = None,
        http_client: httpx2.AsyncClient | None = None,
        linger: float = 0.02,
        max_pending: int = 10_000,
        max_in_flight: int = 8,
        max_retries: int = 5,
        delivery_timeout: float = 300.0,
        timeout: float = 30.0,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        spill: Literal["interactive", "all", "none"] = "interactive",
        circuit_calls: int = 5,
        circuit_seconds: float = 10.0,
        daily_quota: int | None = None,
        quota_reserve: float = 0.1,
        reconcile: bool = True,
        redis_url: str | None = None,
        redis_prefix: str = "leadsq",
        redis_fallback: Literal["wait", "local"] = "wait",
        lead_columns: Iterable[str] | str = DEFAULT_LEAD_COLUMNS,
        schema: Literal["account"] | LeadSchema | None = None,
        on_call: CallHook | None = None,
        on_event: EventHook | None = None,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        settings = Settings(
            access_key,
            secret_key,
            host=host,
            base_url=base_url,
            rate_limit=rate_limit,
            bulk_rate_limit=bulk_rate_limit,
            limiter=limiter,
            bulk_limiter=bulk_limiter,
            linger=linger,
            max_pending=max_pending,
            max_in_flight=max_in_flight,
            max_retries=max_retries,
            delivery_timeout=delivery_timeout,
            timeout=timeout,
            backoff=backoff,
            backoff_max=backoff_max,
            spill=spill,
            circuit_calls=circuit_calls,
            circuit_seconds=circuit_seconds,
            daily_quota=daily_quota,
            quota_reserve=quota_reserve,
            reconcile=reconcile,
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            redis_fallback=redis_fallback,
            lead_columns=lead_columns,
            schema=schema,
        )
        self._setup(settings, http_client, on_call, clock, on_event, telemetry)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        http_client: httpx2.AsyncClient | None = None,
        on_call: CallHook | None = None,
        clock: Callable[[], float] | None = None,
        on_event: EventHook | None = None,
        telemetry: Telemetry | None = None,
    ) -> LeadSquaredClient:
        """Build a client from ``Settings`` (what the command line does)."""
        client = cls.__new__(cls)
        client._setup(settings, http_client, on_call, clock, on_event, telemetry)
        return client

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = "LSQ_", **options: Any
    ) -> LeadSquaredClient:
        """Build a client from ``LSQ_*`` environment variables (see ``Settings.from_env``).

        Keyword ``options`` override the environment: ``Settings`` fields, and
        ``http_client``, ``on_call``, ``on_event``, ``telemetry`` and ``clock`` as for the
        constructor. With ``LSQ_REDIS_URL`` set, the client shares its budgets and daily quota
        through a ``RedisLimiter`` it opens and closes itself (needs the ``redis`` extra).
        """
        names = ("http_client", "on_call", "on_event", "telemetry", "clock")
        extra = {n: options.pop(n) for n in names if n in options}
        return cls.from_settings(Settings.from_env(environ, prefix=prefix, **options), **extra)

    def _setup(
        self,
        settings: Settings,
        http_client: httpx2.AsyncClient | None,
        on_call: CallHook | None,
        clock: Callable[[], float] | None,
        on_event: EventHook | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        if http_client is not None and (rule := old_httpx_rule(http_client)):
            raise ValidationError("http_client", rule)  # before anything is made to close
        self.settings = settings
        self.base_url = settings.url
        self._headers = {
            "x-LSQ-AccessKey": settings.access_key,
            "x-LSQ-SecretKey": settings.secret_key,
            "Content-Type": "application/json",
        }
        self._clock = clock or time.monotonic
        # A RedisLimiter made from redis_url is the client's own, closed with it.
        self._limiter, self._budgets, self._owned_limiter = account_budgets(settings, self._clock)
        self._own_http = http_client is None
        self._http = http_client or own_http_client(settings.max_in_flight, settings.timeout)
        self._on_call = on_call
        # Telemetry's capture and done-callback, bound once (not a bound method per row).
        self._tracing = (telemetry.capture, telemetry.row_done) if telemetry else None
        self._on_event = fan_out(on_event, telemetry.on_event if telemetry else None)
        self._counters = Counters()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._engine: Engine | None = None
        self._closed = False
        self._close_task: asyncio.Task[CloseReport] | None = None
        # None when writes go unchecked: then no row pays for the schema.
        self._fields: AccountFields | None = None
        if settings.schema == "account":
            self._fields = AccountFields(None, self._fetch_fields, self._clock)
        elif isinstance(settings.schema, LeadSchema):
            self._fields = AccountFields(settings.schema, None, self._clock)
        if telemetry is not None:
            telemetry.attach(_depth_of(weakref.ref(self)))

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<LeadSquaredClient {self.base_url} limiter={self._limiter!r} {state}>"

    # -- life --------------------------------------------------------------------------------

    def _bind(self) -> Engine:
        loop = asyncio.get_running_loop()
        if self._engine is None:
            if self._closed:
                raise ClientClosedError("the client is closed")
            settings = self.settings
            self._loop = loop
            circuit = Circuit(
                settings.circuit_calls,
                settings.circuit_seconds,
                backoff=settings.backoff,
                backoff_max=settings.backoff_max,
            )
            gate = Gate(self._budgets.quota, circuit)
            batcher = Batcher(
                linger=settings.linger,
                max_pending=settings.max_pending,
                delivery_timeout=settings.delivery_timeout,
                clock=self._clock,
                gate=gate,
            )
            sender = Sender(
                http=self._http,
                base_url=self.base_url,
                headers=self._headers,
                timeout=settings.timeout,
            )
            self._engine = Engine(
                batcher=batcher,
                sender=sender,
                budgets=self._budgets,
                counters=self._counters,
                max_retries=settings.max_retries,
                max_in_flight=settings.max_in_flight,
                backoff=settings.backoff,
                backoff_max=settings.backoff_max,
                spill=settings.spill,
                gate=gate,
                reconcile=settings.reconcile,
                clock=self._clock,
                on_call=self._on_call,
                on_event=self._on_event,
            )
            self._engine.start(loop)
        elif self._loop is not loop:
            raise WrongEventLoopError(
                "this LeadSquaredClient is bound to another event loop; create one client per loop"
            )
        return self._engine

    async def __aenter__(self) -> LeadSquaredClient:
        self._bind()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ``timeout`` bounds a drain, not the call: rows unsent by then are answered with
    # ClientClosedError, which a cancel scope around aclose() could not do.
    async def aclose(self, timeout: float = 30.0) -> CloseReport:  # noqa: ASYNC109
        """Stop taking rows, send what was admitted, wait at most ``timeout`` seconds.

        Rows still unsent after that fail with ``ClientClosedError``. Closes the httpx2 client
        only if this client created it. Idempotent: later calls return the same report.
        """
        if self._close_task is None:
            if self._loop is not None and self._loop is not asyncio.get_running_loop():
                raise WrongEventLoopError("aclose() called from another event loop")
            self._closed = True
            self._close_task = asyncio.get_running_loop().create_task(self._close(timeout))
        return await asyncio.shield(self._close_task)

    async def _close(self, timeout: float) -> CloseReport:  # noqa: ASYNC109 (aclose's drain)
        report = CloseReport(sent=0, failed=0, abandoned=0)
        if self._engine is not None:
            report = await self._engine.close(timeout)
        if self._own_http:
            await self._http.aclose()
        if self._owned_limiter is not None:
            await self._owned_limiter.aclose()
        return report

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("the client is closed")

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` has begun."""
        return self._closed

    # -- submitting ----------------------------------------------------------------------------

    async def submit(self, op: Operation, *, wait: bool = True) -> asyncio.Future[Result]:
        """Queue ``op`` and give the future of its result; waits only for admission.

        Raises ``ValidationError`` for bad input, ``ClientClosedError`` once closing began,
        and, with ``wait=False``, ``QueueFullError`` when ``max_pending`` rows already wait.
        Cancelling the future before its row is put into a call withdraws the row. An
        operation whose ``priority`` is ``None`` goes as ``Priority.INTERACTIVE``.
        """
        return await self._submit(op, wait, Priority.INTERACTIVE)

    async def _submit(
        self, op: Operation, wait: bool, default: Priority, look_up_first: bool = False
    ) -> asyncio.Future[Result]:
        fields = self._fields
        if fields is not None and fields.waits(op):
            self._bind()
            await fields.ready()
        queued = self._queue(op, default, look_up_first)
        future = queued if isinstance(queued, asyncio.Future) else await queued.admit(wait)
        if fields is not None and fields.watches:
            future.add_done_callback(fields.refused)
        return future

    def _queue(
        self,
        op: Operation,
        default: Priority,
        look_up_first: bool = False,
        spec: Endpoint | None = None,
        engine: Engine | None = None,
    ) -> asyncio.Future[Result] | Admitting:
        """Check ``op`` and queue its row now if there is room; else what waits for room.

        Synchronous so that ``stream()`` spends no coroutine on a row that finds room.
        ``look_up_first``: a create waits for the lookup that may settle it. ``spec``: the
        client's own row (the schema's fetch), carried by that spec and not checked.
        ``engine``: a stream's, bound once for all its rows.
        """
        if engine is None:
            engine = self._bind()
        if spec is None:
            if type(op) is GetLead and op.columns is None:
                op = attrs.evolve(op, columns=self.settings.lead_columns)
            if self._fields is not None:
                op = self._fields.check(op)
            endpoint = route(op)
        else:
            endpoint = spec
        row = endpoint.prepare(op)
        if self._closed:
            self._check_open()  # raises
        priority = op.priority if op.priority is not None else default
        refused = engine.gate.check_queue(endpoint.name, priority == _INTERACTIVE, self._clock)
        if refused is not None:
            raise refused
        batcher = engine.batcher
        queued = engine.look_up_first if look_up_first else None
        if batcher.try_admit():  # room now: no need to keep anything for later
            tracing = self._tracing
            if tracing is None and queued is None:
                # ``queue_row`` inline for a row nobody traces nor holds (once per row).
                loop = batcher.loop
                future = RowFuture(loop=loop if loop is not None else asyncio.get_running_loop())
                batcher.add(row, endpoint, future, int(priority))
                return future
            return queue_row(batcher, op, endpoint, row, int(priority), tracing, queued)
        return Admitting(
            batcher,
            engine.gate,
            op,
            endpoint,
            row,
            int(priority),
            self._check_open,
            self._tracing,
            queued,
        )

    async def lead_fields(self) -> LeadSchema:
        """The account's lead fields, fetched now by one ``LeadsMetaData.Get`` call.

        The call is an ordinary interactive row (announced, on the general budget, retried
        like any lookup); the answer checks rows offline: ``schema.check(op)``, or
        ``schema=`` for another client.
        """
        return await self._fetch_fields()

    async def _fetch_fields(self) -> LeadSchema:
        """The account's lead fields, fetched by an ordinary interactive row of the batcher."""
        op = cast(Operation, GetLeadFields())  # the client's own row, not a caller's
        queued = self._queue(op, _INTERACTIVE, spec=LEADS_METADATA)
        future = queued if isinstance(queued, asyncio.Future) else await queued.admit(True)
        return cast(LeadSchema, await future)

    async def _run(self, op: Operation) -> Any:
        future = await self.submit(op)
        return await future

    async def create_lead(
        self, fields: Mapping[str, FieldValue], *, look_up_first: bool = False
    ) -> LeadCreated:
        """Create one lead; batched through ``Lead/Bulk/Create``.

        ``look_up_first`` is for a create that may already have been applied (an earlier
        run's unknown outcome): a lead with its EmailAddress (or Phone) that matches it is
        answered as ``LeadCreated(reconciled=True)``, one that differs raises the duplicate
        error the create would have met, and only when none exists is the lead created.
        """
        op = CreateLead(fields)
        if not look_up_first:
            return cast(LeadCreated, await self._run(op))
        # The lookup is a row of its own that the create waits for (the engine sends it).
        future = await self._submit(op, True, Priority.INTERACTIVE, look_up_first=True)
        return cast(LeadCreated, await future)

    async def upsert_lead(
        self, fields: Mapping[str, FieldValue], *, search_by: str | None = None
    ) -> LeadUpserted:
        """Create or update one lead; batched through ``Lead/Bulk/CreateOrUpdate``."""
        return cast(LeadUpserted, await self._run(UpsertLead(fields, search_by)))

    async def update_lead(
        self, fields: Mapping[str, FieldValue], *, search_by: str = "EmailAddress"
    ) -> LeadUpdated:
        """Update the lead matched by ``search_by``; batched through ``Lead/Bulk/UpdateV2``."""
        return cast(LeadUpdated, await self._run(UpdateLead(fields, search_by)))

    async def update_lead_by_id(
        self, lead_id: str, fields: Mapping[str, FieldValue], *, post_updated_lead: bool = False
    ) -> LeadUpdated:
        """Update the lead with this id (``Lead.Update`` alone when ``post_updated_lead``)."""
        op = UpdateLeadById(lead_id, fields, post_updated_lead)
        return cast(LeadUpdated, await self._run(op))

    async def update_field(
        self, lead_id: str, attribute: str, value: FieldValue, *, lead_type: str | None = None
    ) -> FieldUpdated:
        """Set one field of one lead; batched through ``Lead/Bulk/Update``."""
        op = UpdateField(lead_id, attribute, value, lead_type)
        return cast(FieldUpdated, await self._run(op))

    async def get_lead(
        self, lead_id: str, *, columns: Iterable[str] | str | None = None
    ) -> Lead | None:
        """The lead with this id, or None; concurrent calls share ``Leads/Retrieve/ByIds``.

        ``columns`` are the fields to fetch (default: the client's ``lead_columns``).
        """
        op = GetLead(lead_id, columns)
        return cast("Lead | None", await self._run(op))

    async def find_lead(self, *, email: str | None = None, phone: str | None = None) -> Lead | None:
        """The lead with this EmailAddress or phone number (give one), or None.

        Identical lookups waiting together share one call (email compared without case,
        phone on its digits).
        """
        return cast("Lead | None", await self._run(FindLead(email=email, phone=phone)))

    async def post_activity(
        self,
        lead_id: str | None = None,
        *,
        event: int,
        note: str | None = None,
        fields: Mapping[str, FieldValue] | None = None,
        at: dt.datetime | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> ActivityPosted:
        """Post one activity on the lead named by ``lead_id``, ``email`` or ``phone``.

        Batched through ``ProspectActivity.svc/Bulk/CustomActivity/Add/ByLeadId`` (or
        ``.../ByLeadField``), 25 a call; ``at`` must be timezone-aware (default: now).
        """
        op = PostActivity(
            event=event,
            lead_id=lead_id,
            email=email,
            phone=phone,
            note=note,
            fields=fields,
            at=at,
        )
        return cast(ActivityPosted, await self._run(op))

    def leads_modified(
        self,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        *,
        columns: Iterable[str] | str | None = None,
        resume_from: ExportCheckpoint | None = None,
        page_size: int = MAX_PAGE,
    ) -> LeadsModified:
        """Every lead last modified in ``[since, until]``, once each: ``async for lead in ...``.

        ``since`` and ``until`` are timezone-aware; ``until`` defaults to now, fixed when the
        iteration starts, and is never later than the end of the second before: a lead
        modified while the export runs is either given out or left for the next run, which
        starts at ``iterator.checkpoint.next_since``. ``columns`` as for ``get_lead``. Pages
        (``Leads.RecentlyModified``, at most ``page_size`` leads) are rows of the general
        budget at bulk priority, retried, announced and counted like any lookup; one page is
        held at a time. ``resume_from=iterator.checkpoint`` continues an interrupted export
        (``since`` and ``until`` then come from the checkpoint).
        """
        wanted = check_columns(
            _column_list(columns) if columns is not None else self.settings.lead_columns
        )
        asked = {name.casefold() for name in wanted}
        sent = wanted + tuple(c for c in KEY_COLUMNS if c.casefold() not in asked)
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise ValidationError("page_size", "must be a whole number")
        if not 1 <= page_size <= MAX_PAGE:
            raise ValidationError("page_size", f"must be between 1 and {MAX_PAGE}")
        if resume_from is not None:
            if not isinstance(resume_from, ExportCheckpoint):
                raise ValidationError("resume_from", "must be an ExportCheckpoint")
            for name, given in (("since", since), ("until", until)):
                kept = getattr(resume_from, f"{name}_datetime")
                if given is not None and given != kept:
                    raise ValidationError(name, f"differs from the checkpoint's ({kept})")
        fix: Callable[[], ExportCheckpoint] | None = None
        if resume_from is not None:
            start = resume_from
        elif since is None:
            raise ValidationError("since", "is required (or give resume_from)")
        else:
            if until is not None:
                ExportCheckpoint.start(since, until)  # both checked at the call
            start = _export_start(since, until)
            if until is None:  # fixed again when the iteration starts
                fix = functools.partial(_export_start, since, None)
        self._check_open()
        return LeadsModified(self._read_page, start, sent, wanted, page_size, fix)

    async def _read_page(self, op: ReadModifiedPage) -> ModifiedPage:
        """One page of a range, read by an ordinary row of the batcher."""
        queued = self._queue(cast(Operation, op), Priority.BULK, spec=LEADS_RECENTLY_MODIFIED)
        future = queued if isinstance(queued, asyncio.Future) else await queued.admit(True)
        return cast(ModifiedPage, await future)

    async def flush(self) -> None:
        """Send every queued row now, without waiting for ``linger``, and wait for the answers."""
        await self._bind().flush(self._closed)

    def stream(
        self,
        ops: Iterable[Operation] | AsyncIterable[Operation],
        *,
        priority: Priority = Priority.BULK,
    ) -> AsyncGenerator[Outcome, None]:
        """Submit ``ops`` as fast as admission allows; yield one ``Outcome`` each, in input order.

        Bad input and per-row failures come back as outcomes with ``error`` set; they never stop
        the stream. Operations whose ``priority`` is ``None`` go as ``priority`` (bulk by
        default), so interactive calls from elsewhere take grants first. Leaving the loop early
        withdraws the rows not yet sent (use ``contextlib.aclosing`` to do that at once).
        """
        engine = self._bind()
        fields = self._fields

        def start(op: Operation) -> asyncio.Future[Result] | Awaitable[asyncio.Future[Result]]:
            if fields is not None and (fields.watches or fields.waits(op)):
                return self._submit(op, True, priority)  # the schema's own steps
            queued = self._queue(op, priority, engine=engine)
            return queued if isinstance(queued, asyncio.Future) else queued.admit(True)

        return outcomes(start, ops, engine.batcher.max_pending)

    # -- looking --------------------------------------------------------------------------------

    def stats(self) -> Stats:
        """Calls and rows per endpoint, 429s, retries, rows pending and in flight, limiter wait."""
        pending, in_flight = self._depth()
        budgets = self._budgets
        return self._counters.snapshot(
            pending,
            in_flight,
            rate_limit=budgets.general.rate,
            bulk_rate_limit=budgets.bulk_rate,
            quota_used=budgets.quota.used,
            quota_left=budgets.quota.left,
        )

    def _depth(self) -> tuple[int, int]:
        """Rows pending and in flight; two reads, safe from another thread (a metrics reader)."""
        engine = self._engine
        if engine is None:
            return 0, 0
        return engine.batcher.pending, engine.batcher.in_flight

    @property
    def limiter(self) -> Limiter:
        """The limiter every call passes."""
        return self._limiter


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _export_start(since: dt.datetime, until: dt.datetime | None) -> ExportCheckpoint:
    """A range's first checkpoint: ``until`` (default now) no later than the end of the
    second before now, so that a lead modified from now on is left for the next run."""
    latest = _utcnow().replace(microsecond=0) - dt.timedelta(milliseconds=1)
    return ExportCheckpoint.start(since, latest if until is None else min(until, latest))


def _column_list(columns: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(columns, str):
        return tuple(part.strip() for part in columns.split(","))
    try:
        return tuple(columns)
    except TypeError:
        rule = "must be schema names, or one comma-separated string"
        raise ValidationError("columns", rule) from None


def _depth_of(client: weakref.ref[LeadSquaredClient]) -> Callable[[], tuple[int, int] | None]:
    """Read a client's queue without keeping it alive (None once it is gone)."""

    def depth() -> tuple[int, int] | None:
        alive = client()
        return None if alive is None else alive._depth()

    return depth
