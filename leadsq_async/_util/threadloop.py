"""Plumbing between threads and one event loop in a thread of its own (for the sync client).

Nothing here knows LeadSquared: the loop thread's body, a thread-safe future mirroring a
loop future, a quick look into the loop, and an iterable read in one thread fed to an async
iterator in the loop one item at a time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import logging
import queue
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["Feed", "Inbox", "bridge", "peek", "relay", "run_loop"]

logger = logging.getLogger("leadsq_async")

T = TypeVar("T")
#: Seconds a relay left early waits for its consumer to stop.
STOP_TIMEOUT = 2.0
#: Messages from the loop to the thread that reads a stream: ``(kind, value)``.
#: Kinds: ``item`` (yield it), ``need`` (the feed wants the next item), ``done`` (the future).
Inbox = queue.SimpleQueue[tuple[str, Any]]


def run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The loop thread: run until stopped, then end what is left and close the loop."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    except Exception:
        logger.exception("the sync client's event loop failed")
    finally:
        loop.close()


def bridge(future: asyncio.Future[T], loop: asyncio.AbstractEventLoop) -> cf.Future[T]:
    """A thread-safe future answered as ``future`` is; cancelling it cancels ``future``.

    Call it in ``loop``. The returned future stays pending until ``future`` is done, so a
    thread can cancel it until then.
    """
    answer = cf.Future[T]()

    def settle(done: asyncio.Future[T]) -> None:
        if done.cancelled():
            answer.cancel()
        with contextlib.suppress(RuntimeError):  # answered already (from another thread)
            if not answer.set_running_or_notify_cancel():
                return  # cancelled, by its holder or just above
            error = done.exception()
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(done.result())

    def withdraw(done: cf.Future[T]) -> None:
        if done.cancelled():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to cancel
                loop.call_soon_threadsafe(future.cancel)

    future.add_done_callback(settle)
    answer.add_done_callback(withdraw)
    return answer


def peek(loop: asyncio.AbstractEventLoop, look: Callable[[], T], timeout: float) -> T:
    """Run a quick function in ``loop`` and wait at most ``timeout`` for its answer.

    A plain callback rather than a coroutine: if the loop never runs it, nothing leaks.
    """
    answer = cf.Future[T]()

    def run() -> None:
        if answer.set_running_or_notify_cancel():
            try:
                answer.set_result(look())
            except BaseException as exc:
                answer.set_exception(exc)

    loop.call_soon_threadsafe(run)
    return answer.result(timeout)


def _next_message(source: Iterator[T]) -> tuple[str, Any]:
    """The next item of ``source`` as a message for ``Feed.give``: op, end or error."""
    try:
        return ("op", next(source))
    except StopIteration:
        return ("end", None)
    except Exception as exc:  # the source failed: the stream raises it in its turn
        return ("error", exc)


class Feed(Generic[T]):
    """An iterable read in another thread, as an async iterator in the loop.

    Each ``__anext__`` posts ``("need", None)`` to ``inbox``; the reading thread answers with
    ``give()`` through the loop (see ``relay``). ``stop()`` cancels the consuming ``task`` (or
    keeps it from starting); ``fail()`` makes every further ``__anext__`` raise.
    """

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self._waiting: asyncio.Future[tuple[str, Any]] | None = None
        self._error: BaseException | None = None
        self.task: asyncio.Task[Any] | None = None
        self.stopped = False

    def __aiter__(self) -> Feed[T]:
        return self

    async def __anext__(self) -> T:
        if self._error is not None:
            raise self._error
        self._waiting = asyncio.get_running_loop().create_future()
        self.inbox.put(("need", None))
        kind, value = await self._waiting
        if kind == "op":
            return value  # type: ignore[no-any-return]
        if kind == "end":
            raise StopAsyncIteration
        raise value

    def give(self, message: tuple[str, Any]) -> None:
        """Answer the pending ``__anext__`` (in the loop)."""
        waiting = self._waiting
        if waiting is not None and not waiting.done():
            waiting.set_result(message)

    def fail(self, error: BaseException) -> None:
        """Raise ``error`` from the pending and every further ``__anext__`` (in the loop)."""
        self._error = error
        self.give(("error", error))

    def stop(self) -> None:
        """End the consumer: it leaves its ``async for`` (in the loop)."""
        self.stopped = True
        if self.task is not None:
            self.task.cancel()


def relay(
    loop: asyncio.AbstractEventLoop,
    feed: Feed[T],
    source: Iterator[T],
    future: cf.Future[Any],
    closed: Callable[[], BaseException],
) -> Iterator[Any]:
    """In the reading thread: yield the loop's ``item`` messages, feed ``source`` on ``need``.

    ``future`` is the consumer's in the loop: when it is done the relay ends (raising its
    error, or ``closed()`` if it was cancelled). Leaving early stops the consumer and waits
    (a bounded time) until it is done.
    """
    inbox = feed.inbox
    future.add_done_callback(lambda done: inbox.put(("done", done)))
    ended = False
    try:
        while True:
            kind, value = inbox.get()
            if kind == "item":
                yield value
            elif kind == "need":
                try:
                    loop.call_soon_threadsafe(feed.give, _next_message(source))
                except RuntimeError:  # the loop is closed
                    ended = True
                    raise closed() from None
            else:
                ended = True
                if value.cancelled():
                    raise closed()
                value.result()  # raises what ended the consumer, if anything did
                return
    finally:
        if not ended:
            _stop(loop, feed, inbox)


def _stop(loop: asyncio.AbstractEventLoop, feed: Feed[Any], inbox: Inbox) -> None:
    try:
        loop.call_soon_threadsafe(feed.stop)
    except RuntimeError:
        return  # the loop is closed: nothing runs there any more
    with contextlib.suppress(queue.Empty):
        while inbox.get(timeout=STOP_TIMEOUT)[0] != "done":
            pass
