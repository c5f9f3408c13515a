"""A row's life: the entry that carries it, the callers waiting for it, and its states.

The state machine, in one place::

    PENDING ──take──▶ SENDING ──answered / failed──▶ DONE
       ▲                 │
       └──resend, split──┘
    PENDING ──withdrawn, expired, abandoned──▶ DONE

``move`` is the only way a state changes, and it refuses any other transition.
"""

from __future__ import annotations

import asyncio
import enum
from typing import TYPE_CHECKING, Any, Protocol

from .._api.registry import Endpoint, Row, RowOutcome
from .._errors import LeadSquaredError

if TYPE_CHECKING:
    from .._api.operations import Operation, Result

__all__ = [
    "BULK",
    "DONE",
    "INTERACTIVE",
    "PENDING",
    "SENDING",
    "Alone",
    "Call",
    "Entry",
    "Part",
    "RowFuture",
    "State",
    "move",
]

#: Queue indexes: interactive rows, then bulk rows.
INTERACTIVE, BULK = 0, 1


class Alone:
    """The cohort of the rows of one call refused whole that go again one by one, each alone
    on its single-lead road."""

    __slots__ = ()


class State(enum.Enum):
    """Where a row is in its life."""

    PENDING = "pending"  # queued, waiting for a grant (and for earlier rows of its lead)
    SENDING = "sending"  # in a call that is in flight
    DONE = "done"  # every caller was answered; the row is out of every structure

    # Members are singletons: hash them by identity, in C, not by name in Python (Enum's own
    # ``__hash__``), as every row's every move looks its state up.
    __hash__ = object.__hash__


#: The states by plain module names: reading ``State.PENDING`` off an Enum class is a slow
#: lookup (~0.1 µs on Python 3.11), and every row's every move reads a few.
PENDING, SENDING, DONE = State.PENDING, State.SENDING, State.DONE

_LEGAL: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.SENDING, State.DONE}),
    State.SENDING: frozenset({State.PENDING, State.DONE}),
    State.DONE: frozenset(),
}


def move(entry: Entry, to: State) -> State:
    """Move ``entry`` to state ``to``; give the state it left. Illegal moves are bugs."""
    was = entry.state
    if to not in _LEGAL[was]:
        raise AssertionError(f"illegal row transition {was.name} -> {to.name}")
    entry.state = to
    return was


class Owner(Protocol):
    """What a row's future needs from whoever keeps the row: a way to withdraw a caller."""

    def withdraw(self, entry: Entry, future: asyncio.Future[Any]) -> None:
        """The caller of ``future`` gave up on ``entry``."""


class RowFuture(asyncio.Future["Result"]):
    """The future ``submit()`` gives; cancelling it before its row is sent withdraws the row.

    Overriding ``cancel`` (which a cancelled awaiting task calls) saves a done-callback per row.
    """

    __slots__ = ("_entry", "trace")
    _entry: Entry | None
    #: What telemetry captured at submit (the caller's trace context); unset when it is off.
    trace: object

    def cancel(self, msg: Any | None = None) -> bool:
        cancelled = super().cancel(msg)
        if cancelled:
            entry: Entry | None = getattr(self, "_entry", None)
            if entry is not None:
                entry.owner.withdraw(entry, self)
        return cancelled


class Part:
    """One caller's own share of a merged row: its future, its row, its deadline."""

    __slots__ = ("deadline", "future", "row")

    def __init__(self, future: asyncio.Future[Result], row: Row, deadline: float) -> None:
        self.future = future
        self.row = row
        self.deadline = deadline


