"""The event hook (``on_event``): a CallEvent before each call, a CallEnded after, on virtual time.

Every test runs on ``vtime.VirtualTimeLoop`` against the in-process fake behind a script
(``scripted.Scripted``): the first calls get the scripted answers, the rest the fake's own.
"""

from __future__ import annotations

import asyncio
import logging

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

from .conftest import MakeClient
from .scripted import CLIENT, UPSERT, Scripted, rate_limited, run_all, unavailable, upserts

pytestmark = [pytest.mark.vtime, pytest.mark.client_options(**CLIENT)]


async def test_each_call_gives_a_call_event_then_a_call_ended(make_client: MakeClient) -> None:
    """Sixty upserts: three calls, each announced then ended with its rows, status and id."""
    events: list[lsq.Event] = []
    async with await make_client(
        FakeLeadSquared(rate_limit=None).transport(), on_event=events.append
    ) as c:
        await run_all(c, upserts(60))
    started = [e for e in events if isinstance(e, lsq.CallEvent)]
    ended = [e for e in events if isinstance(e, lsq.CallEnded)]
    assert [e.rows for e in started] == [25, 25, 10]
    assert [e.call_id for e in ended] == [e.call_id for e in started]
    assert len({e.call_id for e in started}) == 3
    for begin, end in zip(started, ended, strict=True):
        assert events.index(begin) < events.index(end)
        assert (end.endpoint, end.rows, end.attempt) == (UPSERT, begin.rows, 1)
        assert end.operations == begin.operations
        assert len(end.operations) == end.rows
        assert (end.outcome, end.status, end.errors, end.budget) == ("answered", 200, 0, None)
        assert end.waited == begin.waited
        assert end.elapsed == 0.0  # the in-process fake answers in no virtual time
    assert started[0].waited == 0.0  # the first grant is free
    assert started[1].waited > 0.0  # the next ones wait for the limiter


async def test_call_ended_says_what_became_of_the_call(make_client: MakeClient) -> None:
    """Rate-limited (with its budget), resend, answered with a refused row: each one is said."""
    fake = FakeLeadSquared(rate_limit=None)
    transport = Scripted(fake, rate_limited(25), rate_limited(1), unavailable())
    ended: list[lsq.CallEnded] = []

    def hook(event: lsq.Event) -> None:
        if isinstance(event, lsq.CallEnded):
            ended.append(event)

    async with await make_client(transport, on_event=hook, spill="none") as client:
        await run_all(client, upserts(3))
        await client.create_lead({"EmailAddress": "taken@example.com"})
        creates = [
            lsq.CreateLead({"EmailAddress": "taken@example.com"}),
            lsq.CreateLead({"EmailAddress": "new@example.com"}),
        ]
        futures = [await client.submit(op) for op in creates]
        await asyncio.gather(*futures, return_exceptions=True)
        stats = client.stats()
    outcomes = [(e.endpoint, e.outcome, e.status, e.budget, e.attempt, e.rows) for e in ended]
    assert outcomes == [
        (UPSERT, "rate-limited", 429, "general", 1, 3),
        (UPSERT, "rate-limited", 429, "bulk", 1, 3),
        (UPSERT, "resend", 503, None, 1, 3),
        (UPSERT, "answered", 200, None, 2, 3),
        ("Lead/Bulk/Create", "answered", 200, None, 1, 1),
        ("Lead/Bulk/Create", "answered", 200, None, 1, 2),
    ]
    assert ended[-1].errors == 1  # the duplicate was refused, the other row created
    assert ended[2].waited > 0.0  # after the bulk budget's pause
    assert stats.rate_limited == 2
    assert stats.retries == 1


async def test_a_call_cut_short_by_closing_ends_cancelled(make_client: MakeClient) -> None:
    """aclose() while a call hangs in flight: the call's CallEnded says "cancelled"."""
    transport = Scripted(FakeLeadSquared(rate_limit=None))
    transport.gate = asyncio.Event()  # never set: the call never gets its answer
    events: list[lsq.Event] = []
    client = await make_client(transport, on_event=events.append)
    future = await client.submit(lsq.UpsertLead({"EmailAddress": "a@example.com"}))
    await asyncio.sleep(1)
    await client.aclose(timeout=1)
    assert isinstance(future.exception(), lsq.ClientClosedError)
    assert [type(e).__name__ for e in events] == ["CallEvent", "CallEnded"]
    ended = events[1]
    assert isinstance(ended, lsq.CallEnded)
    assert (ended.outcome, ended.status, ended.rows) == ("cancelled", "-", 1)


