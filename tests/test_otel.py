"""OpenTelemetry (the ``otel`` extra): call spans, row spans linked to them, and metrics.

Spans and metrics go to the real SDK's in-memory exporter and reader; the client talks to the
in-process fake (``FakeLeadSquared(rate_limit=None)``, ``fake.transport()``), behind a script
where a test needs refusals, on ``vtime.VirtualTimeLoop``: nothing sleeps, and every number is
exact. The last tests run fresh interpreters to show that nothing imports opentelemetry unless
telemetry is asked for.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import attrs
import httpx2
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

from .conftest import MakeClient
from .scripted import CLIENT, UPSERT, Scripted, rate_limited, run_all, unavailable, upserts
from .test_install import _python

pytestmark = [pytest.mark.vtime, pytest.mark.client_options(**CLIENT)]

CREATE = "Lead/Bulk/Create"


@attrs.define
class Otel:
    """An SDK wired to in-memory exporters, and the client's telemetry on it."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    telemetry: Any  # lsq.OpenTelemetry

    def finished(self) -> list[ReadableSpan]:
        """Every span ended so far."""
        return list(self.spans.get_finished_spans())

    def calls(self) -> list[ReadableSpan]:
        """The call spans, in the order they ended."""
        return [s for s in self.finished() if s.kind is SpanKind.CLIENT]

    def rows(self) -> list[ReadableSpan]:
        """The row spans, in the order they ended."""
        return [
            s
            for s in self.finished()
            if s.kind is SpanKind.INTERNAL
            and s.instrumentation_scope is not None
            and s.instrumentation_scope.name == "leadsq_async"
        ]

    def metric(self, name: str) -> dict[frozenset[tuple[str, Any]], Any]:
        """``name``'s data points by their attributes: a sum's value, a histogram's point."""
        found: dict[frozenset[tuple[str, Any]], Any] = {}
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            key = frozenset((point.attributes or {}).items())
                            found[key] = getattr(point, "value", point)
        return found


