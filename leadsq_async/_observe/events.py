"""Events the client reports to hooks: a window for journals, metrics and tracing.

The engine emits two events per HTTP call, each from one place: ``CallEvent`` just before the
call leaves and ``CallEnded`` once its answer has been acted on (its outcome is read from the
retry policy's action, the one the engine acted on). ``on_call`` gets the first,
``on_event`` both. Nothing here is built unless a hook (or telemetry) asked for it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, Union

import attrs

from .._rules.policy import CloseRoad, Finish, GiveUp, Halve, OneByOne, Pause, QuotaSpent, Retry

if TYPE_CHECKING:
    import asyncio

    from .._api.operations import Operation
    from .._queue.rows import Call
    from .._rules.policy import Action

__all__ = [
    "ANSWERED",
    "CANCELLED",
    "FAILED",
    "RATE_LIMITED",
    "REFUSED_WHOLE",
    "RESEND",
    "SPLIT",
    "CallEnded",
    "CallEvent",
    "CallHook",
    "Event",
    "EventHook",
    "Telemetry",
    "call_ended",
    "call_started",
    "fan_out",
]

logger = logging.getLogger("leadsq_async")

#: What became of a call (``CallEnded.outcome``).
ANSWERED = "answered"  # the service answered every row (some rows may have been refused)
FAILED = "failed"  # one error for every row (unknown outcome, authentication, no such API)
RESEND = "resend"  # a failure safe to retry: the rows go again after a back-off
RATE_LIMITED = "rate-limited"  # refused for a budget: nothing applied, the rows go again
SPLIT = "split"  # refused whole, perhaps for one bad row: the rows go again in halves
REFUSED_WHOLE = "refused-whole"  # refused whole: the rows go again one by one, each alone
CANCELLED = "cancelled"  # the client closed while the call was in flight

_call_ids = itertools.count(1)


def _next_call_id() -> int:
    return next(_call_ids)


@attrs.frozen
class CallEvent:
    """A call is about to be sent: its endpoint and the operations its rows carry.

    ``operations`` holds each caller's operation, in call order (a merged update names every
    caller's); ``attempt`` is 1 for a row's first call and grows with each resend of the call's
    most-retried row; ``rows`` is the rows on the wire (merged callers share one); ``waited``
    the seconds the call's grant took from the limiter. ``call_id`` is the same number in the
    call's ``CallEnded``, unique in the process.
    """

    endpoint: str
    operations: tuple[Operation, ...]
    attempt: int = 1
    rows: int = 0
    waited: float = 0.0
    call_id: int = attrs.field(factory=_next_call_id, eq=False)
    #: Each operation's trace context, captured at submit by the client's telemetry (None for
    #: a caller without one); empty when telemetry is off. For the telemetry integration.
    traces: tuple[object | None, ...] = attrs.field(default=(), repr=False, eq=False)


@attrs.frozen
class CallEnded:
    """A call is over and its answer was acted on.

    ``outcome`` is what became of it: ``"answered"`` (every row has its own result or error;
    ``errors`` counts the rows refused), ``"failed"`` (one error for every row, e.g. an
    unknown outcome, refused keys, or no such API at the URL called),
    ``"resend"`` (a failure safe to retry: the rows go again after a back-off), ``"rate-limited"``
    (refused for ``budget``, ``"general"``, ``"bulk"`` or ``"quota"``: nothing was applied),
    ``"split"`` (refused whole: the rows go again in halves), ``"refused-whole"`` (refused
    whole: the rows go again one by one on their single-lead road) or ``"cancelled"`` (the client
    closed while it was in flight). ``status`` is the HTTP status, the name of the transport
    error that stood in for an answer, or ``"-"``; ``elapsed`` the seconds from leaving to the
    verdict; ``waited``, ``attempt``, ``rows`` and ``call_id`` as in the call's ``CallEvent``.
    """

    endpoint: str
    operations: tuple[Operation, ...]
    outcome: str
    status: int | str
    elapsed: float
    attempt: int = 1
    rows: int = 0
    waited: float = 0.0
    errors: int = 0
    budget: str | None = None
    call_id: int = attrs.field(default=0, eq=False)


#: Every event ``on_event`` receives (more kinds may come: ignore the ones you do not know).
Event = Union[CallEvent, CallEnded]

#: The type of the ``on_call`` hook. It runs in the event loop, just before the request
#: leaves, and must not block; an exception it raises is logged and the call still goes.
CallHook = Callable[[CallEvent], None]

#: The type of the ``on_event`` hook: called with every ``Event``, in the event loop, like
#: ``on_call``; it must not block, and an exception it raises is logged and ignored.
EventHook = Callable[[Event], None]


class Telemetry(Protocol):
    """What the client asks of ``telemetry=`` (``OpenTelemetry`` is the one shipped).

    ``attach`` is called once per client with a function giving its rows pending and in
    flight (safe to call from any thread; None once the client is gone). ``capture`` runs at
    each submit and gives what the row carries to its calls (``CallEvent.traces``), or None;
    ``row_done`` is then the row future's done-callback. ``on_event`` gets every ``Event``.
    """

    def attach(self, depth: Callable[[], tuple[int, int] | None]) -> None:
        """A client will report to this telemetry; ``depth`` reads its queue."""

    def capture(self, op: Operation) -> object | None:
        """What ``op``'s row carries to its calls (the caller's trace context), or None."""

    def row_done(self, future: asyncio.Future[Any]) -> None:
        """The row of a future given a trace by ``capture`` was answered."""

    def on_event(self, event: Event) -> None:
        """An event of a client this telemetry is attached to."""


def fan_out(*hooks: EventHook | None) -> EventHook | None:
    """One hook calling each of ``hooks`` in turn (None when there is none)."""
    present = [hook for hook in hooks if hook is not None]
    if len(present) <= 1:
        return present[0] if present else None

    def each(event: Event) -> None:
        for hook in present:
            try:
                hook(event)
            except Exception:
                logger.exception("an event hook raised; ignored")

    return each


def call_started(call: Call, waited: float) -> CallEvent:
    """The event of ``call`` leaving now."""
    entries = call.entries
    operations: list[Operation] = []
    traces: list[object | None] = []
    for entry in entries:
        if entry.parts is None:
            operations.append(entry.row.op)
            traces.append(getattr(entry.future, "trace", None))
        else:
            for part in entry.parts:
                operations.append(part.row.op)
                traces.append(getattr(part.future, "trace", None))
    attempt = 1 + max((e.attempts for e in entries), default=0)
    has_traces = any(trace is not None for trace in traces)
    return CallEvent(
        call.endpoint.name,
        tuple(operations),
        attempt,
        rows=len(entries),
        waited=waited,
        traces=tuple(traces) if has_traces else (),
    )


def call_ended(
    started: CallEvent, action: Action | None, status: int | str, elapsed: float
) -> CallEnded:
    """The event of the call ``started`` announced ending with ``action``, the retry policy's
    reading of its verdict (None: cancelled)."""
    errors, budget = 0, None
    match action:
        case Finish(outcomes=outcomes):
            outcome = ANSWERED
            errors = sum(isinstance(o, BaseException) for o in outcomes)
        case GiveUp() | CloseRoad():
            outcome, errors = FAILED, started.rows
        case Retry():
            outcome = RESEND
        case Pause(budget=named) | QuotaSpent(budget=named):
            outcome, budget = RATE_LIMITED, named
        case Halve():
            outcome = SPLIT
        case OneByOne():
            outcome = REFUSED_WHOLE
        case None:
            outcome = CANCELLED
    return CallEnded(
        started.endpoint,
        started.operations,
        outcome,
        status,
        elapsed,
        attempt=started.attempt,
        rows=started.rows,
        waited=started.waited,
        errors=errors,
        budget=budget,
        call_id=started.call_id,
    )


def emit(hook: Callable[[Any], None], event: object) -> None:
    """Hand ``event`` to ``hook``; a hook that raises is logged, never lets a call fail."""
    try:
        hook(event)
    except Exception:
        logger.exception("an event hook raised; ignored (the call is sent anyway)")


def announce(call: Call, on_call: CallHook | None, on_event: EventHook | None) -> CallEvent | None:
    """Tell the hooks ``call`` leaves now; give the event (None: no hook wants it)."""
    if on_call is None and on_event is None:
        return None
    event = call_started(call, call.waited)
    for hook in (on_call, on_event):
        if hook is not None:
            emit(hook, event)
    return event