NO_SUCH_API = httpx2.Response(
    404,
    json={
        "Status": "Error",
        "ExceptionType": "MXInvalidInputException",
        "ExceptionMessage": "The API could not be found. Please check the API signature.",
    },
)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(NO_SUCH_API, id="404"),
        pytest.param(httpx2.Response(405, text="Method Not Allowed"), id="405"),
    ],
)
async def test_no_such_api_ends_failed_not_cancelled(
    answer: httpx2.Response, make_client: MakeClient
) -> None:
    """A 404/405 "no such API" call's CallEnded says "failed", every row an error (defect 3)."""
    transport = Scripted(FakeLeadSquared(rate_limit=None), answer)
    ended: list[lsq.CallEnded] = []

    def hook(event: lsq.Event) -> None:
        if isinstance(event, lsq.CallEnded):
            ended.append(event)

    async with await make_client(transport, on_event=hook) as client:
        results = await run_all(client, upserts(3))
    assert all(isinstance(r, lsq.EndpointNotFoundError) for r in results)
    outcomes = [(e.endpoint, e.outcome, e.status, e.rows, e.errors, e.budget) for e in ended]
    assert outcomes == [(UPSERT, "failed", answer.status_code, 3, 3, None)]


async def test_a_transport_error_is_the_status(make_client: MakeClient) -> None:
    """A call whose connection failed ends with the error's name as its status."""
    inner = FakeLeadSquared(rate_limit=None).transport()
    sent: list[httpx2.Request] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        if len(sent) == 1:
            raise httpx2.ConnectError("refused", request=request)
        return await inner.handle_async_request(request)

    ended: list[lsq.CallEnded] = []

    def hook(event: lsq.Event) -> None:
        if isinstance(event, lsq.CallEnded):
            ended.append(event)

    async with await make_client(httpx2.MockTransport(handler), on_event=hook) as client:
        await client.upsert_lead({"EmailAddress": "a@example.com"})
    assert [(e.outcome, e.status, e.attempt) for e in ended] == [
        ("resend", "ConnectError", 1),
        ("answered", 200, 2),
    ]


async def test_on_call_and_on_event_both_hear_and_a_raising_hook_stops_nothing(
    caplog: pytest.LogCaptureFixture,
    make_client: MakeClient,
) -> None:
    """on_call gets the CallEvent alone, on_event both; a hook that raises is logged only."""
    calls: list[object] = []
    events: list[object] = []

    def broken(event: lsq.Event) -> None:
        events.append(event)
        raise RuntimeError("metrics backend down")

    transport = FakeLeadSquared(rate_limit=None).transport()
    with caplog.at_level(logging.ERROR, logger="leadsq_async"):
        async with await make_client(transport, on_call=calls.append, on_event=broken) as client:
            result = await client.upsert_lead({"EmailAddress": "a@example.com"})
    assert isinstance(result, lsq.LeadUpserted)
    assert [type(e).__name__ for e in calls] == ["CallEvent"]
    assert [type(e).__name__ for e in events] == ["CallEvent", "CallEnded"]
    assert calls[0] is events[0]
    assert sum("event hook raised" in r.message for r in caplog.records) == 2


async def test_merged_callers_are_each_an_operation_of_one_row(make_client: MakeClient) -> None:
    """Two queued updates of one lead merge: the call has one row and both operations."""
    fake = FakeLeadSquared(rate_limit=None)
    events: list[lsq.Event] = []
    async with await make_client(fake.transport(), on_event=events.append) as client:
        created = await client.create_lead({"EmailAddress": "a@example.com"})
        events.clear()
        first = lsq.UpdateLeadById(created.lead_id, {"mx_City": "Pune"})
        second = lsq.UpdateLeadById(created.lead_id, {"mx_Stage": "Hot"})
        futures = [await client.submit(first), await client.submit(second)]
        await asyncio.gather(*futures)
    started, ended = events
    assert isinstance(started, lsq.CallEvent)
    assert isinstance(ended, lsq.CallEnded)
    assert (started.rows, len(started.operations)) == (1, 2)
    assert (ended.rows, len(ended.operations), ended.outcome) == (1, 2, "answered")


def test_call_event_keeps_its_old_shape() -> None:
    """CallEvent(endpoint, operations, attempt) still builds, and equal content compares equal."""
    op = lsq.CreateLead({"EmailAddress": "a@example.com"})
    first = lsq.CallEvent("Lead/Bulk/Create", (op,), 1)
    again = lsq.CallEvent("Lead/Bulk/Create", (op,), 1)
    assert first == again
    assert first.call_id != again.call_id
    assert (first.rows, first.waited, first.traces) == (0, 0.0, ())
