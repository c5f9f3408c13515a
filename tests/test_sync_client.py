"""The synchronous client: threads sharing one client and its batches, closing, hooks, exit."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

from .conftest import BASE_URL

MakeSync = Callable[..., lsq.SyncLeadSquaredClient]
#: A client limit high enough never to be the bottleneck.
LIFTED = lsq.RateLimit(100_000, 1.0)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` every millisecond until it holds; fail after ``timeout`` seconds."""
    pause = threading.Event()
    for _ in range(int(timeout * 1000)):
        if condition():
            return
        pause.wait(0.001)
    raise AssertionError("condition not met in time")


class Hang(httpx2.AsyncBaseTransport):
    """A transport whose requests never get an answer."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Wait forever (until cancelled)."""
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.fixture
def fake() -> FakeLeadSquared:
    """A fake service with no rate limit of its own."""
    return FakeLeadSquared(rate_limit=None)


@pytest.fixture
def make_sync(fake: FakeLeadSquared) -> Iterator[MakeSync]:
    """Build sync clients talking to ``fake`` in-process; all are closed after the test."""
    made: list[lsq.SyncLeadSquaredClient] = []

    def make(transport: Callable[[], httpx2.AsyncBaseTransport] | None = None, **options: Any):
        transport = transport or fake.transport
        options.setdefault("http_client_factory", lambda: httpx2.AsyncClient(transport=transport()))
        options.setdefault("rate_limit", LIFTED)
        options.setdefault("backoff", 0.001)
        client = lsq.SyncLeadSquaredClient(
            DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=BASE_URL, **options
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=1)


