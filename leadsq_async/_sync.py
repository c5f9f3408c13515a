"""The synchronous client: one ``LeadSquaredClient`` on an event loop in a background thread.

Sync code (Celery tasks, Django views and management commands, scripts) calls blocking
methods from as many threads as it likes; each call is handed to the one event loop with
``asyncio.run_coroutine_threadsafe`` and the calling thread waits for its answer. Every
thread's rows land in the same batches, under the same limiter, as the async client's would:
nothing here batches, retries or limits on its own.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures as cf
import contextlib
import logging
import os
import queue
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ._api.encoding import FieldValue
from ._api.operations import (
    FieldUpdated,
    LeadCreated,
    LeadUpdated,
    LeadUpserted,
    Operation,
    Outcome,
    Priority,
    Result,
)
from ._client import LeadSquaredClient
from ._errors import ClientClosedError, ValidationError, WrongEventLoopError
from ._observe.events import CallHook, EventHook, Telemetry
from ._observe.stats import CloseReport, Stats
from ._settings import Settings
from ._util.threadloop import Feed, Inbox, bridge, peek, relay, run_loop

__all__ = ["SyncLeadSquaredClient"]

logger = logging.getLogger("leadsq_async")

T = TypeVar("T")
#: Builds the ``httpx.AsyncClient`` in the loop thread (an async client belongs to one loop).
HttpClientFactory = Callable[[], httpx.AsyncClient]
Job = Callable[[LeadSquaredClient], Awaitable[T]]

#: Seconds the interpreter's exit gives an unclosed client to send what it holds.
EXIT_TIMEOUT = 5.0
#: Seconds to start the loop thread and build the async client in it.
START_TIMEOUT = 30.0
#: Seconds ``close()`` waits for the loop beyond its own ``timeout`` (at most that timeout).
CLOSE_GRACE = 2.0
#: Seconds for short looks into the loop (``stats()``) and for calls to settle at close.
SETTLE = 2.0

_OWN_THREAD = (
    "SyncLeadSquaredClient was called from its own event loop thread (an on_call hook?) and "
    "would wait for itself forever; a hook must not block: act on the event in another thread"
)
_FORKED = (
    "this SyncLeadSquaredClient was created in another process (before a fork): its event "
    "loop thread does not exist here; create the client in each process after forking"
)
_NO_HTTP_CLIENT = "an httpx.AsyncClient belongs to one event loop; pass http_client_factory"


class SyncLeadSquaredClient:
    """A blocking LeadSquared lead client for sync code, safe to share between threads.

    It owns one ``LeadSquaredClient`` on an event loop in a daemon thread; every method hands
    its work to that loop and waits, so calls from many threads (a Celery or Django worker's
    thread pool) ride the same bulk calls. Keyword arguments are ``Settings`` fields, and
    ``on_call``, ``on_event``, ``telemetry`` and ``clock`` as for ``LeadSquaredClient`` (the
    calling thread's trace context travels with its rows); ``http_client_factory`` builds the
    ``httpx.AsyncClient`` in the loop thread (it is closed with the client). Use it as a
    context manager or call ``close()``; a client still open at interpreter exit is closed
    then (sending for at most ``exit_timeout`` seconds, and leaving a stuck loop after at most
    ``exit_timeout`` + 2 s). Create it after forking, never before.
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        http_client_factory: HttpClientFactory | None = None,
        on_call: CallHook | None = None,
        on_event: EventHook | None = None,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] | None = None,
        exit_timeout: float = EXIT_TIMEOUT,
        **options: Any,
    ) -> None:
        if "http_client" in options:
            raise ValidationError("http_client", _NO_HTTP_CLIENT)
        settings = Settings(access_key, secret_key, **options)
        hooks = {"on_call": on_call, "on_event": on_event, "telemetry": telemetry}
        self._start(settings, http_client_factory, hooks, clock, exit_timeout)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        http_client_factory: HttpClientFactory | None = None,
        on_call: CallHook | None = None,
        on_event: EventHook | None = None,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] | None = None,
        exit_timeout: float = EXIT_TIMEOUT,
    ) -> SyncLeadSquaredClient:
        """Build a client from ``Settings``."""
        client = cls.__new__(cls)
        hooks = {"on_call": on_call, "on_event": on_event, "telemetry": telemetry}
        client._start(settings, http_client_factory, hooks, clock, exit_timeout)
        return client

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = "LSQ_", **options: Any
    ) -> SyncLeadSquaredClient:
        """Build a client from ``LSQ_*`` environment variables (see ``Settings.from_env``).

        Keyword ``options`` override the environment: ``Settings`` fields, and
        ``http_client_factory``, ``on_call``, ``on_event``, ``telemetry``, ``clock`` and
        ``exit_timeout`` as for the constructor.
        """
        if "http_client" in options:
            raise ValidationError("http_client", _NO_HTTP_CLIENT)
        names = ("http_client_factory", "on_call", "on_event", "telemetry", "clock", "exit_timeout")
        extra = {n: options.pop(n) for n in names if n in options}
        return cls.from_settings(Settings.from_env(environ, prefix=prefix, **options), **extra)

    def _start(
        self,
        settings: Settings,
        http_client_factory: HttpClientFactory | None,
        hooks: dict[str, Any],
        clock: Callable[[], float] | None,
        exit_timeout: float,
    ) -> None:
        self.settings = settings
        self.base_url = settings.url
        self._exit_timeout = exit_timeout
        self._pid = os.getpid()
        self._lock = threading.RLock()  # a done-callback may run in the thread that holds it
        self._closing = False  # set (under the lock) once close() began; never unset
        self._close_report = cf.Future[CloseReport]()
        self._final_stats: Stats | None = None
        # Answered by close() if the loop cannot: threads waiting for a call, submit() futures.
        self._waiting: set[cf.Future[Any]] = set()
        self._answers: set[cf.Future[Any]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()  # in the loop: calls in progress
        self._feeds: set[Feed[Operation]] = set()  # in the loop: streams' sources
        self._http: httpx.AsyncClient | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=run_loop, args=(self._loop,), name="leadsq-sync-loop", daemon=True
        )
        self._thread.start()

        async def build() -> LeadSquaredClient:
            # Everything loop-bound (httpx, the engine, a RedisLimiter) is made in the loop.
            if http_client_factory is not None:
                self._http = http_client_factory()
            client = LeadSquaredClient.from_settings(
                settings, http_client=self._http, clock=clock, **hooks
            )
            await client.__aenter__()  # binds it to this loop and starts its engine
            return client

        building = asyncio.run_coroutine_threadsafe(build(), self._loop)
        try:
            self._client = building.result(START_TIMEOUT)
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(SETTLE)
            raise
        atexit.register(self._close_at_exit)

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        return f"<SyncLeadSquaredClient {self.base_url} {state}>"

    # -- life --------------------------------------------------------------------------------

    def __enter__(self) -> SyncLeadSquaredClient:
        self._check()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` has begun."""
        return self._closing

    def close(self, timeout: float = 30.0) -> CloseReport:
        """Stop taking rows, send what was admitted, wait at most ``timeout`` seconds.

        As ``LeadSquaredClient.aclose()``: rows still unsent after ``timeout`` fail with
        ``ClientClosedError``, and every thread still waiting is answered. If the loop itself
        does not answer (something blocks it), close gives up after a short grace and answers
        the waiting threads with ``ClientClosedError``. Idempotent: later calls return the
        same report.
        """
        self._check(open_=False)
        with self._lock:
            first = not self._closing
            self._closing = True
        if not first:
            return self._close_report.result()
        report = CloseReport(sent=0, failed=0, abandoned=0)
        try:
            report = self._shutdown(timeout)
        finally:
            self._close_report.set_result(report)
            atexit.unregister(self._close_at_exit)
        return report

    def _shutdown(self, timeout: float) -> CloseReport:
        patience = timeout + min(CLOSE_GRACE, max(timeout, 0.05))
        report = CloseReport(sent=0, failed=0, abandoned=0)
        work = asyncio.run_coroutine_threadsafe(self._close_in_loop(timeout), self._loop)
        stuck = True
        try:
            report, self._final_stats = work.result(patience)
            stuck = False
        except cf.TimeoutError:
            work.cancel()
            logger.warning("the sync client's event loop did not close in %.2fs; left it", patience)
        except Exception:
            logger.exception("closing the sync client's event loop failed")
        finally:
            self._answer_waiting()
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                self._loop.call_soon_threadsafe(self._loop.stop)
            if not stuck:  # a stuck loop's daemon thread is left to the interpreter's exit
                self._thread.join(CLOSE_GRACE)
        return report

    async def _close_in_loop(self, timeout: float) -> tuple[CloseReport, Stats]:
        client = self._client
        for feed in self._feeds:  # streams read no further; what they admitted is sent
            feed.fail(_closed_during_stream())
        report = await client.aclose(timeout)
        # Every row is answered now: let the calls waiting for them take their answers, and
        # the streams hand theirs over (each ends with the error its source now raises).
        tasks = list(self._tasks) + [f.task for f in self._feeds if f.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=SETTLE)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
        return report, client.stats()

    def _answer_waiting(self) -> None:
        """Answer every thread still waiting (the loop answered them all unless it is stuck)."""
        with self._lock:
            waiting, answers = list(self._waiting), list(self._answers)
        for future in waiting:
            future.cancel()  # its waiter turns that into ClientClosedError
        for answer in answers:  # submit()'s futures: their holders see the error itself
            with contextlib.suppress(RuntimeError):  # answered meanwhile
                if answer.set_running_or_notify_cancel():
                    answer.set_exception(ClientClosedError("the client closed"))

    def _close_at_exit(self) -> None:
        if os.getpid() != self._pid:
            return  # a forked child: the loop thread lives in the parent only
        try:
            self.close(self._exit_timeout)
        except Exception:
            logger.exception("closing the sync client at interpreter exit failed")

    # -- handing work to the loop --------------------------------------------------------------

    def _check(self, *, open_: bool = True) -> None:
        if os.getpid() != self._pid:
            raise WrongEventLoopError(_FORKED)
        if threading.get_ident() == self._thread.ident:
            raise WrongEventLoopError(_OWN_THREAD)
        if open_ and self._closing:
            raise ClientClosedError("the client is closed")

    def _schedule(self, job: Job[T]) -> cf.Future[T]:
        """Run ``job(client)`` in the loop; the future is answered even if close() intervenes."""
        with self._lock:  # the lock close() takes to begin: no job starts after it
            self._check()
            future = asyncio.run_coroutine_threadsafe(self._in_loop(job), self._loop)
            self._track(future, self._waiting)
        return future

    def _track(self, future: cf.Future[Any], into: set[cf.Future[Any]]) -> None:
        with self._lock:
            into.add(future)

        def done(_: cf.Future[Any]) -> None:
            with self._lock:  # reentrant: this may run at once, in the thread holding it
                into.discard(future)

        future.add_done_callback(done)

    async def _in_loop(self, job: Job[T]) -> T:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            return await job(self._client)
        except asyncio.CancelledError:
            if self._closing:
                raise ClientClosedError("the client closed before this call was answered") from None
            raise
        finally:
            self._tasks.discard(task)

    def _call(self, job: Job[T], timeout: float | None, cancel_on_timeout: bool) -> T:
        """Run ``job`` in the loop and wait for its answer in this thread."""
        future = self._schedule(job)
        try:
            return future.result(timeout)
        except cf.TimeoutError:
            if future.done() and not future.cancelled():
                return future.result()  # answered at the last moment (or raised on its own)
            if cancel_on_timeout and not future.cancel():
                return future.result()
            what = "withdrawn if it was not sent yet" if cancel_on_timeout else "still queued"
            raise TimeoutError(f"no answer within {timeout}s; the row is {what}") from None
        except cf.CancelledError:
            raise ClientClosedError("the client closed before this call was answered") from None
        except BaseException:
            if not future.done():  # KeyboardInterrupt or SystemExit in this thread
                future.cancel()  # withdraws the row unless it was sent already
            raise

    # -- submitting ----------------------------------------------------------------------------

    def submit(
        self, op: Operation, *, wait: bool = True, timeout: float | None = None
    ) -> cf.Future[Result]:
        """Queue ``op``; wait only for admission; give a ``concurrent.futures.Future``.

        As ``LeadSquaredClient.submit()``: ``wait=False`` raises ``QueueFullError`` instead of
        waiting for room, and cancelling the future before the row is put into a call withdraws
        it. ``timeout`` bounds the wait for admission (then ``TimeoutError``; withdrawn).
        """
        loop = self._loop

        async def admit(client: LeadSquaredClient) -> cf.Future[Result]:
            answer = bridge(await client.submit(op, wait=wait), loop)
            self._track(answer, self._answers)  # answered by close() even if the loop is stuck
            return answer

        return self._call(admit, timeout, cancel_on_timeout=True)

    def create_lead(
        self,
        fields: dict[str, FieldValue],
        *,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> LeadCreated:
        """Create one lead; batched through ``Lead/Bulk/Create``.

        ``timeout`` (seconds) bounds this thread's wait: then ``TimeoutError``, and the row is
        still sent unless ``cancel_on_timeout`` (which withdraws it if it was not sent yet).
        """
        return self._call(lambda c: c.create_lead(fields), timeout, cancel_on_timeout)

    def upsert_lead(
        self,
        fields: dict[str, FieldValue],
        *,
        search_by: str | None = None,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> LeadUpserted:
        """Create or update one lead; batched through ``Lead/Bulk/CreateOrUpdate``."""
        return self._call(
            lambda c: c.upsert_lead(fields, search_by=search_by), timeout, cancel_on_timeout
        )

    def update_lead(
        self,
        fields: dict[str, FieldValue],
        *,
        search_by: str = "EmailAddress",
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> LeadUpdated:
        """Update the lead matched by ``search_by``; batched through ``Lead/Bulk/UpdateV2``."""
        return self._call(
            lambda c: c.update_lead(fields, search_by=search_by), timeout, cancel_on_timeout
        )

    def update_lead_by_id(
        self,
        lead_id: str,
        fields: dict[str, FieldValue],
        *,
        post_updated_lead: bool = False,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> LeadUpdated:
        """Update the lead with this id (``Lead.Update`` alone when ``post_updated_lead``)."""
        return self._call(
            lambda c: c.update_lead_by_id(lead_id, fields, post_updated_lead=post_updated_lead),
            timeout,
            cancel_on_timeout,
        )

    def update_field(
        self,
        lead_id: str,
        attribute: str,
        value: FieldValue,
        *,
        lead_type: str | None = None,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> FieldUpdated:
        """Set one field of one lead; batched through ``Lead/Bulk/Update``."""
        return self._call(
            lambda c: c.update_field(lead_id, attribute, value, lead_type=lead_type),
            timeout,
            cancel_on_timeout,
        )

    def flush(self, *, timeout: float | None = None) -> None:
        """Send every queued row now, without waiting for ``linger``, and wait for the answers.

        ``timeout`` bounds the wait (then ``TimeoutError``; the rows are still sent).
        """
        self._call(lambda c: c.flush(), timeout, cancel_on_timeout=True)

    def stream(
        self, ops: Iterable[Operation], *, priority: Priority = Priority.BULK
    ) -> Iterator[Outcome]:
        """Submit ``ops`` as fast as admission allows; yield one ``Outcome`` each, in input order.

        As ``LeadSquaredClient.stream()``, as a plain iterator. ``ops`` is read in the calling
        thread, one operation whenever the stream has room for it (so a database cursor stays
        in its thread); an exception it raises comes out of the iterator after the outcomes
        before it. Leaving the loop early (``break``, an exception, ``close()`` of the
        iterator) withdraws the rows not yet sent before it returns. Raises
        ``ClientClosedError`` if the client closes while the stream runs.
        """
        self._check()
        return _lazily(lambda: self._stream(iter(ops), priority))

    def _stream(self, source: Iterator[Operation], priority: Priority) -> Iterator[Outcome]:
        inbox: Inbox = queue.SimpleQueue()
        feed: Feed[Operation] = Feed(inbox)

        async def consume(client: LeadSquaredClient) -> None:
            if feed.stopped:
                return
            feed.task = asyncio.current_task()
            self._feeds.add(feed)
            try:
                async with contextlib.aclosing(client.stream(feed, priority=priority)) as results:
                    async for outcome in results:
                        inbox.put(("item", outcome))
            finally:
                self._feeds.discard(feed)

        future = self._schedule(consume)
        return relay(self._loop, feed, source, future, _closed_during_stream)

    # -- looking --------------------------------------------------------------------------------

    def stats(self) -> Stats:
        """As ``LeadSquaredClient.stats()``; after ``close()``, the figures it ended with."""
        if self._final_stats is not None:
            return self._final_stats
        if threading.get_ident() == self._thread.ident:
            return self._client.stats()  # a hook may look
        self._check(open_=False)
        try:
            return peek(self._loop, self._client.stats, SETTLE)
        except (cf.TimeoutError, RuntimeError):  # the loop is stuck, or closed
            if self._closing:
                raise ClientClosedError("the client is closed") from None
            raise


def _closed_during_stream() -> ClientClosedError:
    return ClientClosedError("the client closed during stream()")


def _lazily(make: Callable[[], Iterator[T]]) -> Iterator[T]:
    """An iterator that calls ``make`` at its first ``next()`` (nothing starts before)."""
    yield from make()
