"""OpenTelemetry for the client: a span per HTTP call, row spans linked to it, and metrics.

``OpenTelemetry`` subscribes to the client's events (``CallEvent``, ``CallEnded``) and nothing
else: the engine does not know it exists. It is imported only when ``lsq.OpenTelemetry`` is
asked for, so a client without telemetry never imports opentelemetry (the ``otel`` extra).

- **Call spans.** Each HTTP call is a root span of kind CLIENT, ``LeadSquared <endpoint>``,
  from the moment it leaves to its verdict: endpoint, rows, operations, attempt, seconds its
  grant waited for the limiter, HTTP status (or ``error.type``), outcome. It links to the
  current span of each caller who had one.
- **Row spans.** A caller who has a current span when it submits gets a child span of it,
  ``LeadSquared <Operation>``, from submit to answer, linked to every call span that carried
  the row (several when it was resent). At submit only a reference to the caller's context
  and a timestamp are kept, in the row future's ``trace`` slot (about 100 bytes a row with a
  span, nothing without); the span itself is made when the row is answered.
- **Metrics.** Counters of calls, rows sent, rate-limit rejections (by budget) and resends; a
  histogram of each call's limiter wait; an observable gauge of rows pending and in flight.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable
from importlib.metadata import version as _version
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ModuleNotFoundError(
        f"OpenTelemetry needs the opentelemetry-api package ({exc}): "
        "pip install 'leadsq-async[otel]'",
        name="opentelemetry",
    ) from exc

from .events import ANSWERED, RATE_LIMITED, RESEND, CallEnded, CallEvent, Event

if TYPE_CHECKING:
    import asyncio

    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, SpanContext, TracerProvider

    from .._api.operations import Operation

__all__ = ["OpenTelemetry"]

#: The instrumentation scope of every span and instrument.
SCOPE = "leadsq_async"
#: The instrumentation scope's version: the installed distribution's.
VERSION = _version("leadsq-async")

ENDPOINT = "leadsquared.endpoint"
OUTCOME = "leadsquared.outcome"
BUDGET = "leadsquared.budget"
STATE = "leadsquared.queue.state"
#: Limiter waits run from nothing (the budget is free) to a bulk budget's period and beyond.
WAIT_BUCKETS = (0.0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

#: Call spans start from an empty context: a call belongs to no one caller, and the engine's
#: tasks inherit whatever context the first caller had.
_ROOT = otel_context.Context()


class _RowTrace:
    """What a row carries from its caller to its calls: kept while the row waits."""

    __slots__ = ("calls", "context", "op", "start")

    def __init__(self, context: otel_context.Context, op: Operation, start: int) -> None:
        self.context = context  # the caller's: its current span is the row span's parent
        self.op = op
        self.start = start  # time.time_ns() at submit
        self.calls: list[SpanContext] | None = None  # the call spans that carried the row


class OpenTelemetry:
    """Spans and metrics for a client through the OpenTelemetry API (the ``otel`` extra).

    Pass it as ``LeadSquaredClient(..., telemetry=lsq.OpenTelemetry())``; one instance may
    serve every client of a process. ``tracer_provider`` and ``meter_provider`` default to the
    global ones (set by your SDK setup); ``row_spans=False`` leaves out the per-row spans (and
    the per-row cost at submit). The library only uses the API: without an SDK configured,
    every span and instrument is a no-op.
    """

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        row_spans: bool = True,
    ) -> None:
        self._tracer = trace.get_tracer(SCOPE, VERSION, tracer_provider)
        provider = meter_provider or metrics.get_meter_provider()
        meter = provider.get_meter(SCOPE, VERSION)
        self._row_spans = row_spans
        self._spans: dict[int, Span] = {}  # call id → the span of a call in flight
        self._calls = meter.create_counter(
            "leadsquared.client.calls", unit="{call}", description="HTTP calls made, by outcome"
        )
        self._rows = meter.create_counter(
            "leadsquared.client.rows",
            unit="{row}",
            description="Rows sent in calls (a resent row counts again), by outcome",
        )
        self._rejections = meter.create_counter(
            "leadsquared.client.rejections",
            unit="{call}",
            description="Calls the service refused for a budget (general, bulk or quota)",
        )
        self._retries = meter.create_counter(
            "leadsquared.client.retries",
            unit="{call}",
            description="Calls whose rows are sent again after a failure safe to retry",
        )
        self._wait = meter.create_histogram(
            "leadsquared.client.limiter.wait",
            unit="s",
            description="Seconds each call's grant took from the limiter",
            explicit_bucket_boundaries_advisory=WAIT_BUCKETS,
        )
        self._queues = _queues_for(provider, meter)

    def __repr__(self) -> str:
        return f"<OpenTelemetry row_spans={self._row_spans} calls_in_flight={len(self._spans)}>"

    # -- what the client asks of telemetry -------------------------------------------------------

    def attach(self, depth: Callable[[], tuple[int, int] | None]) -> None:
        """A client reports to this telemetry; ``depth`` reads its queue (None once it is gone)."""
        self._queues.add(depth)

    def capture(self, op: Operation) -> _RowTrace | None:
        """At submit: the caller's context when it has a current span, else None (no cost)."""
        if not self._row_spans:
            return None
        context = otel_context.get_current()
        if not trace.get_current_span(context).get_span_context().is_valid:
            return None
        return _RowTrace(context, op, time.time_ns())

    def row_done(self, future: asyncio.Future[Any]) -> None:
        """The row was answered: its span, a child of the caller's, linked to its calls."""
        row = getattr(future, "trace", None)
        if not isinstance(row, _RowTrace):
            return
        calls = row.calls or []
        name = type(row.op).__name__
        span = self._tracer.start_span(
            f"LeadSquared {name}",
            context=row.context,
            kind=SpanKind.INTERNAL,
            attributes={"leadsquared.operation": name, "leadsquared.calls": len(calls)},
            links=[Link(c, {"leadsquared.attempt": n}) for n, c in enumerate(calls, 1)],
            start_time=row.start,
        )
        if future.cancelled():
            span.set_attribute(OUTCOME, "cancelled")
        else:
            # This marks the exception retrieved: a dropped future of a row with a span no
            # longer logs "exception was never retrieved".
            error = future.exception()
            span.set_attribute(OUTCOME, "error" if error is not None else "ok")
            if error is not None:
                kind = type(error).__name__
                span.set_attribute("error.type", kind)
                exception_type = getattr(error, "exception_type", None)
                if isinstance(exception_type, str):
                    span.set_attribute("leadsquared.exception_type", exception_type)
                span.set_status(Status(StatusCode.ERROR, kind))
        span.end()

    def on_event(self, event: Event) -> None:
        """Start a call's span when it leaves, end it and count it when it ends."""
        if isinstance(event, CallEvent):
            self._started(event)
        elif isinstance(event, CallEnded):
            self._ended(event)

    # -- calls -------------------------------------------------------------------------------------

    def _started(self, event: CallEvent) -> None:
        self._wait.record(event.waited, {ENDPOINT: event.endpoint})
        rows = [t for t in event.traces if isinstance(t, _RowTrace)]
        links: list[Link] = []
        seen: set[int] = set()
        for row in rows:
            caller = trace.get_current_span(row.context).get_span_context()
            if caller.span_id not in seen:
                seen.add(caller.span_id)
                links.append(Link(caller))
        span = self._tracer.start_span(
            f"LeadSquared {event.endpoint}",
            context=_ROOT,
            kind=SpanKind.CLIENT,
            attributes={
                ENDPOINT: event.endpoint,
                "http.request.method": "POST",
                "leadsquared.rows": event.rows,
                "leadsquared.operations": len(event.operations),
                "leadsquared.attempt": event.attempt,
                "leadsquared.limiter.wait": event.waited,
                "leadsquared.call_id": event.call_id,
            },
            links=links,
        )
        self._spans[event.call_id] = span
        context = span.get_span_context()
        for row in rows:
            if row.calls is None:
                row.calls = [context]
            else:
                row.calls.append(context)

    def _ended(self, event: CallEnded) -> None:
        labels = {ENDPOINT: event.endpoint, OUTCOME: event.outcome}
        self._calls.add(1, labels)
        self._rows.add(event.rows, labels)
        if event.outcome == RATE_LIMITED:
            self._rejections.add(1, {ENDPOINT: event.endpoint, BUDGET: event.budget or "unknown"})
        elif event.outcome == RESEND:
            self._retries.add(1, {ENDPOINT: event.endpoint})
        span = self._spans.pop(event.call_id, None)
        if span is None:
            return
        span.set_attribute(OUTCOME, event.outcome)
        span.set_attribute("leadsquared.rows.failed", event.errors)
        if isinstance(event.status, int):
            span.set_attribute("http.response.status_code", event.status)
        elif event.status != "-":
            span.set_attribute("error.type", event.status)
        if event.budget is not None:
            span.set_attribute(BUDGET, event.budget)
        if event.outcome != ANSWERED:
            span.set_status(Status(StatusCode.ERROR, event.outcome))
        span.end()


