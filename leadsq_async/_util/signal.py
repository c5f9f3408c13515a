"""A flag one task waits on, with a timeout, without the task ``wait_for`` would create."""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["Broadcast", "Resumer", "Signal"]


class Resumer(Protocol):
    """What starts a task parked on a ``Signal`` again."""

    def resumed(self, signal: Signal) -> None:
        """``signal``, which a task parked on, was raised: start that task again."""


class Signal:
    """A flag one task waits on (``wait``), raised from anywhere (``set``)."""

    __slots__ = ("_flag", "_resume", "_waiter")

    def __init__(self) -> None:
        self._flag = False
        self._waiter: asyncio.Future[None] | None = None
        self._resume: Resumer | None = None

    def set(self) -> None:
        """Raise the flag and wake the waiter (or resume the one parked)."""
        self._flag = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        elif self._resume is not None:
            resume, self._resume = self._resume, None
            resume.resumed(self)

    def park(self, resume: Resumer) -> bool:
        """Instead of waiting with no timeout: the next ``set`` calls ``resume.resumed(self)``.

        The waiter ends rather than wait (an idle task costs a full garbage collection a
        dozen objects); ``resume`` starts it again. False when the flag is up already: then
        there is no need to wait at all.
        """
        if self._flag:
            return False
        self._resume = resume
        return True

    def unpark(self) -> None:
        """Forget the parked waiter: no ``set`` resumes it any more."""
        self._resume = None

    def clear(self) -> None:
        """Lower the flag."""
        self._flag = False

    def is_set(self) -> bool:
        """Whether the flag is up."""
        return self._flag

    @property
    def waiting(self) -> bool:
        """Whether a task waits on it now."""
        return self._waiter is not None and not self._waiter.done()

    # Like ``asyncio.Event.wait`` with a timeout on the loop's clock, without wait_for's task.
    async def wait(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Return when the flag is raised, or after ``timeout`` seconds of the loop's clock."""
        if self._flag:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        timer = None if timeout is None else loop.call_later(timeout, _wake, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Broadcast:
    """Raises the ``Signal`` of every listener at once (each task waits on its own)."""

    __slots__ = ("_signals",)

    def __init__(self) -> None:
        self._signals: list[Signal] = []

    def listen(self) -> Signal:
        """A new signal that every ``set`` raises."""
        signal = Signal()
        self._signals.append(signal)
        return signal

    def set(self) -> None:
        """Raise every listener's flag."""
        for signal in self._signals:
            signal.set()
