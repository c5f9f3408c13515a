"""``stream()``: submit operations as fast as admission allows, yield outcomes in input order.

A producer task submits while the consumer (the caller's ``async for``) awaits the results in
order through a bounded window. Leaving early withdraws whatever was submitted and not yielded
(or, if already sent, takes its outcome quietly); any failure of the source reaches the
consumer, ``CancelledError`` included.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from typing import Any, Union

from ._errors import LeadSquaredError
from ._ops import Operation, Outcome, Result

__all__ = ["outcomes"]

Submitted = Union["asyncio.Future[Result]", LeadSquaredError]
#: Queue one operation: its future at once when there is room, else what to await for it.
Start = Callable[[Operation], Union["asyncio.Future[Result]", Awaitable["asyncio.Future[Result]"]]]
Item = tuple[Operation, Submitted]

_DONE = object()
_WAKE = object()


def _discard(future: object) -> None:
    """Withdraw a submitted row nobody will read, or retrieve its outcome quietly."""
    if isinstance(future, asyncio.Future) and not future.cancel() and not future.cancelled():
        future.exception()  # it was done already: mark its exception (if any) retrieved


def _begin(start: Start, op: Operation) -> Item | Awaitable[Item]:
    """Queue ``op``: its item at once when it needs no waiting (nearly always), else an awaitable.

    Synchronous, so that a row which finds room costs no coroutine.
    """
    try:
        queued = start(op)
    except LeadSquaredError as error:
        return op, error
    if isinstance(queued, asyncio.Future):
        return op, queued
    return _admitted(op, queued)


async def _admitted(op: Operation, queued: Awaitable[asyncio.Future[Result]]) -> Item:
    try:
        return op, await queued
    except LeadSquaredError as error:
        return op, error


async def outcomes(
    start: Start, ops: Iterable[Operation] | AsyncIterable[Operation], window_size: int
) -> AsyncGenerator[Outcome, None]:
    """Queue ``ops`` with ``start``; yield one ``Outcome`` each, in input order."""
    window: asyncio.Queue[Any] = asyncio.Queue(maxsize=window_size)
    stopping = False

    async def hand_over(item: Item) -> None:
        try:
            await window.put(item)
        except BaseException:
            # The consumer left while this row waited to be handed over: withdraw it (or, if
            # it is already on its way, take its outcome quietly).
            _discard(item[1])
            raise

    async def produce() -> None:
        try:
            if isinstance(ops, AsyncIterable):
                async for op in ops:
                    item = _begin(start, op)
                    if not isinstance(item, tuple):
                        item = await item
                    if window.full():
                        await hand_over(item)
                    else:
                        window.put_nowait(item)
            else:
                for op in ops:
                    item = _begin(start, op)
                    if not isinstance(item, tuple):
                        item = await item
                    if window.full():
                        await hand_over(item)
                    else:
                        window.put_nowait(item)
            await window.put(_DONE)
        except asyncio.CancelledError as exc:
            if stopping:
                raise
            await window.put(exc)  # the source itself raised it: hand it over too
        except BaseException as exc:  # the caller's iterable failed: hand it over
            await window.put(exc)

    def producer_done(_: asyncio.Task[None]) -> None:
        # Whatever ended the producer, a consumer waiting on an empty window must wake.
        if not window.full():
            window.put_nowait(_WAKE)

    producer = asyncio.get_running_loop().create_task(produce())
    producer.add_done_callback(producer_done)
    try:
        while True:
            item = window.get_nowait() if not window.empty() else await window.get()
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
                # A row already answered needs no await (nor the suspension point it costs).
                result = future.result() if future.done() else await future
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