@pytest.fixture
def otel() -> Iterator[Otel]:
    """A tracer and a meter provider on in-memory exporters, and ``lsq.OpenTelemetry`` on them."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    telemetry = lsq.OpenTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield Otel(spans, reader, tracer_provider, telemetry)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def labels(**attributes: Any) -> frozenset[tuple[str, Any]]:
    """The key ``Otel.metric`` files a data point under (``leadsquared.`` names, dots as _)."""
    return frozenset((f"leadsquared.{k.replace('_', '.')}", v) for k, v in attributes.items())


# -- spans -------------------------------------------------------------------------------------


async def test_a_call_span_carries_its_attributes_and_the_row_spans_link_to_it(
    otel: Otel, make_client: MakeClient
) -> None:
    """Three callers share a call: two with a current span get a row span linked to the call."""
    tracer = otel.tracer_provider.get_tracer("app")

    fake = FakeLeadSquared(rate_limit=None)
    async with await make_client(fake.transport(), telemetry=otel.telemetry, linger=0.5) as client:

        async def sign_up(name: str, traced: bool) -> Any:
            op = {"EmailAddress": f"{name}@example.com"}
            if not traced:
                return await client.create_lead(op)
            with tracer.start_as_current_span(f"POST /signup {name}"):
                return await client.create_lead(op)

        results = list(
            await asyncio.gather(sign_up("a", True), sign_up("b", True), sign_up("c", False))
        )
    assert all(isinstance(r, lsq.LeadCreated) for r in results)
    (call,) = otel.calls()
    assert call.name == f"LeadSquared {CREATE}"
    assert call.parent is None  # a call belongs to no one caller
    assert dict(call.attributes or {}) == {
        "leadsquared.endpoint": CREATE,
        "http.request.method": "POST",
        "leadsquared.rows": 3,
        "leadsquared.operations": 3,
        "leadsquared.attempt": 1,
        "leadsquared.limiter.wait": 0.0,
        "leadsquared.call_id": call.attributes["leadsquared.call_id"],  # type: ignore[index]
        "http.response.status_code": 200,
        "leadsquared.outcome": "answered",
        "leadsquared.rows.failed": 0,
    }
    assert call.status.status_code is StatusCode.UNSET
    callers = {s.name: s for s in otel.finished() if s.name.startswith("POST /signup")}
    assert set(callers) == {"POST /signup a", "POST /signup b"}
    caller_ids = {s.context.span_id for s in callers.values()}
    assert {link.context.span_id for link in call.links} == caller_ids
    rows = otel.rows()
    assert len(rows) == 2  # the caller without a span gets none
    for row in rows:
        assert row.name == "LeadSquared CreateLead"
        assert row.parent is not None
        assert row.parent.span_id in caller_ids
        assert row.context.trace_id == next(
            s.context.trace_id for s in callers.values() if s.context.span_id == row.parent.span_id
        )
        ((link),) = row.links
        assert link.context.span_id == call.context.span_id
        assert dict(link.attributes or {}) == {"leadsquared.attempt": 1}
        assert dict(row.attributes or {}) == {
            "leadsquared.operation": "CreateLead",
            "leadsquared.calls": 1,
            "leadsquared.outcome": "ok",
        }
        assert row.start_time is not None
        assert call.start_time is not None
        assert row.start_time <= call.start_time
        assert row.end_time is not None
        assert call.end_time is not None
        assert row.end_time >= call.end_time


async def test_a_resent_row_links_every_call_that_carried_it(
    otel: Otel, make_client: MakeClient
) -> None:
    """An upsert answered 503 then 200: two call spans (attempts 1 and 2), both linked."""
    tracer = otel.tracer_provider.get_tracer("app")

    transport = Scripted(FakeLeadSquared(rate_limit=None), unavailable())
    async with await make_client(transport, telemetry=otel.telemetry) as client:
        with tracer.start_as_current_span("job"):
            await client.upsert_lead({"EmailAddress": "a@example.com"})
    first, second = otel.calls()
    assert first.attributes is not None
    assert second.attributes is not None
    assert first.attributes["leadsquared.attempt"] == 1
    assert second.attributes["leadsquared.attempt"] == 2
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["leadsquared.outcome"] == "resend"
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["leadsquared.outcome"] == "answered"
    (row,) = otel.rows()
    assert [link.context.span_id for link in row.links] == [
        first.context.span_id,
        second.context.span_id,
    ]
    assert [dict(link.attributes or {}) for link in row.links] == [
        {"leadsquared.attempt": 1},
        {"leadsquared.attempt": 2},
    ]
    assert row.attributes is not None
    assert row.attributes["leadsquared.calls"] == 2


async def test_a_refused_row_is_an_error_span_and_the_call_counts_it(
    otel: Otel, make_client: MakeClient
) -> None:
    """A duplicate create: its row span is an error naming the service's type; the call is not."""
    tracer = otel.tracer_provider.get_tracer("app")

    async with await make_client(FakeLeadSquared(rate_limit=None).transport()) as plain:
        await plain.create_lead({"EmailAddress": "taken@example.com"})
    fake = FakeLeadSquared(rate_limit=None)
    async with await make_client(fake.transport(), telemetry=otel.telemetry, linger=0.5) as client:
        await client.create_lead({"EmailAddress": "taken@example.com"})
        otel.spans.clear()

        async def create(email: str) -> Any:
            with tracer.start_as_current_span(email):
                return await client.create_lead({"EmailAddress": email})

        refused, created = list(
            await asyncio.gather(
                create("taken@example.com"), create("new@example.com"), return_exceptions=True
            )
        )
    assert isinstance(refused, lsq.LeadRejectedError)
    assert isinstance(created, lsq.LeadCreated)
    (call,) = otel.calls()
    assert call.attributes is not None
    assert call.attributes["leadsquared.rows.failed"] == 1
    assert call.status.status_code is StatusCode.UNSET
    by_parent = {
        next(s.name for s in otel.finished() if s.context.span_id == r.parent.span_id): r
        for r in otel.rows()
        if r.parent is not None
    }
    bad, good = by_parent["taken@example.com"], by_parent["new@example.com"]
    assert bad.status.status_code is StatusCode.ERROR
    assert bad.attributes is not None
    assert bad.attributes["error.type"] == "LeadRejectedError"
    assert bad.attributes["leadsquared.exception_type"] == "MXDuplicateEntryException"
    assert bad.attributes["leadsquared.outcome"] == "error"
    assert good.status.status_code is StatusCode.UNSET


