"""``stream()``: submit operations as fast as admission allows, yield outcomes in input order.

A producer task submits while the consumer (the caller's ``async for``) awaits the results in
order through a bounded window. Leaving early withdraws whatever was submitted and not yielded
(or, if already sent, takes its outcome quietly); any failure of the source reaches the
consumer, ``CancelledError`` included.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable
from typing import Union

from .._api.operations import Operation, Outcome, Result, outcome
from .._errors import LeadSquaredError
from .._util.signal import Signal

__all__ = ["outcomes"]

Submitted = Union["asyncio.Future[Result]", LeadSquaredError]
#: Queue one operation: its future at once when there is room, else what to await for it.
Start = Callable[[Operation], Union["asyncio.Future[Result]", Awaitable["asyncio.Future[Result]"]]]

#: Producer and consumer each hand the other a turn every this many rows. Left to run, each
#: would go through thousands of rows at a time: the producer's allocations then come in bursts
#: far above the garbage collector's threshold (700 objects), which made it run after every
#: ~100 rows; in turns of a call's worth, the collections per row fell about sevenfold.
_TURN = 50
_DONE = object()
_WAKE = object()


def _discard(future: object) -> None:
    """Withdraw a submitted row nobody will read, or retrieve its outcome quietly."""
    if isinstance(future, asyncio.Future) and not future.cancel() and not future.cancelled():
        future.exception()  # it was done already: mark its exception (if any) retrieved


class _Window:
    """The rows between producer and consumer, in input order: at most ``size`` of them.

    Two deques (operations, and what each became) rather than a tuple per row, and one
    ``Signal`` per side: the producer waits for room, the consumer for an arrival.
    """

    __slots__ = ("arrived", "items", "ops", "pushed", "room", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.ops: collections.deque[Operation | None] = collections.deque()
        self.items: collections.deque[object] = collections.deque()
        self.room = Signal()
        self.arrived = Signal()
        self.pushed = 0  # rows pushed so far, to give turns by

    def full(self) -> bool:
        return len(self.items) >= self.size

    def push(self, op: Operation | None, item: object) -> None:
        """Add one at the back (the caller made sure there is room, or it is a wake-up)."""
        self.ops.append(op)
        self.items.append(item)
        self.arrived.set()

    def push_row(self, op: Operation, item: object) -> bool:
        """``push`` a row; whether the producer's turn is up (every ``_TURN`` rows)."""
        self.push(op, item)
        self.pushed += 1
        return self.pushed % _TURN == 0

    async def put(self, op: Operation | None, item: object) -> None:
        """Add one at the back once there is room."""
        while self.full():
            self.room.clear()
            await self.room.wait()
        self.push(op, item)

    def take(self) -> tuple[Operation | None, object]:
        """Take the one at the front (there is one), making room for the producer."""
        self.room.set()
        return self.ops.popleft(), self.items.popleft()

    async def get(self) -> tuple[Operation | None, object]:
        """Take the one at the front, waiting for it to arrive."""
        while not self.items:
            self.arrived.clear()
            await self.arrived.wait()
        return self.take()


def _begin(start: Start, op: Operation) -> Submitted | Awaitable[Submitted]:
    """Queue ``op``: its future or error at once (nearly always), else what to await for it.

    Synchronous, so that a row which finds room costs no coroutine.
    """
    try:
        queued = start(op)
    except LeadSquaredError as error:
        return error
    if isinstance(queued, asyncio.Future):
        return queued
    return _admitted(queued)


async def _admitted(queued: Awaitable[asyncio.Future[Result]]) -> Submitted:
    try:
        return await queued
    except LeadSquaredError as error:
        return error


async def outcomes(
    start: Start, ops: Iterable[Operation] | AsyncIterable[Operation], window_size: int
) -> AsyncGenerator[Outcome, None]:
    """Queue ``ops`` with ``start``; yield one ``Outcome`` each, in input order."""
    window = _Window(window_size)
    stopping = False

    async def hand_over(op: Operation, item: Submitted) -> None:
        try:
            await window.put(op, item)
        except BaseException:
            # The consumer left while this row waited to be handed over: withdraw it (or, if
            # it is already on its way, take its outcome quietly).
            _discard(item)
            raise

    async def produce() -> None:
        try:
            if isinstance(ops, AsyncIterable):
                async for op in ops:
                    item = _begin(start, op)
                    if not isinstance(item, (asyncio.Future, LeadSquaredError)):
                        item = await item
                    if window.full():
                        await hand_over(op, item)
                    elif window.push_row(op, item):
                        await asyncio.sleep(0)
            else:
                # ``push_row`` inline, as this loop runs once per row: the window's two
                # deques, its size, and its consumer's signal read once.
                pending_ops, items, size = window.ops, window.items, window.size
                arrived = window.arrived
                for op in ops:
                    try:  # ``_begin`` inline
                        queued = start(op)
                    except LeadSquaredError as error:
                        item = error
                    else:
                        if isinstance(queued, asyncio.Future):
                            item = queued
                        else:
                            item = await _admitted(queued)
                    if len(items) >= size:
                        await hand_over(op, item)
                        continue
                    pending_ops.append(op)
                    items.append(item)
                    if len(items) == 1:  # the consumer waits only on an empty window
                        arrived.set()
                    window.pushed += 1
                    if window.pushed % _TURN == 0:
                        await asyncio.sleep(0)
            await window.put(None, _DONE)
        except asyncio.CancelledError as exc:
            if stopping:
                raise
            await window.put(None, exc)  # the source itself raised it: hand it over too
        except BaseException as exc:  # the caller's iterable failed: hand it over
            await window.put(None, exc)

    def producer_done(_: asyncio.Task[None]) -> None:
        # Whatever ended the producer, a consumer waiting on an empty window must wake.
        if not window.full():
            window.push(None, _WAKE)

    producer = asyncio.get_running_loop().create_task(produce())
    producer.add_done_callback(producer_done)
    turn = _TURN
    window_ops, items, room = window.ops, window.items, window.room
    last = window.size - 1  # a window left with this many rows was full
    try:
        while True:
            turn -= 1
            if not turn:
                turn = _TURN
                if room.waiting:  # the producer waits for room: let it have a turn
                    await asyncio.sleep(0)
            # The usual case, a row there already, takes no coroutine to wait with (and
            # ``take``'s steps inline: this runs once per row).
            if items:
                op, item = window_ops.popleft(), items.popleft()
                if len(items) == last:  # the producer waits only on a full window
                    room.set()
            else:
                op, item = await window.get()
            if op is None:  # no row: the end, a wake-up, or what the source raised
                if item is _DONE:
                    break
                if item is _WAKE:
                    if producer.done() and not window.items:
                        raise RuntimeError("stream()'s producer ended without a result")
                    continue
                assert isinstance(item, BaseException)
                raise item
            if isinstance(item, LeadSquaredError):
                yield outcome(op, None, item)
                continue
            future: asyncio.Future[Result] = item  # type: ignore[assignment]
            try:
                # A row already answered needs no await (nor the suspension point it costs).
                result = future.result() if future.done() else await future
            except LeadSquaredError as error:
                yield outcome(op, None, error)
            else:
                yield outcome(op, result, None)
    finally:
        stopping = True
        producer.cancel()
        await asyncio.gather(producer, return_exceptions=True)
        for item in window.items:
            _discard(item)
        window.items.clear()
        window.ops.clear()
