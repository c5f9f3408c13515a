"""Rows waiting to be sent, and how they become calls.

The batcher keeps two queues per group (rows that may share a call), one per priority,
admits rows under ``max_pending`` (backpressure), and turns rows into calls only when the
limiter has granted one, so that while the limit is the bottleneck every call leaves full.
Interactive rows take the grant first and fill the call before bulk rows. Rows that touch
the same lead keep submission order: a row waits until every earlier row on that lead has
ended, and two queued updates of one lead are merged into a single row. A call the service
refused whole is split into halves that travel alone until the bad rows are isolated.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import time
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Any

from ._endpoints import Endpoint, Row, RowOutcome
from ._errors import (
    ClientClosedError,
    DeliveryTimeoutError,
    InFlightTimeoutError,
    LeadSquaredError,
    LimiterUnavailableError,
    QueueFullError,
    ServiceError,
)

if TYPE_CHECKING:
    from ._ops import Result

__all__ = ["Batcher", "Call", "Entry"]

#: How far into a group's queue the batcher looks for rows that may go now.
_SCAN_LIMIT = 2000


class Signal:
    """A flag one task waits on, with a timeout, without the task ``wait_for`` would create."""

    __slots__ = ("_flag", "_waiter")

    def __init__(self) -> None:
        self._flag = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        """Raise the flag and wake the waiter."""
        self._flag = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        """Lower the flag."""
        self._flag = False

    def is_set(self) -> bool:
        """Whether the flag is up."""
        return self._flag

    async def wait(self, timeout: float | None = None) -> None:
        """Return when the flag is raised, or after ``timeout`` seconds."""
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


#: Timers may fire up to a millisecond early or late (epoll's resolution): a row due within
#: this many seconds is due now, rather than costing another trip through the event loop.
_TICK = 0.001


class State(enum.Enum):
    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"


#: Queue indexes: interactive rows, then bulk rows.
INTERACTIVE, BULK = 0, 1


class RowFuture(asyncio.Future["Result"]):
    """The future ``submit()`` gives; cancelling it before its row is sent withdraws the row.

    Overriding ``cancel`` (which a cancelled awaiting task calls) saves a done-callback per row.
    """

    __slots__ = ("_entry",)
    _entry: Entry

    def cancel(self, msg: Any | None = None) -> bool:
        cancelled = super().cancel(msg)
        if cancelled:
            entry: Entry | None = getattr(self, "_entry", None)
            if entry is not None:
                entry.batcher.withdraw(entry, self)
        return cancelled


class Entry:
    """One row and the callers waiting for it (several when updates were merged)."""

    __slots__ = (
        "admitted",
        "attempts",
        "batcher",
        "cap",
        "cohort",
        "deadline",
        "endpoint",
        "futures",
        "last_error",
        "not_before",
        "parts",
        "priority",
        "row",
        "slots",
        "state",
    )

    def __init__(
        self,
        batcher: Batcher,
        row: Row,
        endpoint: Endpoint,
        future: asyncio.Future[Result],
        admitted: float,
        deadline: float,
        priority: int,
    ) -> None:
        self.batcher = batcher
        self.row = row
        self.endpoint = endpoint
        self.futures = [future]
        self.admitted = admitted
        self.deadline = deadline
        self.priority = priority
        self.attempts = 0
        self.not_before = 0.0
        self.slots = 1
        self.state = State.PENDING
        self.last_error: LeadSquaredError | None = None
        self.cohort: object | None = None  # rows split off a refused call travel together
        self.cap = 0
        # Once updates are merged: each caller's own row and deadline, in submission order, so
        # that a caller who leaves takes its fields back out and each keeps its own deadline.
        # None while the row has its only caller (nearly always: rows wait by the hundred
        # thousand, and a list each would cost memory).
        self.parts: list[Part] | None = None

    def callers(self) -> list[tuple[asyncio.Future[Result], float]]:
        """Every caller still waiting for this row, with its own delivery deadline."""
        if self.parts is None:
            future = self.futures[0] if self.futures else None
            return [] if future is None or future.done() else [(future, self.deadline)]
        return [(p.future, p.deadline) for p in self.parts if not p.future.done()]

    def soonest(self) -> float:
        """The earliest deadline of a caller still waiting (``inf`` if none)."""
        return min((deadline for _, deadline in self.callers()), default=float("inf"))

    @property
    def live(self) -> bool:
        """Somebody still waits for this row."""
        return any(not f.done() for f in self.futures)

    def resolve(self, outcome: RowOutcome) -> None:
        """Hand every waiting caller ``outcome``."""
        for future in self.futures:
            if not future.done():
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


class Part:
    """One caller's own share of a merged row: its future, its row, its deadline."""

    __slots__ = ("deadline", "future", "row")

    def __init__(self, future: asyncio.Future[Result], row: Row, deadline: float) -> None:
        self.future = future
        self.row = row
        self.deadline = deadline