class _Queues:
    """The queue-depth gauge of one meter provider, summed over every client reporting to it.

    SDKs hand back the first instrument of a name (and ignore a second one's callbacks), so
    every ``OpenTelemetry`` on a provider shares this one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depths: list[Callable[[], tuple[int, int] | None]] = []

    def add(self, depth: Callable[[], tuple[int, int] | None]) -> None:
        with self._lock:
            self._depths.append(depth)

    def observe(self, _: CallbackOptions) -> Iterable[Observation]:
        """Rows pending and in flight (called by the metric reader, in any thread)."""
        pending = in_flight = 0
        with self._lock:
            depths = list(self._depths)
        gone = []
        for depth in depths:
            seen = depth()
            if seen is None:
                gone.append(depth)
                continue
            pending += seen[0]
            in_flight += seen[1]
        if gone:
            with self._lock:
                self._depths = [d for d in self._depths if d not in gone]
        return [
            Observation(pending, {STATE: "pending"}),
            Observation(in_flight, {STATE: "in_flight"}),
        ]


_queues_lock = threading.Lock()
_queues: weakref.WeakKeyDictionary[object, _Queues] = weakref.WeakKeyDictionary()


def _queues_for(provider: object, meter: metrics.Meter) -> _Queues:
    with _queues_lock:
        try:
            queues = _queues.get(provider)
        except TypeError:  # a provider that cannot be weakly referenced or hashed: not shared
            queues = None
            provider = None
        if queues is None:
            queues = _Queues()
            if provider is not None:
                _queues[provider] = queues
            meter.create_observable_gauge(
                "leadsquared.client.queue.depth",
                callbacks=[queues.observe],
                unit="{row}",
                description="Rows waiting unsent (pending) and in calls in flight (in_flight)",
            )
        return queues