def run_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads; return each result or exception, in order."""
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not any(t.is_alive() for t in threads), "a thread is still waiting"
    return results


# -- sharing one client between threads ------------------------------------------------------


def test_sixteen_threads_share_full_calls(fake: FakeLeadSquared, make_sync: MakeSync) -> None:
    """16 threads × 100 creates go out in at most 40 calls, each caller getting its own LeadId."""
    client = make_sync(linger=60)  # calls leave full; flush() sends the remainder
    everyone_submitted = threading.Barrier(17)

    def work(t: int) -> list[tuple[str, lsq.Result]]:
        emails = [f"t{t}-{i}@example.com" for i in range(100)]
        futures = [client.submit(lsq.CreateLead({"EmailAddress": e})) for e in emails]
        everyone_submitted.wait()
        return [(e, f.result(timeout=20)) for e, f in zip(emails, futures, strict=True)]

    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.extend(run_threads(16, work)))
    worker.start()
    everyone_submitted.wait(20)
    client.flush()
    worker.join(20)

    answers = [pair for per_thread in results for pair in per_thread]
    assert len(answers) == 1600
    assert fake.ledger.calls("Lead/Bulk/Create") <= 40
    assert sum(fake.ledger.rows_per_call("Lead/Bulk/Create")) == 1600
    assert len({result.lead_id for _, result in answers}) == 1600
    for email, result in answers:
        assert isinstance(result, lsq.LeadCreated)
        lead = fake.store.get(result.lead_id)
        assert lead is not None
        assert lead["EmailAddress"] == email
    assert fake.store.count() == 1600
    assert not fake.store.duplicates()


def test_blocking_calls_from_many_threads_ride_one_call(
    fake: FakeLeadSquared, make_sync: MakeSync
) -> None:
    """16 threads blocked in create_lead at once are answered by a single bulk call."""
    client = make_sync(linger=60)
    waiter = threading.Thread(
        target=lambda: (wait_until(lambda: client.stats().pending == 16), client.flush())
    )
    waiter.start()
    results = run_threads(16, lambda t: client.create_lead({"EmailAddress": f"b{t}@example.com"}))
    waiter.join(10)
    assert fake.ledger.rows_per_call("Lead/Bulk/Create") == [16]
    for t, result in enumerate(results):
        lead = fake.store.get(result.lead_id)
        assert lead is not None
        assert lead["EmailAddress"] == f"b{t}@example.com"


def test_every_method_blocks_and_answers(fake: FakeLeadSquared, make_sync: MakeSync) -> None:
    """create, upsert, both updates, update_field, submit, flush and stats work from sync code."""
    client = make_sync(linger=0)
    created = client.create_lead({"EmailAddress": "m@example.com", "FirstName": "M"})
    upserted = client.upsert_lead({"EmailAddress": "m@example.com", "mx_City": "Pune"})
    assert upserted.lead_id == created.lead_id
    assert upserted.updated
    client.update_lead({"EmailAddress": "m@example.com", "mx_City": "Goa"})
    client.update_lead_by_id(created.lead_id, {"FirstName": "N"})
    assert client.update_field(created.lead_id, "mx_Stage", "Hot").confirmed
    future = client.submit(lsq.UpdateLeadById(created.lead_id, {"LastName": "O"}))
    client.flush()
    assert isinstance(future.result(timeout=0), lsq.LeadUpdated)
    lead = fake.store.get(created.lead_id)
    assert lead is not None
    assert (lead["FirstName"], lead["LastName"], lead["mx_City"]) == ("N", "O", "Goa")
    assert lead["mx_Stage"] == "Hot"
    assert client.stats().calls == 6


def test_reads_activities_and_look_up_first_block_and_answer(
    fake: FakeLeadSquared, make_sync: MakeSync
) -> None:
    """get_lead, find_lead, post_activity and create_lead(look_up_first=True) from sync code."""
    client = make_sync(linger=0)
    body: dict[str, str] = {"EmailAddress": "r@example.com", "FirstName": "R"}
    created = client.create_lead(body)
    lead = client.get_lead(created.lead_id, columns=["FirstName"])
    assert lead is not None
    assert (lead.lead_id, lead.get("FirstName")) == (created.lead_id, "R")
    assert client.get_lead(str(uuid.UUID(int=7, version=4))) is None
    found = client.find_lead(email="R@example.com")
    assert found is not None
    assert found.lead_id == created.lead_id
    assert client.find_lead(phone="9800000000") is None
    at = dt.datetime(2024, 5, 6, 12, 30, tzinfo=dt.UTC)
    posted = client.post_activity(created.lead_id, event=201, note="called", at=at)
    assert [a["ProspectActivityId"] for a in fake.store.activities(created.lead_id)] == [
        posted.activity_id
    ]
    again = client.create_lead(body, look_up_first=True)
    assert (again.lead_id, again.reconciled) == (created.lead_id, True)
    assert fake.store.count() == 1
    assert fake.ledger.calls("Lead/Bulk/Create") == 1


def test_errors_are_the_async_clients_types(make_sync: MakeSync) -> None:
    """Bad input raises ValidationError at the call; a missing lead LeadNotFoundError."""
    client = make_sync(linger=0)
    with pytest.raises(lsq.ValidationError):
        client.create_lead({})
    with pytest.raises(lsq.LeadNotFoundError):
        client.update_lead({"EmailAddress": "nobody@example.com", "mx_City": "Goa"})


# -- streaming -------------------------------------------------------------------------------


def test_stream_from_sync_code(fake: FakeLeadSquared, make_sync: MakeSync) -> None:
    """stream() is a plain iterator of outcomes in input order, reading ops in the caller thread."""
    client = make_sync(linger=0.001)
    readers: set[int] = set()

    def ops() -> Iterator[lsq.Operation]:
        for i in range(120):
            readers.add(threading.get_ident())
            yield lsq.CreateLead({"EmailAddress": f"s{i}@example.com"})

    outcomes = list(client.stream(ops()))
    assert [o.operation.fields["EmailAddress"] for o in outcomes] == [
        f"s{i}@example.com" for i in range(120)
    ]
    assert all(o.ok for o in outcomes)
    assert readers == {threading.get_ident()}
    assert fake.store.count() == 120


def test_stream_surfaces_source_errors_after_earlier_outcomes(make_sync: MakeSync) -> None:
    """A source that fails yields the outcomes before the failure, then raises its error."""
    client = make_sync(linger=0.001)

    def ops() -> Iterator[lsq.Operation]:
        yield lsq.CreateLead({"EmailAddress": "ok1@example.com"})
        yield lsq.CreateLead({})  # bad input: an outcome with a ValidationError
        raise KeyError("the source broke")

    seen: list[lsq.Outcome] = []
    with pytest.raises(KeyError, match="the source broke"):
        seen.extend(client.stream(ops()))
    assert [o.ok for o in seen] == [True, False]
    assert isinstance(seen[1].error, lsq.ValidationError)


def test_leaving_a_stream_early_withdraws_unsent_rows(
    fake: FakeLeadSquared, make_sync: MakeSync
) -> None:
    """Breaking out of stream() withdraws the rows not yet sent before it returns."""
    client = make_sync(linger=60)  # the first 50 leave as a full call; the rest would wait
    ops = (lsq.CreateLead({"EmailAddress": f"e{i}@example.com"}) for i in range(60))
    for outcome in client.stream(ops):
        assert outcome.ok
        break
    client.flush()
    assert fake.store.count() == 50
    assert client.stats().pending == 0


# -- timeouts and interrupts -----------------------------------------------------------------


def test_timeout_leaves_the_row_queued_unless_asked(
    fake: FakeLeadSquared, make_sync: MakeSync
) -> None:
    """timeout= raises TimeoutError and the row is still sent; cancel_on_timeout withdraws it."""
    client = make_sync(linger=60)
    with pytest.raises(TimeoutError, match="still queued"):
        client.create_lead({"EmailAddress": "kept@example.com"}, timeout=0.01)
    with pytest.raises(TimeoutError, match="withdrawn"):
        client.create_lead(
            {"EmailAddress": "gone@example.com"}, timeout=0.01, cancel_on_timeout=True
        )
    wait_until(lambda: client.stats().pending == 1)
    client.flush()
    assert [lead["EmailAddress"] for lead in fake.store.all()] == ["kept@example.com"]


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread()
    or signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
    reason="needs Python's own SIGINT handler in the main thread",
)
def test_keyboard_interrupt_withdraws_the_callers_row(
    fake: FakeLeadSquared, make_sync: MakeSync
) -> None:
    """Ctrl-C in a thread blocked in create_lead raises there and withdraws its unsent row."""
    client = make_sync(linger=60)
    main = threading.main_thread().ident
    assert main is not None

    def blocked() -> bool:
        frame = sys._current_frames().get(main)  # the main thread waits in Condition.wait
        return frame is not None and frame.f_code.co_name == "wait"

    def interrupt() -> None:
        wait_until(lambda: client.stats().pending == 1 and blocked())
        signal.pthread_kill(main, signal.SIGINT)

    helper = threading.Thread(target=interrupt)
    helper.start()
    with pytest.raises(KeyboardInterrupt):
        client.create_lead({"EmailAddress": "interrupted@example.com"})
    helper.join(10)
    wait_until(lambda: client.stats().pending == 0)
    client.flush()
    assert fake.store.count() == 0


# -- closing ---------------------------------------------------------------------------------


def test_close_while_threads_wait_answers_every_thread(make_sync: MakeSync) -> None:
    """close() answers every waiting thread with a LeadSquaredError; none is left hanging."""
    client = make_sync(transport=Hang, linger=0)

    def all_waiting(stats: lsq.Stats) -> bool:  # some rows in a hung call, the rest queued
        return stats.in_flight >= 1 and stats.pending + stats.in_flight == 16

    closer = threading.Thread(
        target=lambda: (
            wait_until(lambda: all_waiting(client.stats())),
            client.close(timeout=0.05),
        )
    )
    closer.start()
    results = run_threads(16, lambda t: client.create_lead({"EmailAddress": f"c{t}@example.com"}))
    closer.join(10)
    assert all(isinstance(r, lsq.LeadSquaredError) for r in results), results
    kinds = {type(r) for r in results}
    assert kinds <= {lsq.ClientClosedError, lsq.OutcomeUnknownError}
    assert lsq.OutcomeUnknownError in kinds  # the creates in flight may have been applied


def test_close_during_a_stream_ends_it_after_the_admitted_rows(
    fake: FakeLeadSquared, make_sync: MakeSync
) -> None:
    """close() stops a stream reading: the admitted rows' outcomes come, then ClientClosedError."""
    client = make_sync(linger=60)
    reads = 0

    def endless() -> Iterator[lsq.Operation]:
        nonlocal reads
        while True:
            reads += 1
            yield lsq.CreateLead({"EmailAddress": f"n{reads}@example.com"})

    seen: list[lsq.Outcome] = []

    def consume() -> None:
        for outcome in client.stream(endless()):
            seen.append(outcome)
            if len(seen) == 100:
                threading.Thread(target=client.close).start()

    outcome = run_threads_later(consume)()
    assert isinstance(outcome, lsq.ClientClosedError)
    sent = [o for o in seen if o.ok]
    assert len(sent) >= 100
    assert seen[: len(sent)] == sent
    # The one operation read as the client closed may come back refused; nothing else does.
    refused = seen[len(sent) :]
    assert len(refused) <= 1
    assert all(isinstance(o.error, lsq.ClientClosedError) for o in refused)
    assert fake.store.count() == len(sent)  # every admitted row was sent and reported
    assert reads - len(sent) <= 1  # and the source was not read on


