"""Admission (flow control): at most ``limit`` rows wait unsent; callers beyond that wait."""

from __future__ import annotations

import asyncio
import collections

from .._errors import ClientClosedError, QueueFullError

__all__ = ["Admission"]


class Admission:
    """At most ``limit`` rows waiting unsent; callers beyond that wait in line, first come first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        # Made for the first caller who waits: most clients never have one.
        self._waiters: collections.deque[asyncio.Future[None]] | None = None
        self.closed = False

    def try_acquire(self) -> bool:
        """Take one slot if one is free and nobody waits in line for one (no waiting)."""
        if self.closed or self.used >= self.limit or self._waiters:
            return False
        self.used += 1
        return True

    def take(self) -> None:
        """Take one slot even beyond ``limit`` or once closed: for a row the client queues
        itself (a lookup settling a create), which must not wait behind the callers."""
        self.used += 1

    async def acquire(self, wait: bool) -> None:
        """Take one slot, waiting for it unless ``wait`` is false (then ``QueueFullError``)."""
        if self.closed:
            raise ClientClosedError("the client is closed")
        if self.used < self.limit and not self._waiters:
            self.used += 1
            return
        if not wait:
            raise QueueFullError(f"{self.limit} rows already wait to be sent (max_pending)")
        future = asyncio.get_running_loop().create_future()
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = collections.deque()
        waiters.append(future)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(1)  # we were handed a slot but will not use it
            elif future in waiters:
                waiters.remove(future)
            raise

    def release(self, count: int) -> None:
        """Give back ``count`` slots and let waiting callers in."""
        self.used -= count
        while self._waiters and self.used < self.limit:
            future = self._waiters.popleft()
            if not future.done():
                self.used += 1
                future.set_result(None)

    def close(self) -> None:
        """Refuse every waiting and future caller with ``ClientClosedError``."""
        self.closed = True
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_exception(ClientClosedError("the client closed while this call waited"))