async def test_a_call_to_no_such_api_is_a_failed_call(otel: Otel, make_client: MakeClient) -> None:
    """A 405 "no such API": the call span and the calls metric say "failed" (defect 3)."""
    answer = httpx2.Response(405, text="Method Not Allowed")
    transport = Scripted(FakeLeadSquared(rate_limit=None), answer)
    async with await make_client(transport, telemetry=otel.telemetry) as client:
        results = await run_all(client, upserts(2))
    assert all(isinstance(r, lsq.EndpointNotFoundError) for r in results)
    (call,) = otel.calls()
    assert call.attributes is not None
    assert call.attributes["leadsquared.outcome"] == "failed"
    assert call.attributes["leadsquared.rows.failed"] == 2
    assert call.status.status_code is StatusCode.ERROR
    assert otel.metric("leadsquared.client.calls") == {labels(endpoint=UPSERT, outcome="failed"): 1}


async def test_a_caller_without_a_span_carries_nothing(otel: Otel, make_client: MakeClient) -> None:
    """No current span (or row_spans=False): the row's trace slot stays unset, no row span."""
    quiet = lsq.OpenTelemetry(tracer_provider=otel.tracer_provider, row_spans=False)
    tracer = otel.tracer_provider.get_tracer("app")
    fake = FakeLeadSquared(rate_limit=None)
    seen = []
    async with await make_client(fake.transport(), telemetry=otel.telemetry) as client:
        future = await client.submit(lsq.CreateLead({"EmailAddress": "a@example.com"}))
        seen.append(getattr(future, "trace", None))
        await future
    async with await make_client(fake.transport(), telemetry=quiet) as client:
        with tracer.start_as_current_span("request"):
            future = await client.submit(lsq.CreateLead({"EmailAddress": "b@example.com"}))
        seen.append(getattr(future, "trace", None))
        await future
    assert seen == [None, None]
    assert otel.rows() == []
    assert len(otel.calls()) == 2  # every call still has its span


def test_the_sync_client_carries_the_calling_threads_span(otel: Otel) -> None:
    """A thread with a current span calls the sync client: the row span is that span's child."""
    tracer = otel.tracer_provider.get_tracer("app")
    fake = FakeLeadSquared(rate_limit=None)
    with lsq.SyncLeadSquaredClient(
        DEMO_ACCESS_KEY,
        DEMO_SECRET_KEY,
        http_client_factory=lambda: httpx2.AsyncClient(transport=fake.transport()),
        telemetry=otel.telemetry,
        linger=0,
    ) as client:
        done: list[Any] = []

        def task() -> None:
            with tracer.start_as_current_span("celery task"):
                done.append(client.create_lead({"EmailAddress": "a@example.com"}))

        worker = threading.Thread(target=task)
        worker.start()
        worker.join(30)
    assert isinstance(done[0], lsq.LeadCreated)
    (task_span,) = [s for s in otel.finished() if s.name == "celery task"]
    (row,) = otel.rows()
    assert row.parent is not None
    assert row.parent.span_id == task_span.context.span_id
    (call,) = otel.calls()
    assert [link.context.span_id for link in row.links] == [call.context.span_id]


# -- metrics -----------------------------------------------------------------------------------


async def test_metrics_after_a_known_workload(otel: Otel, make_client: MakeClient) -> None:
    """60 upserts refused twice (general, then bulk budget) and once 503: every count exact."""
    events: list[lsq.Event] = []

    fake = FakeLeadSquared(rate_limit=None)
    transport = Scripted(fake, rate_limited(25), rate_limited(1), unavailable())
    async with await make_client(
        transport, telemetry=otel.telemetry, on_event=events.append, spill="none"
    ) as client:
        results = await run_all(client, upserts(60))
        assert all(isinstance(r, lsq.LeadUpserted) for r in results)
        stats = client.stats()
    assert otel.metric("leadsquared.client.calls") == {
        labels(endpoint=UPSERT, outcome="rate-limited"): 2,
        labels(endpoint=UPSERT, outcome="resend"): 1,
        labels(endpoint=UPSERT, outcome="answered"): 3,
    }
    assert otel.metric("leadsquared.client.rows") == {
        labels(endpoint=UPSERT, outcome="rate-limited"): 50,
        labels(endpoint=UPSERT, outcome="resend"): 25,
        labels(endpoint=UPSERT, outcome="answered"): 60,
    }
    assert otel.metric("leadsquared.client.rejections") == {
        labels(endpoint=UPSERT, budget="general"): 1,
        labels(endpoint=UPSERT, budget="bulk"): 1,
    }
    assert otel.metric("leadsquared.client.retries") == {labels(endpoint=UPSERT): 1}
    (wait,) = otel.metric("leadsquared.client.limiter.wait").values()
    assert wait.count == 6
    assert wait.sum == pytest.approx(stats.limiter_wait)
    assert wait.max >= 5.0  # a paused budget's five seconds
    assert otel.metric("leadsquared.client.queue.depth") == {
        labels(queue_state="pending"): 0,
        labels(queue_state="in_flight"): 0,
    }
    # The same numbers as stats(), and as the events a hook of one's own sees.
    assert (stats.calls, stats.rows, stats.rate_limited, stats.retries) == (6, 135, 2, 1)
    assert sum(isinstance(e, lsq.CallEnded) for e in events) == 6