def test_use_after_close_raises_client_closed(make_sync: MakeSync) -> None:
    """After close() every method raises ClientClosedError; stats and close still answer."""
    client = make_sync(linger=0)
    client.create_lead({"EmailAddress": "x@example.com"})
    report = client.close()
    assert client.closed
    assert "closed" in repr(client)
    calls: list[Callable[[], object]] = [
        lambda: client.create_lead({"EmailAddress": "y@example.com"}),
        lambda: client.upsert_lead({"EmailAddress": "y@example.com"}),
        lambda: client.update_lead({"EmailAddress": "y@example.com", "mx_City": "Goa"}),
        lambda: client.update_lead_by_id("id", {"mx_City": "Goa"}),
        lambda: client.update_field("id", "mx_City", "Goa"),
        lambda: client.submit(lsq.CreateLead({"EmailAddress": "y@example.com"})),
        client.flush,
        lambda: client.stream([]),
        client.__enter__,
    ]
    for call in calls:
        with pytest.raises(lsq.ClientClosedError):
            call()
    assert client.stats().calls == 1
    assert client.close() is report


def test_context_manager_sends_what_was_queued(fake: FakeLeadSquared) -> None:
    """Leaving the with-block sends the rows still queued, then closes."""
    with lsq.SyncLeadSquaredClient(
        DEMO_ACCESS_KEY,
        DEMO_SECRET_KEY,
        base_url=BASE_URL,
        linger=60,
        http_client_factory=lambda: httpx2.AsyncClient(transport=fake.transport()),
    ) as client:
        future = client.submit(lsq.CreateLead({"EmailAddress": "w@example.com"}))
    assert client.closed
    assert isinstance(future.result(timeout=0), lsq.LeadCreated)
    assert fake.store.count() == 1


