"""A ``LeadSquaredClient`` on an event loop in a daemon thread: its start, its close, and the
one way work is handed to it and waited for.

``SyncLeadSquaredClient`` (``_sync``) is this plus the blocking methods users call; the split
keeps the thread's life apart from the list of calls that mirrors the async client.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures as cf
import contextlib
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx2

from ._api.operations import Operation
from ._client import LeadSquaredClient
from ._errors import ClientClosedError, WrongEventLoopError
from ._observe.stats import CloseReport, Stats
from ._settings import Settings
from ._util.threadloop import Feed, run_loop

__all__ = ["ThreadedClient"]

logger = logging.getLogger("leadsq_async")

T = TypeVar("T")
P = ParamSpec("P")
#: Builds the ``httpx2.AsyncClient`` in the loop thread (an async client belongs to one loop).
HttpClientFactory = Callable[[], httpx2.AsyncClient]
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


class ThreadedClient:
    """The life of one ``LeadSquaredClient`` on its own event loop in a daemon thread."""

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
        self._http: httpx2.AsyncClient | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=run_loop, args=(self._loop,), name="leadsq-sync-loop", daemon=True
        )
        self._thread.start()

        async def build() -> LeadSquaredClient:
            # Everything loop-bound (httpx2, the engine, a RedisLimiter) is made in the loop.
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

    # ``timeout`` is aclose()'s drain deadline, handed on (see LeadSquaredClient.aclose).
    async def _close_in_loop(self, timeout: float) -> tuple[CloseReport, Stats]:  # noqa: ASYNC109
        client = self._client
        for feed in self._feeds:  # streams read no further; what they admitted is sent
            feed.fail(closed_during_stream())
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

    def _forward(
        self,
        method: Callable[Concatenate[LeadSquaredClient, P], Awaitable[T]],
        timeout: float | None,
        cancel_on_timeout: bool,
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run the async client's ``method`` with these arguments in the loop; wait for it.

        The one path of every blocking method: typed by ``method`` itself, so a sync method
        cannot pass what its async twin does not take.
        """
        return self._call(lambda c: method(c, *args, **kwargs), timeout, cancel_on_timeout)


def closed_during_stream() -> ClientClosedError:
    return ClientClosedError("the client closed during stream()")
