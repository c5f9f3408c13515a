"""Groups (rows that may share a call), their priority queues, and filling a call from one.

Each group keeps one queue per priority in admission order. Which rows may go now is the
batcher's question (state, back-off, per-lead order); a group answers with the rows it holds:
its candidate for the next call, whether it is ready to leave, and the rows that fill a call.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Set

from .._api.registry import Endpoint
from .rows import BULK, INTERACTIVE, PENDING, Entry

__all__ = ["SCAN_LIMIT", "TICK", "Group"]

#: How far into a group's queue the batcher looks for rows that may go now.
SCAN_LIMIT = 2000
#: Timers may fire up to a millisecond early or late (epoll's resolution): a row due within
#: this many seconds is due now, rather than costing another trip through the event loop.
TICK = 0.001

Eligible = Callable[[Entry], bool]


class Group:
    """Rows that may share a call: one queue per priority, and how many of each still wait."""

    __slots__ = ("endpoint", "queues", "waiting")

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.queues: tuple[collections.deque[Entry], collections.deque[Entry]] = (
            collections.deque(),
            collections.deque(),
        )
        self.waiting = [0, 0]  # entries still PENDING, per priority

    @property
    def total(self) -> int:
        """Rows of this group still waiting unsent."""
        return self.waiting[0] + self.waiting[1]

    def push(self, entry: Entry) -> None:
        """Queue a pending ``entry`` at the back of its priority's queue.

        New rows arrive in admission order; rows coming back from a call do not, and whoever
        puts them back calls ``resort`` once they all are.
        """
        self.queues[entry.priority].append(entry)
        self.waiting[entry.priority] += 1

    def reprioritize(self, entry: Entry, priority: int) -> None:
        """Move a pending ``entry`` to the queue of ``priority``, in admission order."""
        self.queues[entry.priority].remove(entry)
        self.waiting[entry.priority] -= 1
        entry.priority = priority
        queue = self.queues[priority]
        queue.append(entry)
        self.waiting[priority] += 1
        if len(queue) > 1 and queue[-2].admitted > entry.admitted:
            self.resort()

    def left(self, entry: Entry) -> None:
        """A row of this group stopped waiting (it is taken lazily off the queue later)."""
        self.waiting[entry.priority] -= 1

    def resort(self, came_back: Set[Entry] = frozenset()) -> None:
        """Put both queues back in admission order (after rows came back or changed queue).

        Rows that ``came_back`` from a call go before rows admitted at the same time: they
        were taken before those, and a clock that did not move between admissions (a test's
        virtual one) would otherwise send them behind every row admitted with them.
        """

        def key(entry: Entry) -> tuple[float, bool]:
            return (entry.admitted, entry not in came_back)

        self.queues = (
            collections.deque(sorted(self.queues[0], key=key)),
            collections.deque(sorted(self.queues[1], key=key)),
        )

    def first(
        self, eligible: Eligible, now: float, priorities: tuple[int, ...] = (INTERACTIVE, BULK)
    ) -> tuple[Entry | None, float]:
        """The row that would lead the next call (interactive first), or when one may go.

        Only the queues of ``priorities`` are looked at: a caller that knows no bulk row can
        qualify spares the scan of thousands of them.
        """
        retry_at = float("inf")
        for priority in priorities:
            if not self.waiting[priority]:
                continue
            queue = self.queues[priority]
            while queue and queue[0].state is not PENDING:
                queue.popleft()
            for index, entry in enumerate(queue):
                if index >= SCAN_LIMIT:
                    break
                if entry.state is not PENDING:
                    continue
                if entry.not_before > now:
                    retry_at = min(retry_at, entry.not_before)
                elif eligible(entry):
                    return entry, retry_at
        return None, retry_at

    def ready(self, first: Entry, linger: float, now: float, flushing: bool) -> bool:
        """Whether a call led by ``first`` should leave now rather than wait to fill."""
        return (
            flushing
            or first.cohort is not None
            or self.total >= self.endpoint.max_rows
            or first.admitted + linger <= now + TICK
        )

    def fill(self, first: Entry, eligible: Eligible, dead: Callable[[Entry], None]) -> list[Entry]:
        """The rows of the call ``first`` leads: interactive before bulk, up to the call's size.

        Rows split off a refused call travel only with their own half (their cohort). Rows
        every caller has left are handed to ``dead`` (their cancellations have not run yet).
        """
        cohort = first.cohort
        limit = first.cap if cohort is not None else self.endpoint.max_rows
        taken: list[Entry] = []
        for priority in (INTERACTIVE, BULK):
            queue = self.queues[priority]
            skipped: list[Entry] = []
            scanned = 0
            while queue and len(taken) < limit and scanned < SCAN_LIMIT:
                entry = queue.popleft()
                if entry.state is not PENDING:
                    continue
                scanned += 1
                future = entry.future  # ``entry.live`` inline for a row with one caller
                if not (
                    (future is not None and not future.done())
                    if entry.parts is None
                    else entry.live
                ):
                    dead(entry)
                elif entry.cohort is cohort and eligible(entry):
                    taken.append(entry)
                else:
                    skipped.append(entry)
            queue.extendleft(reversed(skipped))
        return taken