def test_close_with_a_stuck_loop_gives_up_and_answers(make_sync: MakeSync) -> None:
    """A loop blocked by a hook does not hang close(): it gives up and answers the waiters."""
    blocked, release = threading.Event(), threading.Event()

    def stuck(_: lsq.CallEvent) -> None:
        blocked.set()
        release.wait(10)

    client = make_sync(linger=0, on_call=stuck)
    future = client.submit(lsq.CreateLead({"EmailAddress": "s@example.com"}))
    caller = run_threads_later(lambda: client.create_lead({"EmailAddress": "t@example.com"}))
    blocked.wait(10)
    client.close(timeout=0.05)
    assert isinstance(caller(), lsq.ClientClosedError)
    with pytest.raises(lsq.ClientClosedError):
        future.result(timeout=0)
    release.set()


def run_threads_later(work: Callable[[], Any]) -> Callable[[], Any]:
    """Start ``work`` in a thread now; the returned function joins it and gives its answer."""
    answer: list[Any] = []

    def run() -> None:
        try:
            answer.append(work())
        except BaseException as exc:
            answer.append(exc)

    thread = threading.Thread(target=run)
    thread.start()

    def join() -> Any:
        thread.join(10)
        assert not thread.is_alive()
        return answer[0]

    return join


# -- guards ----------------------------------------------------------------------------------