async def test_the_queue_gauge_reads_rows_pending_and_in_flight(
    otel: Otel, make_client: MakeClient
) -> None:
    """Rows queued, then a call hanging in flight, then all answered: the gauge follows."""
    transport = Scripted(FakeLeadSquared(rate_limit=None))
    transport.gate = asyncio.Event()
    seen: list[dict[str, int]] = []

    def look() -> None:
        points = otel.metric("leadsquared.client.queue.depth")
        seen.append({dict(k)["leadsquared.queue.state"]: v for k, v in points.items()})

    async with (
        await make_client(transport, telemetry=otel.telemetry) as first,
        await make_client(transport, telemetry=otel.telemetry) as second,
    ):
        futures = [await first.submit(op) for op in upserts(60)]
        futures += [await second.submit(op) for op in upserts(3, "other")]
        look()  # nothing has left yet
        await asyncio.sleep(0.1)  # one call of each client leaves and hangs
        look()
        transport.gate.set()
        await asyncio.gather(*futures)
        look()
    assert seen == [
        {"pending": 63, "in_flight": 0},
        {"pending": 35, "in_flight": 28},
        {"pending": 0, "in_flight": 0},
    ]


async def test_a_waiting_row_costs_little_more_with_telemetry(
    otel: Otel, make_client: MakeClient
) -> None:
    """5,000 rows waiting under a caller's span: about 1 KiB a row, ~100 B of it telemetry's."""
    tracer = otel.tracer_provider.get_tracer("app")
    count = 5_000

    async def per_row(telemetry: Any) -> float:
        ops = upserts(count)
        transport = Scripted(FakeLeadSquared(rate_limit=None))
        client = await make_client(transport, telemetry=telemetry, max_pending=count)
        await client.__aenter__()
        with tracer.start_as_current_span("bulk request"):
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            futures = [await client.submit(op) for op in ops]  # none leaves: no await yields
            used = tracemalloc.get_traced_memory()[0] - before
            tracemalloc.stop()
        for future in futures:
            future.cancel()
        await client.aclose(timeout=0)
        return used / count

    without = await per_row(None)
    with_telemetry = await per_row(otel.telemetry)
    assert with_telemetry - without < 160  # a _RowTrace, its timestamp, one callback slot
    assert with_telemetry < 1152  # about 1 KiB a waiting row (~980 B on CPython 3.11)


# -- nothing is imported without the extra -------------------------------------------------------


def test_a_client_without_telemetry_never_imports_opentelemetry() -> None:
    """Importing the package, building and using both clients with a hook: no opentelemetry."""
    done = _python(
        """
        import asyncio, sys
        import httpx2
        import leadsq_async as lsq
        from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

        async def main():
            fake = FakeLeadSquared(rate_limit=None)
            http = httpx2.AsyncClient(transport=fake.transport())
            events = []
            async with lsq.LeadSquaredClient(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, http_client=http,
                                             on_event=events.append, linger=0) as client:
                await client.create_lead({"EmailAddress": "a@example.com"})
            assert len(events) == 2, events
            await http.aclose()

        asyncio.run(main())
        with lsq.SyncLeadSquaredClient(
            DEMO_ACCESS_KEY, DEMO_SECRET_KEY, linger=0,
            http_client_factory=lambda: httpx2.AsyncClient(
                transport=FakeLeadSquared(rate_limit=None).transport()),
        ) as client:
            client.create_lead({"EmailAddress": "b@example.com"})
        loaded = [m for m in sys.modules if m.startswith("opentelemetry")]
        assert not loaded, loaded
        print("clean")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clean"


def test_opentelemetry_is_documented_but_not_star_imported() -> None:
    """lsq.OpenTelemetry resolves and has a docstring; it stays out of __all__ (no import)."""
    assert lsq.OpenTelemetry.__doc__
    assert lsq.OpenTelemetry.__module__ == "leadsq_async._observe.otel"
    assert "OpenTelemetry" not in lsq.__all__