class Call:
    """Rows taken together for one HTTP call."""

    __slots__ = ("endpoint", "entries", "started")

    def __init__(self, endpoint: Endpoint, entries: list[Entry]) -> None:
        self.endpoint = endpoint
        self.entries = entries
        self.started = False  # set by the task that sends it, at its first step

    @property
    def rows(self) -> list[Row]:
        """The rows in call order."""
        return [e.row for e in self.entries]


class _Group:
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
        return self.waiting[0] + self.waiting[1]


class _Admission:
    """At most ``limit`` rows waiting unsent; callers beyond that wait in line."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.closed = False

    async def acquire(self, wait: bool) -> None:
        if self.closed:
            raise ClientClosedError("the client is closed")
        if self.used < self.limit and not self._waiters:
            self.used += 1
            return
        if not wait:
            raise QueueFullError(f"{self.limit} rows already wait to be sent (max_pending)")
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(1)  # we were handed a slot but will not use it
            elif future in self._waiters:
                self._waiters.remove(future)
            raise

    def release(self, count: int) -> None:
        self.used -= count
        while self._waiters and self.used < self.limit:
            future = self._waiters.popleft()
            if not future.done():
                self.used += 1
                future.set_result(None)

    def close(self) -> None:
        self.closed = True
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_exception(ClientClosedError("the client closed while this call waited"))


class Batcher:
    """Groups rows, admits them, and hands out full calls at grant time."""

    def __init__(
        self,
        *,
        linger: float,
        max_pending: int,
        max_retries: int,
        delivery_timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.linger = linger
        self.max_retries = max_retries
        self.delivery_timeout = delivery_timeout
        self._clock = clock
        self._admission = _Admission(max_pending)
        self._groups: dict[Hashable, _Group] = {}
        # Per lead, the rows not yet ended, oldest first
        # (the row itself while it is the only one, which it nearly always is: rows can wait by
        # the hundred thousand, and a list per lead would cost 64 bytes each).
        self._leads: dict[Hashable, Entry | list[Entry]] = {}
        self._sending: set[Entry] = set()
        self.pending = 0  # rows waiting unsent
        self.flushing = False
        self.changed = Signal()  # set when a call may have become possible
        self.idle = asyncio.Event()  # set when no row is pending or in flight
        self.idle.set()
        self.deadline_changed = Signal()
        self.limiter_error: LimiterUnavailableError | None = None
        self._ended = [0, 0, 0]  # rows that ended with a result, an error, abandoned

    @property
    def max_pending(self) -> int:
        """At most this many rows wait unsent."""
        return self._admission.limit

    def ended(self) -> tuple[int, int, int]:
        """Rows ended so far: with a result, with an error, abandoned at close."""
        return (self._ended[0], self._ended[1], self._ended[2])

    # -- admission -------------------------------------------------------------------------

    async def admit(self, wait: bool) -> None:
        """Wait for room for one more row (``QueueFullError`` when ``wait`` is false)."""
        await self._admission.acquire(wait)

    def release_admission(self) -> None:
        """Give back a slot taken by ``admit`` that will not be used."""
        self._admission.release(1)

    def add(
        self,
        row: Row,
        endpoint: Endpoint,
        future: asyncio.Future[Result],
        priority: int = INTERACTIVE,
    ) -> None:
        """Queue an admitted row, merging it into a queued update of the same lead."""
        now = self._clock()
        lead_queue = self._leads.get(row.identities[0]) if row.identities else None
        if lead_queue is not None:
            last = lead_queue[-1] if isinstance(lead_queue, list) else lead_queue
            merged = (
                endpoint.merge(last.row, row)
                if last.state is State.PENDING
                and last.endpoint is endpoint
                and last.cohort is None
                and last.row.identities == row.identities
                else None
            )
            if merged is not None:
                if last.parts is None:
                    last.parts = [Part(last.futures[0], last.row, last.deadline)]
                last.parts.append(Part(future, row, now + self.delivery_timeout))
                last.row = merged
                last.deadline = now + self.delivery_timeout
                last.futures.append(future)
                last.slots += 1
                if priority < last.priority:  # an interactive caller now waits for it
                    self._move(last, priority)
                if isinstance(future, RowFuture):
                    future._entry = last
                self.changed.set()
                return
        entry = Entry(self, row, endpoint, future, now, now + self.delivery_timeout, priority)
        group = self._groups.get(row.group)
        if group is None:
            group = self._groups[row.group] = _Group(endpoint)
        group.queues[priority].append(entry)
        group.waiting[priority] += 1
        for identity in row.identities:
            queue = self._leads.get(identity)
            if queue is None:
                self._leads[identity] = entry
            elif isinstance(queue, list):
                queue.append(entry)
            else:
                self._leads[identity] = [queue, entry]
        self.pending += 1
        self.idle.clear()
        if isinstance(future, RowFuture):
            future._entry = entry
        total = group.total
        if total >= endpoint.max_rows or total == 1 or priority == INTERACTIVE or self.flushing:
            self.changed.set()
        if self.pending == 1:
            self.deadline_changed.set()

    def _move(self, entry: Entry, priority: int) -> None:
        group = self._groups[entry.row.group]
        group.queues[entry.priority].remove(entry)
        group.waiting[entry.priority] -= 1
        entry.priority = priority
        queue = group.queues[priority]
        queue.append(entry)
        if len(queue) > 1 and queue[-2].admitted > entry.admitted:
            group.queues = self._sorted_queues(group)
        group.waiting[priority] += 1

    @staticmethod
    def _sorted_queues(
        group: _Group,
    ) -> tuple[collections.deque[Entry], collections.deque[Entry]]:
        return (
            collections.deque(sorted(group.queues[0], key=lambda e: e.admitted)),
            collections.deque(sorted(group.queues[1], key=lambda e: e.admitted)),
        )

    def withdraw(self, entry: Entry, future: asyncio.Future[Any]) -> None:
        """A caller gave up (cancelled, or its deadline passed) before its row was sent.

        Its fields come back out of a merged row (the others keep theirs, as before the
        merge); the row itself is withdrawn when nobody else waits for it.
        """
        if entry.state is not State.PENDING or future not in entry.futures:
            return
        entry.futures.remove(future)
        entry.slots -= 1
        self._admission.release(1)
        if not entry.futures:
            self._groups[entry.row.group].waiting[entry.priority] -= 1
            self._end(entry)
            return
        if entry.parts is not None:
            entry.parts = [p for p in entry.parts if p.future is not future]
            row = entry.parts[0].row
            for part in entry.parts[1:]:
                folded = entry.endpoint.merge(row, part.row)
                assert folded is not None  # these rows merged once: merging is a pure function
                row = folded
            entry.row = row
            entry.deadline = max(p.deadline for p in entry.parts)

    # -- ordering ------------------------------------------------------------------------

    def _eligible(self, entry: Entry, now: float) -> bool:
        if entry.state is not State.PENDING or entry.not_before > now:
            return False
        leads = self._leads
        for identity in entry.row.identities:
            head = leads[identity]
            if (head[0] if isinstance(head, list) else head) is not entry:
                return False
        return True

    def _first_eligible(
        self, queue: collections.deque[Entry], now: float
    ) -> tuple[Entry | None, float]:
        """The oldest row of ``queue`` that may go now, and when a backed-off row may go."""
        while queue and queue[0].state is not State.PENDING:
            queue.popleft()
        retry_at = float("inf")
        for index, entry in enumerate(queue):
            if index >= _SCAN_LIMIT:
                break
            if self._eligible(entry, now):
                return entry, retry_at
            if entry.state is State.PENDING and entry.not_before > now:
                retry_at = min(retry_at, entry.not_before)
        return None, retry_at

    def _candidate(self, group: _Group, now: float) -> tuple[Entry | None, float]:
        """The row that would lead ``group``'s next call: interactive first."""
        retry_at = float("inf")
        for priority in (INTERACTIVE, BULK):
            if group.waiting[priority]:
                first, at = self._first_eligible(group.queues[priority], now)
                if first is not None:
                    return first, retry_at
                retry_at = min(retry_at, at)
        return None, retry_at

    # -- making calls ----------------------------------------------------------------------

    def _ready(self, group: _Group, first: Entry, now: float) -> bool:
        return (
            self.flushing
            or first.cohort is not None
            or group.total >= group.endpoint.max_rows
            or first.admitted + self.linger <= now + _TICK
        )

    def ready_at(self) -> tuple[float, Endpoint | None]:
        """When a call should next leave (``inf`` if never), and the endpoint it would use."""
        now = self._clock()
        best: tuple[float, int, float] = (float("inf"), BULK, float("inf"))
        best_endpoint = None
        for key, group in list(self._groups.items()):
            if group.total == 0:
                del self._groups[key]
                continue
            first, retry_at = self._candidate(group, now)
            if first is None:
                rank = (retry_at, BULK, retry_at)
            elif self._ready(group, first, now):
                rank = (now, first.priority, first.admitted)
            else:
                rank = (first.admitted + self.linger, first.priority, first.admitted)
            if rank < best:
                best, best_endpoint = rank, group.endpoint
        return best[0], best_endpoint

    def take(self, bulk_allowed: bool = True) -> Call | None:
        """Rows for one call, taken now that a grant has arrived.

        Interactive rows come first: the group whose oldest interactive row is oldest gets the
        grant. Otherwise the group holding the oldest row that may go gets it (a ready group
        first; any group rather than waste the grant). The call is filled from that group up
        to its size, interactive rows before bulk rows.
        """
        now = self._clock()
        chosen: tuple[int, bool, float] | None = None
        chosen_group: _Group | None = None
        for group in self._groups.values():
            if group.total == 0 or (group.endpoint.bulk and not bulk_allowed):
                continue
            first, _ = self._candidate(group, now)
            if first is None:
                continue
            waits = first.priority == BULK and not self._ready(group, first, now)
            rank = (first.priority, waits, first.admitted)
            if chosen is None or rank < chosen:
                chosen, chosen_group = rank, group
        if chosen_group is None:
            return None
        return self._fill(chosen_group, now)

    def _fill(self, group: _Group, now: float) -> Call:
        endpoint = group.endpoint
        first, _ = self._candidate(group, now)
        cohort = first.cohort if first is not None else None
        limit = first.cap if first is not None and cohort is not None else endpoint.max_rows
        taken: list[Entry] = []
        for priority in (INTERACTIVE, BULK):
            queue = group.queues[priority]
            skipped: list[Entry] = []
            scanned = 0
            while queue and len(taken) < limit and scanned < _SCAN_LIMIT:
                entry = queue.popleft()
                if entry.state is not State.PENDING:
                    continue
                scanned += 1
                if not entry.live:  # every caller cancelled; their callbacks have not run yet
                    group.waiting[priority] -= 1
                    self._end(entry)
                elif entry.cohort is cohort and self._eligible(entry, now):
                    taken.append(entry)
                    group.waiting[priority] -= 1
                else:
                    skipped.append(entry)
            queue.extendleft(reversed(skipped))
        freed = 0
        sending = self._sending
        for entry in taken:
            entry.state = State.SENDING
            freed += entry.slots
            entry.slots = 0
            sending.add(entry)
        self.pending -= len(taken)
        if freed:
            self._admission.release(freed)
        return Call(endpoint, taken)

    # -- ending rows -----------------------------------------------------------------------

    def _end(self, entry: Entry) -> None:
        """Take ``entry`` out of every structure (its futures are already settled)."""
        was = entry.state
        entry.state = State.DONE
        if was is State.PENDING:
            self.pending -= 1
        else:
            self._sending.discard(entry)
        for identity in entry.row.identities:
            queue = self._leads.get(identity)
            if queue is entry:
                del self._leads[identity]
            elif isinstance(queue, list):
                queue.remove(entry)
                if len(queue) == 1:
                    self._leads[identity] = queue[0]
        if entry.slots:
            self._admission.release(entry.slots)
            entry.slots = 0
        self.changed.set()
        if not self.pending and not self._sending:
            self.idle.set()

    def finish(self, entry: Entry, outcome: RowOutcome) -> None:
        """The row ended with ``outcome``."""
        if entry.state is State.DONE:
            return
        if not isinstance(outcome, BaseException):
            self._ended[0] += 1
        else:
            self._ended[2 if isinstance(outcome, ClientClosedError) else 1] += 1
        entry.resolve(outcome)
        self._end(entry)

    def fail_pending(self, entry: Entry, error: LeadSquaredError) -> None:
        """End a queued row with ``error``."""
        if entry.state is State.PENDING:
            self._groups[entry.row.group].waiting[entry.priority] -= 1
        self.finish(entry, error)

    def retry(
        self, entries: list[Entry], delay: float, cause: LeadSquaredError, *, counted: bool
    ) -> None:
        """Put rows of a failed call back in line, after ``delay`` seconds.

        ``counted`` retries spend one of the row's ``max_retries``; rate-limit rejections do not.
        """
        now = self._clock()
        back: list[Entry] = []
        for entry in entries:
            if entry.state is not State.SENDING:
                continue
            entry.last_error = cause
            if not entry.live:
                self.finish(entry, cause)
                continue
            if counted:
                entry.attempts += 1
                if entry.attempts > self.max_retries:
                    error = ServiceError(f"gave up after {entry.attempts} attempts: {cause}")
                    error.__cause__ = cause
                    self.finish(entry, error)
                    continue
            entry.not_before = now + delay
            back.append(entry)
        self._requeue(back)

    def split(self, entries: list[Entry], cause: LeadSquaredError) -> None:
        """Send the rows of a call the service refused whole again, in two halves.

        Each half travels alone (no other row joins it) so that, halving again on each refusal,
        the bad rows end up alone and the good ones go through.
        """
        live = [e for e in entries if e.state is State.SENDING]
        middle = (len(live) + 1) // 2
        for half in (live[:middle], live[middle:]):
            cohort = object()
            for entry in half:
                entry.cohort = cohort
                entry.cap = len(half)
                entry.not_before = 0.0
                entry.last_error = cause
        self._requeue(live)

    def _requeue(self, back: list[Entry]) -> None:
        if not back:
            return
        touched: dict[Hashable, _Group] = {}
        for entry in back:
            entry.state = State.PENDING
            self._sending.discard(entry)
            group = self._groups.get(entry.row.group)
            if group is None:
                group = self._groups[entry.row.group] = _Group(entry.endpoint)
            group.queues[entry.priority].append(entry)
            group.waiting[entry.priority] += 1
            touched[entry.row.group] = group
        self.pending += len(back)
        for group in touched.values():
            group.queues = self._sorted_queues(group)
        self.changed.set()
        self.deadline_changed.set()

    # -- deadlines -------------------------------------------------------------------------

    def next_deadline(self) -> float:
        """The earliest deadline of any caller still owed an answer."""
        soonest = float("inf")
        horizon = self._clock() - self.delivery_timeout
        for group in self._groups.values():
            for queue in group.queues:
                # Rows wait in admission order, so their first callers' deadlines are in order;
                # a merged row whose first caller has left may still hold later callers.
                for entry in queue:
                    if entry.state is State.PENDING:
                        soonest = min(soonest, entry.soonest())
                        if entry.admitted > horizon:
                            break
        for entry in self._sending:
            soonest = min(soonest, entry.soonest())
        return soonest

    def expire(self) -> None:
        """Answer every caller whose delivery deadline has passed.

        A caller of a queued row gets ``DeliveryTimeoutError`` (``LimiterUnavailableError``
        while the limiter cannot be reached) and its row, or its share of a merged row, is
        withdrawn: nothing of it will be sent. A caller of a row whose call is in flight is
        answered now with ``InFlightTimeoutError`` (the row may be applied); the row keeps
        its place until the call ends. Each caller of a merged row has its own deadline.
        """
        now = self._clock()
        horizon = now - self.delivery_timeout
        for group in list(self._groups.values()):
            for priority, queue in enumerate(group.queues):
                while queue and queue[0].state is not State.PENDING:
                    queue.popleft()
                due: list[Entry] = []
                for entry in queue:
                    if entry.admitted > horizon:
                        break  # first callers' deadlines are in admission order
                    if entry.state is State.PENDING:
                        due.append(entry)
                for entry in due:
                    if entry.parts is None:
                        if entry.deadline <= now:
                            group.waiting[priority] -= 1
                            self.finish(entry, self._timeout_error(entry))
                        continue
                    for future, deadline in entry.callers():
                        if deadline <= now and entry.state is State.PENDING:
                            future.set_exception(self._timeout_error(entry))
                            self._ended[1] += 1
                            self.withdraw(entry, future)
        for entry in list(self._sending):
            for future, deadline in entry.callers():
                if deadline <= now:
                    future.set_exception(
                        InFlightTimeoutError(
                            "the delivery deadline passed while the call was in flight; "
                            + (
                                "the row may have been applied (safe to resend)"
                                if entry.endpoint.idempotent
                                else "a create is not resent, it may have been applied"
                            ),
                            safe_to_resend=entry.endpoint.idempotent,
                        )
                    )

    def _timeout_error(self, entry: Entry) -> DeliveryTimeoutError | LimiterUnavailableError:
        if self.limiter_error is not None:
            unavailable = LimiterUnavailableError(
                f"the limiter could not be reached before the delivery deadline: "
                f"{self.limiter_error}"
            )
            unavailable.__cause__ = self.limiter_error
            return unavailable
        reason = f"; last error: {entry.last_error}" if entry.last_error else ""
        error = DeliveryTimeoutError(
            f"not delivered within delivery_timeout={self.delivery_timeout:g}s{reason}"
        )
        error.__cause__ = entry.last_error
        return error

    # -- closing ---------------------------------------------------------------------------

    def close_admission(self) -> None:
        """Refuse new rows; callers waiting for room get ``ClientClosedError``."""
        self._admission.close()
        self.flushing = True
        self.changed.set()

    def abandon(self, error_for: Callable[[Entry], LeadSquaredError]) -> int:
        """Fail every queued row; give how many were failed."""
        count = 0
        for group in list(self._groups.values()):
            for queue in group.queues:
                for entry in list(queue):
                    if entry.state is State.PENDING:
                        count += 1
                        self.fail_pending(entry, error_for(entry))
        return count

    def sending(self) -> Iterator[Entry]:
        """Rows whose call is in flight."""
        return iter(list(self._sending))

    @property
    def in_flight(self) -> int:
        """Rows whose call is in flight."""
        return len(self._sending)
