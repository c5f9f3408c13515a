"""client.stream(): one Outcome per operation, in input order, against the in-process fake."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

BASE_URL = "https://api-in21.leadsquared.com"
RATE = lsq.RateLimit(25, 0.25)
CREATE = "Lead/Bulk/Create"

Env = tuple[FakeLeadSquared, lsq.LeadSquaredClient]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """A client wired in-process to a fresh fake."""
    fake = FakeLeadSquared(rate_limit=RATE)
    async with (
        httpx2.AsyncClient(transport=fake.transport()) as http,
        lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=BASE_URL, http_client=http, rate_limit=RATE
        ) as client,
    ):
        yield fake, client


def create(i: int) -> lsq.CreateLead:
    """A create with a distinct email."""
    return lsq.CreateLead({"EmailAddress": f"lead{i}@example.com", "FirstName": f"N{i}"})


async def agen(ops: list[Any]) -> AsyncIterator[Any]:
    """``ops`` as an async generator that yields control between items."""
    for op in ops:
        await asyncio.sleep(0)
        yield op


def sync_source(ops: list[Any]) -> Iterator[Any]:
    """``ops`` as a plain generator."""
    yield from ops


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(list, id="list"),
        pytest.param(tuple, id="tuple"),
        pytest.param(sync_source, id="generator"),
        pytest.param(agen, id="async-generator"),
    ],
)
async def test_stream_yields_one_outcome_per_op_in_order(env: Env, source: Any) -> None:
    """Every op gets exactly one Outcome, in input order, and each lead reaches the fake."""
    fake, client = env
    ops = [create(i) for i in range(300)]
    outcomes = [outcome async for outcome in client.stream(source(ops))]
    assert [o.operation for o in outcomes] == ops
    assert all(o.ok and o.error is None for o in outcomes)
    assert all(isinstance(o.result, lsq.LeadCreated) for o in outcomes)
    for i, outcome in enumerate(outcomes):
        assert outcome.result is not None
        stored = fake.store.get(outcome.result.lead_id)  # type: ignore[union-attr]
        assert stored is not None
        assert stored["EmailAddress"] == f"lead{i}@example.com"
    assert len({o.result.lead_id for o in outcomes}) == 300  # type: ignore[union-attr]
    assert sum(fake.ledger.rows_per_call(CREATE)) == 300
    assert max(fake.ledger.rows_per_call(CREATE)) == 50  # the stream fills bulk calls


async def test_stream_of_nothing(env: Env) -> None:
    """An empty input gives an empty stream and sends nothing."""
    fake, client = env
    assert [o async for o in client.stream([])] == []
    assert [o async for o in client.stream(agen([]))] == []
    assert len(fake.ledger) == 0


async def test_bad_input_and_duplicates_become_outcomes(env: Env) -> None:
    """Invalid ops and duplicate creates come back as error outcomes; the stream goes on."""
    fake, client = env
    ops: list[Any] = [
        create(0),
        lsq.CreateLead({}),
        create(1),
        create(0),  # same email as the first: the fake refuses it
        "not an operation",
        lsq.UpdateLeadById("not-a-guid", {"FirstName": "X"}),
        create(2),
    ]
    outcomes = [o async for o in client.stream(ops)]
    assert [o.operation for o in outcomes] == ops
    assert [o.ok for o in outcomes] == [True, False, True, False, False, False, True]
    assert isinstance(outcomes[1].error, lsq.ValidationError)
    assert outcomes[1].error.field == "fields"
    assert type(outcomes[3].error) is lsq.LeadRejectedError
    assert outcomes[3].error.exception_type == "MXDuplicateEntryException"
    assert isinstance(outcomes[4].error, lsq.ValidationError)
    assert outcomes[4].error.field == "operation"
    assert isinstance(outcomes[5].error, lsq.ValidationError)
    assert outcomes[5].error.field == "lead_id"
    for outcome in outcomes:
        assert (outcome.result is None) != (outcome.error is None)
    assert fake.store.count() == 3


class SourceFailed(Exception):
    """Raised by a test's input iterable."""


def failing_sync(n: int) -> Iterator[lsq.CreateLead]:
    """Yield ``n`` creates, then fail."""
    for i in range(n):
        yield create(i)
    raise SourceFailed("boom")


async def failing_async(n: int) -> AsyncIterator[lsq.CreateLead]:
    """Yield ``n`` creates asynchronously, then fail."""
    for i in range(n):
        await asyncio.sleep(0)
        yield create(i)
    raise SourceFailed("boom")


