"""Acknowledgements in batches: one ``basic.ack`` with ``multiple`` for every message settled
together, instead of one frame (and one socket write) per message.

A call answers up to fifty rows at once, so their messages become ready to acknowledge in the
same turn of the event loop. ``Acks`` gathers them and, one turn later, sends one ``basic.ack``
with ``multiple=True`` for the longest run of delivery tags, counted up from the last one
settled, in which every message is settled or ready. ``multiple`` acknowledges every
outstanding tag up to the one it names, so the run must hold no message still in hand and no
tag the worker never saw (a message the client library dropped): either ends it, and the ready
messages past it are acknowledged one by one, at once, so that none of them keeps a place of
the prefetch window. A message is returned (``nack``) alone, before any ``multiple`` can cover
it. Each message's ``ack`` returns only once the frame acknowledging it has been written:
acknowledged means settled at the broker, as with one ``ack`` per message.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._delivery import Delivered

__all__ = ["AckPlan", "Acks", "Held", "plan_acks"]

#: How many tags settled past one that never comes back are remembered at most (each is an
#: int in a dict): past it they are forgotten, which only means no ``multiple`` goes past there.
MAX_REMEMBERED = 100_000


class Held(enum.Enum):
    """Where a delivered message stands."""

    IN_HAND = "in hand"  # its row's outcome is not known yet
    READY = "ready"  # to be acknowledged
    SETTLED = "settled"  # acknowledged alone or returned: at the broker no longer


@attrs.frozen
class AckPlan:
    """What one flush sends: ``upto`` (``multiple``) and ``singles``, and the new floor."""

    upto: int | None  # acknowledge every outstanding tag up to this one; None: no such frame
    singles: tuple[int, ...]  # acknowledge each of these alone (past a message in hand)
    floor: int  # every tag up to this one is settled at the broker afterwards


def plan_acks(floor: int, states: Mapping[int, Held]) -> AckPlan:
    """The acknowledgements that settle every ready message, given that every tag up to
    ``floor`` is settled: one ``multiple`` up to the last ready tag of the unbroken run of
    settled or ready tags above ``floor`` (``multiple`` must name an outstanding tag, so a
    settled one cannot end it), then each ready tag past the run alone."""
    tag = floor + 1
    upto: int | None = None
    while (state := states.get(tag)) is not None and state is not Held.IN_HAND:
        if state is Held.READY:
            upto = tag
        tag += 1
    top = tag - 1
    singles = tuple(sorted(t for t, s in states.items() if s is Held.READY and t > top))
    return AckPlan(upto, singles, top)


class Acks:
    """The delivery tags of one channel's consumer, acknowledged in batches."""

    def __init__(self) -> None:
        self._floor = 0  # a channel's delivery tags start at 1
        self._states: dict[int, Held] = {}
        self._messages: dict[int, Delivered] = {}
        self._loop = asyncio.get_running_loop()
        self._written: asyncio.Future[None] = self._loop.create_future()
        self._flusher: asyncio.Task[None] | None = None
        self.frames = 0  # basic.ack frames sent (for the report)

    def hold(self, message: Delivered) -> None:
        """A message was delivered: it is in hand until it is acknowledged or returned."""
        tag = message.delivery_tag
        if tag is not None and tag > self._floor:
            self._states[tag] = Held.IN_HAND

    async def ack(self, message: Delivered) -> None:
        """Acknowledge ``message`` with the others ready in this turn; returns once written."""
        tag = message.delivery_tag
        if tag is None or self._states.get(tag) is not Held.IN_HAND:
            await message.ack()  # not held (never seen): alone, as before
            return
        self._states[tag] = Held.READY
        self._messages[tag] = message
        written = self._written
        if self._flusher is None:
            self._flusher = self._loop.create_task(self._flush())
        await written

    async def nack(self, message: Delivered) -> None:
        """Return ``message`` to the queue (alone, at once)."""
        await message.nack(requeue=True)
        tag = message.delivery_tag
        if tag is not None and tag in self._states:
            self._states[tag] = Held.SETTLED

    async def _flush(self) -> None:
        try:
            while True:
                plan = plan_acks(self._floor, self._states)
                if plan.upto is None and not plan.singles:
                    return
                written, self._written = self._written, self._loop.create_future()
                messages = self._messages
                first = messages.pop(plan.upto) if plan.upto is not None else None
                for tag in range(self._floor + 1, plan.floor + 1):
                    del self._states[tag]
                    messages.pop(tag, None)
                self._floor = plan.floor
                alone = []
                for tag in plan.singles:
                    self._states[tag] = Held.SETTLED
                    alone.append(messages.pop(tag))
                if len(self._states) > MAX_REMEMBERED:
                    self._forget_settled()
                try:
                    if first is not None:
                        await first.ack(multiple=True)
                        self.frames += 1
                    for message in alone:
                        await message.ack()
                        self.frames += 1
                except Exception as exc:
                    written.set_exception(exc)
                    written.add_done_callback(_retrieved)
                else:
                    written.set_result(None)
        finally:
            self._flusher = None

    def _forget_settled(self) -> None:
        self._states = {t: s for t, s in self._states.items() if s is not Held.SETTLED}


def _retrieved(future: asyncio.Future[None]) -> None:
    future.exception()  # every waiter has its own copy; nobody waiting is fine
