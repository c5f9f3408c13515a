"""An event loop on virtual time: whenever nothing is ready, its clock jumps to the next timer.

Tests of the engine run on it with the client's clock set to the loop's, so lingers, back-offs,
limiter grants and deadlines of seconds or hours take no real time and always happen in the
same order. Only in-process transports (``httpx2.MockTransport``, the fake's ``transport()``)
work on it: no sockets.

An async test marked ``@pytest.mark.vtime`` runs on it, with its async fixtures (see
``conftest.py``); ``run()`` is for code that cannot be an async test, such as a hypothesis
example.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")


class _Selector(selectors.DefaultSelector):
    """Polls without blocking; a wait the loop asks for becomes a jump of the virtual clock."""

    loop: VirtualTimeLoop

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        events: list[tuple[Any, int]] = super().select(0)
        if events:
            return events
        if timeout is None:
            raise RuntimeError("virtual time: nothing is scheduled and nothing is ready")
        if timeout <= 0:
            if not self.loop._ready:  # type: ignore[attr-defined]
                # Only a timer due "now" runs: let a microsecond pass, as real time would, or a
                # callback that re-arms itself for a moment float rounding calls now (as
                # aiolimiter's does) would run forever.
                self.loop.now += 1e-6
            return events
        # Jump to the next timer exactly (not by ``timeout``): float sums could stop short of it.
        scheduled = self.loop._scheduled  # type: ignore[attr-defined]
        self.loop.now = (
            max(self.loop.now + timeout, scheduled[0].when())
            if scheduled
            else (self.loop.now + timeout)
        )
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` only moves when every task waits for a timer."""

    def __init__(self) -> None:
        selector = _Selector()
        super().__init__(selector)
        selector.loop = self
        self.now = 0.0

    def time(self) -> float:
        """The virtual clock, in seconds since the loop was made."""
        return self.now


def run(main: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run ``main()`` to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
