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
Submit = Callable[[Operation], Awaitable["asyncio.Future[Result]"]]

_DONE = object()
_WAKE = object()


def _discard(future: object) -> None:
    """Withdraw a submitted row nobody will read, or retrieve its outcome quietly."""
    if isinstance(future, asyncio.Future) and not future.cancel() and not future.cancelled():
        future.exception()  # it was done already: mark its exception (if any) retrieved


async def outcomes(
    submit: Submit, ops: Iterable[Operation] | AsyncIterable[Operation], window_size: int
) -> AsyncGenerator[Outcome, None]:
    """Submit ``ops`` with ``submit``; yield one ``Outcome`` each, in input order."""
    window: asyncio.Queue[Any] = asyncio.Queue(maxsize=window_size)
    stopping = False

    async def submitted(op: Operation) -> tuple[Operation, Submitted]:
        try:
            return op, await submit(op)
        except LeadSquaredError as error:
            return op, error

    async def hand_over(item: tuple[Operation, Submitted]) -> None:
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
                    await hand_over(await submitted(op))
            else:
                for op in ops:
                    await hand_over(await submitted(op))
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