class Entry:
    """One row and the callers waiting for it (several when updates were merged)."""

    __slots__ = (
        "admitted",
        "attempts",
        "cap",
        "cohort",
        "deadline",
        "endpoint",
        "future",
        "last_error",
        "not_before",
        "owner",
        "parts",
        "priority",
        "row",
        "settles",
        "slots",
        "state",
    )

    def __init__(
        self,
        owner: Owner,
        row: Row,
        endpoint: Endpoint,
        future: asyncio.Future[Result],
        admitted: float,
        deadline: float,
        priority: int,
    ) -> None:
        self.owner = owner
        self.row = row
        self.endpoint = endpoint
        # The first caller still waiting; with ``parts`` (merged updates) every caller is there.
        self.future: asyncio.Future[Result] | None = future
        self.admitted = admitted
        self.deadline = deadline
        self.priority = priority
        self.attempts = 0
        self.not_before = 0.0
        self.slots = 1  # admission slots this row holds while it waits unsent
        self.state = PENDING
        self.last_error: LeadSquaredError | None = None
        self.cohort: object | None = None  # rows split off a refused call travel together
        self.cap = 0  # with a cohort: the most rows its calls may carry
        # On a lookup the client queued to settle a create: that create, which waits for
        # the lookup's answer (the lookup goes whenever the create could).
        self.settles: Entry | None = None
        # Once updates are merged: each caller's own row and deadline, in submission order, so
        # that a caller who leaves takes its fields back out and each keeps its own deadline.
        # None while the row has its only caller (nearly always: rows wait by the hundred
        # thousand, and a list each would cost memory).
        self.parts: list[Part] | None = None
        if isinstance(future, RowFuture):
            future._entry = self

    @property
    def futures(self) -> tuple[asyncio.Future[Result], ...]:
        """Every caller's future, in submission order."""
        if self.parts is not None:
            return tuple(p.future for p in self.parts)
        return () if self.future is None else (self.future,)

    @property
    def live(self) -> bool:
        """Somebody still waits for this row."""
        if self.parts is None:
            return self.future is not None and not self.future.done()
        return any(not p.future.done() for p in self.parts)

    def callers(self) -> list[tuple[asyncio.Future[Result], float]]:
        """Every caller still waiting for this row, with its own delivery deadline."""
        if self.parts is None:
            future = self.future
            return [] if future is None or future.done() else [(future, self.deadline)]
        return [(p.future, p.deadline) for p in self.parts if not p.future.done()]

    def soonest(self) -> float:
        """The earliest deadline of a caller still waiting (``inf`` if none)."""
        if self.parts is None:  # one caller (nearly always): no list to build
            future = self.future
            return self.deadline if future is not None and not future.done() else float("inf")
        return min((deadline for _, deadline in self.callers()), default=float("inf"))

    def operations(self) -> list[Operation]:
        """The operations this row carries, one per caller."""
        if self.parts is None:
            return [self.row.op]
        return [p.row.op for p in self.parts]

    def join(self, future: asyncio.Future[Result], row: Row, merged: Row, deadline: float) -> None:
        """Add a caller whose ``row`` was merged into this one, giving ``merged``."""
        if self.parts is None:
            assert self.future is not None  # a row nobody waits for is never merged into
            self.parts = [Part(self.future, self.row, self.deadline)]
        self.parts.append(Part(future, row, deadline))
        self.row = merged
        self.deadline = deadline
        self.slots += 1
        if isinstance(future, RowFuture):
            future._entry = self

    def leave(self, future: asyncio.Future[Any]) -> None:
        """Take the caller of ``future`` out; rebuild a merged row from the callers left."""
        self.slots -= 1
        if self.parts is None:
            self.future = None
            return
        self.parts = [p for p in self.parts if p.future is not future]
        if not self.parts:
            self.future = None
            return
        self.future = self.parts[0].future
        row = self.parts[0].row
        for part in self.parts[1:]:
            folded = self.endpoint.merge(row, part.row)
            assert folded is not None  # these rows merged once: merging is a pure function
            row = folded
        self.row = row
        self.deadline = max(p.deadline for p in self.parts)

    def forget_callers(self) -> None:
        """The row ended: drop the links between it and its futures.

        Each future points back at its row (to withdraw it on cancel); left in place, the pair
        is a reference cycle per row that only the cyclic garbage collector frees, and it then
        runs all the time.
        """
        for future in self.futures:
            if isinstance(future, RowFuture):
                future._entry = None
        self.future = None
        self.parts = None

    def resolve(self, outcome: RowOutcome) -> None:
        """Hand every waiting caller ``outcome``."""
        for future in self.futures:
            if not future.done():
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


class Call:
    """Rows taken together for one HTTP call."""

    __slots__ = ("endpoint", "entries", "probe", "started", "waited")

    def __init__(self, endpoint: Endpoint, entries: list[Entry]) -> None:
        self.endpoint = endpoint
        self.entries = entries
        self.started = False  # set by the task that sends it, at its first step
        self.waited = 0.0  # seconds its grant took from the limiter
        self.probe = False  # sent to find out whether an unreachable service is back

    @property
    def rows(self) -> list[Row]:
        """The rows in call order."""
        return [e.row for e in self.entries]