@pytest.mark.parametrize(
    "source", [pytest.param(failing_sync, id="sync"), pytest.param(failing_async, id="async")]
)
async def test_iterable_error_propagates_after_earlier_outcomes(env: Env, source: Any) -> None:
    """An exception from the caller's iterable is raised after the outcomes before it."""
    fake, client = env
    seen: list[lsq.Outcome] = []

    async def drain() -> None:
        async for outcome in client.stream(source(60)):
            seen.append(outcome)

    with pytest.raises(SourceFailed, match="boom"):
        await drain()
    assert [o.operation for o in seen] == [create(i) for i in range(60)]
    assert all(o.ok for o in seen)
    assert fake.store.count() == 60
    assert client.stats().pending == 0


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(list, id="list"),
        pytest.param(sync_source, id="generator"),
        pytest.param(agen, id="async-generator"),
    ],
)
async def test_breaking_early_withdraws_unsent_rows(
    env: Env, source: Any, recwarn: pytest.WarningsRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Leaving the stream early (inside aclosing) withdraws rows not yet sent, silently."""
    fake, client = env
    produced = 2000
    ops = [create(i) for i in range(produced)]
    taken: list[lsq.Outcome] = []
    async with contextlib.aclosing(client.stream(source(ops))) as stream:  # type: ignore[type-var]
        async for outcome in stream:
            taken.append(outcome)
            if len(taken) == 3:
                break
    assert [o.operation for o in taken] == ops[:3]
    await asyncio.sleep(0)  # withdrawals run as the cancelled futures' done callbacks
    assert client.stats().pending == 0
    await client.flush()
    sent = sum(fake.ledger.rows_per_call(CREATE))
    assert 3 <= sent < produced
    assert fake.store.count() == sent
    # The client is still usable afterwards.
    after = await client.create_lead({"EmailAddress": "after@example.com"})
    assert fake.store.get(after.lead_id) is not None
    assert [str(w.message) for w in recwarn] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_two_streams_share_the_client(env: Env) -> None:
    """Two concurrent streams each get their own outcomes, in their own order."""
    fake, client = env
    left = [create(i) for i in range(100)]
    right = [create(i) for i in range(100, 200)]

    async def drain(ops: list[lsq.CreateLead]) -> list[lsq.Outcome]:
        return [o async for o in client.stream(agen(ops))]

    a, b = await asyncio.gather(drain(left), drain(right))
    assert [o.operation for o in a] == left
    assert [o.operation for o in b] == right
    assert all(o.ok for o in a + b)
    assert fake.store.count() == 200


async def test_stream_on_closed_client_yields_errors() -> None:
    """After aclose(), stream() turns every op into a ClientClosedError outcome."""
    fake = FakeLeadSquared(rate_limit=RATE)
    async with httpx2.AsyncClient(transport=fake.transport()) as http:
        client = lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=BASE_URL, http_client=http, rate_limit=RATE
        )
        async with client:
            await client.create_lead({"EmailAddress": "first@example.com"})
        outcomes = [o async for o in client.stream([create(1), create(2)])]
    assert [o.operation for o in outcomes] == [create(1), create(2)]
    assert all(isinstance(o.error, lsq.ClientClosedError) for o in outcomes)
    assert fake.store.count() == 1


@pytest.mark.parametrize(
    ("outcome", "ok"),
    [
        pytest.param(lsq.Outcome(create(0), result=lsq.LeadCreated("x")), True, id="result"),
        pytest.param(lsq.Outcome(create(0)), True, id="neither"),
        pytest.param(lsq.Outcome(create(0), error=lsq.LeadRejectedError("dup")), False, id="error"),
        pytest.param(
            lsq.Outcome(create(0), error=lsq.ValidationError("fields", "bad")), False, id="invalid"
        ),
    ],
)
def test_outcome_ok(outcome: lsq.Outcome, ok: bool) -> None:
    """Outcome.ok is true exactly when no error is set."""
    assert outcome.ok is ok


@pytest.mark.parametrize("source", [sync_source, agen], ids=["generator", "async-generator"])
async def test_a_stream_that_outruns_max_pending_waits_for_room(source: Any) -> None:
    """With max_pending 3, rows that find no room wait for it; every row still goes, in order."""
    fake = FakeLeadSquared(rate_limit=RATE)
    async with (
        httpx2.AsyncClient(transport=fake.transport()) as http,
        lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            base_url=BASE_URL,
            http_client=http,
            rate_limit=RATE,
            max_pending=3,
        ) as client,
    ):
        ops = [create(i) for i in range(20)]
        outcomes = [o async for o in client.stream(source(ops))]
    assert [o.operation for o in outcomes] == ops
    assert all(o.ok for o in outcomes)
    assert max(fake.ledger.rows_per_call(CREATE)) <= 3  # no more than max_pending ever waited


async def test_rows_waiting_for_room_when_the_client_closes_become_closed_outcomes() -> None:
    """A row still waiting for room when aclose() begins comes out as ClientClosedError."""
    fake = FakeLeadSquared(rate_limit=RATE)
    async with httpx2.AsyncClient(transport=fake.transport()) as http:
        client = lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            base_url=BASE_URL,
            http_client=http,
            rate_limit=RATE,
            max_pending=1,
            linger=3600,
        )
        outcomes: list[lsq.Outcome] = []

        async def drain() -> None:
            async for outcome in client.stream(sync_source([create(i) for i in range(3)])):
                outcomes.append(outcome)

        draining = asyncio.create_task(drain())
        while client.stats().pending < 1:
            await asyncio.sleep(0)
        await client.aclose()
        await draining
    assert len(outcomes) == 3
    assert outcomes[0].ok  # it was queued: closing sent it
    assert isinstance(outcomes[1].error, lsq.ClientClosedError)
    assert isinstance(outcomes[2].error, lsq.ClientClosedError)