def test_a_call_from_the_loop_thread_raises_instead_of_deadlocking(make_sync: MakeSync) -> None:
    """A hook calling the sync client gets WrongEventLoopError at once; the call still goes."""
    seen: list[BaseException] = []
    holder: list[lsq.SyncLeadSquaredClient] = []

    def hook(_: lsq.CallEvent) -> None:
        for call in (
            lambda: holder[0].create_lead({"EmailAddress": "h@example.com"}),
            holder[0].flush,
            holder[0].close,
        ):
            try:
                call()
            except lsq.WrongEventLoopError as exc:
                seen.append(exc)

    client = make_sync(linger=0, on_call=hook)
    holder.append(client)
    assert isinstance(client.create_lead({"EmailAddress": "g@example.com"}), lsq.LeadCreated)
    assert len(seen) == 3
    assert "own event loop thread" in str(seen[0])
    assert not client.closed


def test_a_forked_copy_refuses_to_be_used(
    make_sync: MakeSync, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In another process than its creator's (after a fork) the client raises, naming the fix."""
    client = make_sync()
    monkeypatch.setattr(os, "getpid", lambda: -1)
    with pytest.raises(lsq.WrongEventLoopError, match="after forking"):
        client.create_lead({"EmailAddress": "f@example.com"})
    monkeypatch.undo()


# -- building --------------------------------------------------------------------------------


def test_constructors_mirror_the_async_ones(fake: FakeLeadSquared) -> None:
    """from_env and from_settings build clients; the http client is made in the loop thread."""
    made_in: list[str] = []

    def factory() -> httpx2.AsyncClient:
        made_in.append(threading.current_thread().name)
        return httpx2.AsyncClient(transport=fake.transport())

    environ = {"LSQ_ACCESS_KEY": DEMO_ACCESS_KEY, "LSQ_SECRET_KEY": DEMO_SECRET_KEY}
    with lsq.SyncLeadSquaredClient.from_env(
        environ, base_url=BASE_URL, http_client_factory=factory, linger=0
    ) as client:
        assert client.settings.linger == 0
        client.create_lead({"EmailAddress": "env@example.com"})
    settings = lsq.Settings(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=BASE_URL, linger=0)
    with lsq.SyncLeadSquaredClient.from_settings(settings, http_client_factory=factory) as client:
        client.create_lead({"EmailAddress": "settings@example.com"})
    assert made_in == ["leadsq-sync-loop", "leadsq-sync-loop"]
    assert fake.store.count() == 2


def test_a_shared_async_http_client_is_refused() -> None:
    """http_client= (bound to one loop) is refused with a pointer to http_client_factory."""
    with pytest.raises(lsq.ValidationError, match="http_client_factory"):
        lsq.SyncLeadSquaredClient(
            DEMO_ACCESS_KEY, DEMO_SECRET_KEY, http_client=httpx2.AsyncClient()
        )
    with pytest.raises(lsq.ValidationError):
        lsq.SyncLeadSquaredClient(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, linger=-1)


# -- interpreter exit ------------------------------------------------------------------------

EXIT_SCRIPT = """
import atexit, sys, threading, httpx2
import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

fake = FakeLeadSquared(rate_limit=None)
atexit.register(lambda: print("leads", fake.store.count(), flush=True))  # runs after the client's
blocked = threading.Event()

def hook(event):
    if sys.argv[1] == "stuck":
        blocked.set()
        threading.Event().wait()  # the loop never comes back

client = lsq.SyncLeadSquaredClient(
    DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url="https://api.example.com",
    http_client_factory=lambda: httpx2.AsyncClient(transport=fake.transport()),
    linger=0 if sys.argv[1] == "stuck" else 60, on_call=hook,
    exit_timeout=0.1 if sys.argv[1] == "stuck" else 10,
)
client.submit(lsq.CreateLead({"EmailAddress": "exit@example.com"}))
if sys.argv[1] == "stuck":
    blocked.wait()
print("leaving", flush=True)
"""


@pytest.mark.parametrize(("mode", "leads"), [("healthy", 1), ("stuck", 0)])
def test_interpreter_exit_with_an_unclosed_client_does_not_hang(mode: str, leads: int) -> None:
    """An unclosed client is closed at exit (its queued row sent); a stuck loop does not hang it."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(EXIT_SCRIPT), mode],
        capture_output=True,
        text=True,
        timeout=25,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["leaving", f"leads {leads}"], done.stdout
