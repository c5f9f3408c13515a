"""The client: one call per lead for the caller, full bulk calls on the wire."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar, Union, cast

import httpx

from ._batcher import Batcher, RowFuture
from ._endpoints import route
from ._errors import (
    ClientClosedError,
    LeadSquaredError,
    LimiterUnavailableError,
    ValidationError,
    WrongEventLoopError,
)
from ._limits import Limiter, RateLimit, TokenBucketLimiter
from ._ops import (
    CreateLead,
    FieldUpdated,
    LeadCreated,
    LeadUpdated,
    LeadUpserted,
    Operation,
    Outcome,
    Priority,
    Result,
    UpdateField,
    UpdateLead,
    UpdateLeadById,
    UpsertLead,
)
from ._sender import Sender
from ._stats import CloseReport, Counters, Stats
from ._wire import FieldValue

__all__ = ["DEFAULT_HOST", "LeadSquaredClient"]

logger = logging.getLogger("leadsq_async")

#: The host used when neither ``host`` nor ``base_url`` is given (LeadSquared's Singapore region).
DEFAULT_HOST = "api.leadsquared.com"

_R = TypeVar("_R", bound=Result)
#: Seconds between attempts to reach a limiter that is unavailable.
_LIMITER_RETRY = 0.2
_DONE = object()
_WAKE = object()
Submitted = Union["asyncio.Future[Result]", LeadSquaredError]


def _discard(future: object) -> None:
    """Withdraw a submitted row nobody will read, or retrieve its outcome quietly."""
    if isinstance(future, asyncio.Future) and not future.cancel() and not future.cancelled():
        future.exception()  # it was done already: mark its exception (if any) retrieved


def _check_number(name: str, value: float, *, minimum: float, integer: bool = False) -> None:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not value >= minimum or value != value:
        kind = "an int" if integer else "a number"
        raise ValidationError(name, f"must be {kind} >= {minimum:g}, got {value!r}")


class LeadSquaredClient:
    """An asyncio LeadSquared lead client that packs concurrent calls into bulk calls.

    Call it one lead at a time from as many tasks as you like; each await returns that lead's
    own result or raises that lead's own error. Use it as an async context manager (or call
    ``aclose()``) so that rows still queued are sent before the program ends.
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
        http_client: httpx.AsyncClient | None = None,
        linger: float = 0.02,
        max_pending: int = 10_000,
        max_in_flight: int = 8,
        max_retries: int = 5,
        delivery_timeout: float = 300.0,
        timeout: float = 30.0,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        for name, key in (("access_key", access_key), ("secret_key", secret_key)):
            if not isinstance(key, str) or not key.strip():
                raise ValidationError(name, "must be a non-empty string")
        if host is not None and base_url is not None:
            raise ValidationError("base_url", "give host or base_url, not both")
        if base_url is None:
            base_url = f"https://{host or DEFAULT_HOST}"
        if not base_url.startswith(("https://", "http://")):
            raise ValidationError("base_url", f"must start with https://, got {base_url!r}")
        _check_number("linger", linger, minimum=0)
        _check_number("max_pending", max_pending, minimum=1, integer=True)
        _check_number("max_in_flight", max_in_flight, minimum=1, integer=True)
        _check_number("max_retries", max_retries, minimum=0, integer=True)
        _check_number("delivery_timeout", delivery_timeout, minimum=0.001)
        _check_number("timeout", timeout, minimum=0.001)
        _check_number("backoff", backoff, minimum=0)
        _check_number("backoff_max", backoff_max, minimum=0)
        if limiter is not None and rate_limit is not None:
            raise ValidationError("limiter", "give rate_limit or limiter, not both")
        if bulk_limiter is not None and bulk_rate_limit is not None:
            raise ValidationError("bulk_limiter", "give bulk_rate_limit or bulk_limiter, not both")
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "x-LSQ-AccessKey": access_key,
            "x-LSQ-SecretKey": secret_key,
            "Content-Type": "application/json",
        }
        self._limiter = limiter or TokenBucketLimiter(rate_limit or RateLimit())
        if bulk_limiter is None and bulk_rate_limit is not None:
            bulk_limiter = TokenBucketLimiter(bulk_rate_limit)
        self._bulk_limiter = bulk_limiter
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_in_flight, max_keepalive_connections=max_in_flight
            ),
        )
        self._settings: dict[str, Any] = {
            "linger": linger,
            "max_pending": max_pending,
            "max_in_flight": max_in_flight,
            "max_retries": max_retries,
            "delivery_timeout": delivery_timeout,
            "timeout": timeout,
            "backoff": backoff,
            "backoff_max": backoff_max,
        }
        self._counters = Counters()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batcher: Batcher | None = None
        self._sender: Sender | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._close_task: asyncio.Task[CloseReport] | None = None
        self._owned_limiter: Any = None  # a limiter from_env made, closed with the client

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = "LSQ_", **options: Any
    ) -> LeadSquaredClient:
        """Build a client from environment variables, for apps configured that way.

        Reads ``LSQ_ACCESS_KEY`` and ``LSQ_SECRET_KEY`` (required), ``LSQ_HOST`` or
        ``LSQ_BASE_URL``, ``LSQ_RATE`` and ``LSQ_BULK_RATE`` (``"25/5"``),
        ``LSQ_DELIVERY_TIMEOUT`` (seconds) and ``LSQ_REDIS_URL`` (a ``RedisLimiter`` shared by
        every process using the account, with ``LSQ_REDIS_PREFIX`` and ``LSQ_REDIS_FALLBACK``;
        needs the ``redis`` extra; closed with the client).
        Keyword ``options`` override what the environment says and are passed to the
        constructor.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(prefix + name, "").strip()
            return value or None

        keys = {}
        for name in ("ACCESS_KEY", "SECRET_KEY"):
            value = get(name)
            if value is None:
                raise ValidationError(prefix + name, "is not set")
            keys[name] = value
        settings: dict[str, Any] = {}
        if (host := get("HOST")) is not None:
            settings["host"] = host
        if (base_url := get("BASE_URL")) is not None:
            settings["base_url"] = base_url
        for name, key in (("RATE", "rate_limit"), ("BULK_RATE", "bulk_rate_limit")):
            if (text := get(name)) is not None:
                try:
                    settings[key] = RateLimit.parse(text)
                except ValueError as error:
                    raise ValidationError(prefix + name, str(error)) from None
        if (timeout := get("DELIVERY_TIMEOUT")) is not None:
            try:
                settings["delivery_timeout"] = float(timeout)
            except ValueError:
                raise ValidationError(
                    prefix + "DELIVERY_TIMEOUT", f"must be a number of seconds, got {timeout!r}"
                ) from None
        settings.update(options)
        redis_url = get("REDIS_URL")
        owned_limiter = None
        if redis_url is not None and "limiter" not in settings:
            from ._redis import RedisLimiter  # the redis extra

            rate = settings.pop("rate_limit", None)
            fallback = get("REDIS_FALLBACK") or "wait"
            if fallback not in ("wait", "local"):
                raise ValidationError(prefix + "REDIS_FALLBACK", "must be 'wait' or 'local'")
            owned_limiter = RedisLimiter(
                redis_url,
                keys["ACCESS_KEY"],
                rate,
                prefix=get("REDIS_PREFIX") or "leadsq",
                fallback="local" if fallback == "local" else "wait",
            )
            settings["limiter"] = owned_limiter
        if "limiter" in settings and "rate_limit" in settings and "rate_limit" not in options:
            del settings["rate_limit"]
        client = cls(keys["ACCESS_KEY"], keys["SECRET_KEY"], **settings)
        client._owned_limiter = owned_limiter
        return client

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<LeadSquaredClient {self.base_url} limiter={self._limiter!r} {state}>"

    # -- life --------------------------------------------------------------------------------

    def _bind(self) -> Batcher:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            if self._closed:
                raise ClientClosedError("the client is closed")
            settings = self._settings
            self._loop = loop
            self._batcher = Batcher(
                linger=settings["linger"],
                max_pending=settings["max_pending"],
                max_retries=settings["max_retries"],
                delivery_timeout=settings["delivery_timeout"],
            )
            self._sender = Sender(
                http=self._http,
                base_url=self.base_url,
                headers=self._headers,
                timeout=settings["timeout"],
                limiter=self._limiter,
                bulk_limiter=self._bulk_limiter,
                batcher=self._batcher,
                counters=self._counters,
                max_in_flight=settings["max_in_flight"],
                backoff=settings["backoff"],
                backoff_max=settings["backoff_max"],
            )
            for job in (self._dispatch, self._reap):
                task = loop.create_task(job())
                task.add_done_callback(self._background_done)
                self._tasks.append(task)
        elif self._loop is not loop:
            raise WrongEventLoopError(
                "this LeadSquaredClient is bound to another event loop; create one client per loop"
            )
        assert self._batcher is not None
        return self._batcher

    def _background_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("leadsq_async background task failed", exc_info=task.exception())

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

    async def _dispatch(self) -> None:
        """Turn queued rows into calls, one grant at a time."""
        batcher, sender = self._batcher, self._sender
        assert batcher is not None
        assert sender is not None
        while True:
            batcher.changed.clear()
            when, endpoint = batcher.ready_at()
            delay = when - time.monotonic()
            if endpoint is None or delay > 0:
                await batcher.changed.wait(None if when == float("inf") else delay)
                continue
            try:
                bulk_allowed = await sender.grant(endpoint.bulk)
            except LimiterUnavailableError as error:
                # Rows stay queued; the reaper fails them at their deadline with this error.
                if batcher.limiter_error is None:
                    logger.warning("the limiter is unavailable; rows wait for it: %s", error)
                batcher.limiter_error = error
                await asyncio.sleep(_LIMITER_RETRY)
                continue
            if batcher.limiter_error is not None:
                logger.warning("the limiter is available again")
                batcher.limiter_error = None
            call = batcher.take(bulk_allowed)
            if call is None or not call.entries:
                sender.unused_grant()
                continue
            sender.start(call)

    async def _reap(self) -> None:
        """Fail rows whose delivery deadline passed."""
        batcher = self._batcher
        assert batcher is not None
        while True:
            batcher.deadline_changed.clear()
            batcher.expire()
            soonest = batcher.next_deadline()
            timeout = None if soonest == float("inf") else max(0.0, soonest - time.monotonic())
            await batcher.deadline_changed.wait(timeout)

    async def aclose(self, timeout: float = 30.0) -> CloseReport:
        """Stop taking rows, send what was admitted, wait at most ``timeout`` seconds.

        Rows still unsent after that fail with ``ClientClosedError``. Closes the httpx client
        only if this client created it. Idempotent: later calls return the same report.
        """
        if self._close_task is None:
            if self._loop is not None and self._loop is not asyncio.get_running_loop():
                raise WrongEventLoopError("aclose() called from another event loop")
            self._closed = True
            self._close_task = asyncio.get_running_loop().create_task(self._close(timeout))
        return await asyncio.shield(self._close_task)

    async def _close(self, timeout: float) -> CloseReport:
        batcher, sender = self._batcher, self._sender
        if batcher is None or sender is None:
            await self._close_owned()
            return CloseReport(sent=0, failed=0, abandoned=0)
        before = batcher.ended()
        batcher.close_admission()
        try:
            await asyncio.wait_for(batcher.idle.wait(), timeout)
        except asyncio.TimeoutError:
            logger.warning("aclose(timeout=%g) expired; abandoning unsent rows", timeout)
        batcher.abandon(lambda _: ClientClosedError("the client closed before this row was sent"))
        running = [*self._tasks, *sender.tasks]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await self._close_owned()
        after = batcher.ended()
        return CloseReport(
            sent=after[0] - before[0],
            failed=after[1] - before[1],
            abandoned=after[2] - before[2],
        )

    async def _close_owned(self) -> None:
        if self._own_http:
            await self._http.aclose()
        if self._owned_limiter is not None:
            await self._owned_limiter.aclose()

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

    async def _submit(self, op: Operation, wait: bool, default: Priority) -> asyncio.Future[Result]:
        batcher = self._bind()
        endpoint = route(op)
        row = endpoint.prepare(op)
        self._check_open()
        await batcher.admit(wait)
        try:
            self._check_open()  # closing may have begun while we waited for room
        except ClientClosedError:
            batcher.release_admission()
            raise
        future = RowFuture(loop=asyncio.get_running_loop())
        priority = op.priority if op.priority is not None else default
        batcher.add(row, endpoint, future, int(priority))
        return future

    async def _run(self, op: Operation, kind: type[_R]) -> _R:
        future = await self.submit(op)
        return cast("_R", await future)

    async def create_lead(self, fields: dict[str, FieldValue]) -> LeadCreated:
        """Create one lead; batched through ``Lead/Bulk/Create``."""
        return await self._run(CreateLead(fields), LeadCreated)

    async def upsert_lead(
        self, fields: dict[str, FieldValue], *, search_by: str | None = None
    ) -> LeadUpserted:
        """Create or update one lead; batched through ``Lead/Bulk/CreateOrUpdate``."""
        return await self._run(UpsertLead(fields, search_by), LeadUpserted)

    async def update_lead(
        self, fields: dict[str, FieldValue], *, search_by: str = "EmailAddress"
    ) -> LeadUpdated:
        """Update the lead matched by ``search_by``; batched through ``Lead/Bulk/UpdateV2``."""
        return await self._run(UpdateLead(fields, search_by), LeadUpdated)

    async def update_lead_by_id(
        self, lead_id: str, fields: dict[str, FieldValue], *, post_updated_lead: bool = False
    ) -> LeadUpdated:
        """Update the lead with this id (``Lead.Update`` alone when ``post_updated_lead``)."""
        return await self._run(UpdateLeadById(lead_id, fields, post_updated_lead), LeadUpdated)

    async def update_field(
        self, lead_id: str, attribute: str, value: FieldValue, *, lead_type: str | None = None
    ) -> FieldUpdated:
        """Set one field of one lead; batched through ``Lead/Bulk/Update``."""
        return await self._run(UpdateField(lead_id, attribute, value, lead_type), FieldUpdated)

    async def flush(self) -> None:
        """Send every queued row now, without waiting for ``linger``, and wait for the answers."""
        batcher = self._bind()
        if batcher.idle.is_set():
            return
        batcher.flushing = True
        batcher.changed.set()
        try:
            await batcher.idle.wait()
        finally:
            batcher.flushing = self._closed

    async def stream(
        self,
        ops: Iterable[Operation] | AsyncIterable[Operation],
        *,
        priority: Priority = Priority.BULK,
    ) -> AsyncIterator[Outcome]:
        """Submit ``ops`` as fast as admission allows; yield one ``Outcome`` each, in input order.

        Bad input and per-row failures come back as outcomes with ``error`` set; they never stop
        the stream. Operations whose ``priority`` is ``None`` go as ``priority`` (bulk by
        default), so interactive calls from elsewhere take grants first. Leaving the loop early
        withdraws the rows not yet sent (use ``contextlib.aclosing`` to do that at once).
        """
        batcher = self._bind()
        window: asyncio.Queue[Any] = asyncio.Queue(maxsize=batcher.max_pending)
        stopping = False

        async def hand_over(
            item: tuple[Operation, asyncio.Future[Result] | LeadSquaredError],
        ) -> None:
            try:
                await window.put(item)
            except BaseException:
                # The consumer left while this row waited to be handed over: withdraw it (or,
                # if it is already on its way, take its outcome quietly).
                _discard(item[1])
                raise

        async def produce() -> None:
            try:
                if isinstance(ops, AsyncIterable):
                    async for op in ops:
                        await hand_over(await self._submit_for_stream(op, priority))
                else:
                    for op in ops:
                        await hand_over(await self._submit_for_stream(op, priority))
                await window.put(_DONE)
            except asyncio.CancelledError as exc:
                if stopping:
                    raise
                await window.put(exc)  # the source itself raised it: hand it over too
            except BaseException as exc:  # the caller's iterable failed: hand it over
                await window.put(exc)

        def producer_done(task: asyncio.Task[None]) -> None:
            # Whatever ended the producer, a consumer waiting on an empty window must wake.
            if not window.full():
                window.put_nowait(_WAKE)

        producer = asyncio.get_running_loop().create_task(produce())
        producer.add_done_callback(producer_done)
        try:
            while True:
                item = await window.get()
                if item is _DONE:
                    break
                if item is _WAKE:
                    if producer.done() and window.empty():
                        raise RuntimeError("stream()'s producer ended without a result")
                    continue
                if isinstance(item, BaseException):
                    raise item
                op, future = item
                if isinstance(future, LeadSquaredError):
                    yield Outcome(op, error=future)
                    continue
                try:
                    result = await future
                except LeadSquaredError as error:
                    yield Outcome(op, error=error)
                else:
                    yield Outcome(op, result=result)
        finally:
            stopping = True
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
            while not window.empty():
                item = window.get_nowait()
                if isinstance(item, tuple):
                    _discard(item[1])

    async def _submit_for_stream(
        self, op: Operation, priority: Priority
    ) -> tuple[Operation, asyncio.Future[Result] | LeadSquaredError]:
        try:
            return op, await self._submit(op, True, priority)
        except LeadSquaredError as error:
            return op, error

    # -- looking --------------------------------------------------------------------------------

    def stats(self) -> Stats:
        """Calls and rows per endpoint, 429s, retries, rows pending and in flight, limiter wait."""
        batcher = self._batcher
        pending = batcher.pending if batcher else 0
        in_flight = batcher.in_flight if batcher else 0
        return self._counters.snapshot(pending, in_flight)

    @property
    def limiter(self) -> Limiter:
        """The limiter every call passes."""
        return self._limiter
