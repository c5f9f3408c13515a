"""Real plans on virtual time: two budgets learned, rows routed by the budgets, the daily quota.

Every test runs on ``vtime.VirtualTimeLoop`` against the in-process fake on the same clock, with
LeadSquared's plans scaled five times (1 s stands for 5 s): exact, and no test sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

from .conftest import MakeClient

SCALE = 5.0
GENERAL = lsq.RateLimit(25, 1.0)  # Enterprise, version A, scaled
BULK = lsq.RateLimit(1, 1.0)
#: ``make_client``'s options here (``client_options``).
CLIENT: dict[str, Any] = {"rate_limit": GENERAL, "linger": 0.02}

pytestmark = [pytest.mark.vtime, pytest.mark.client_options(**CLIENT)]


def _fake(**options: Any) -> FakeLeadSquared:
    loop = asyncio.get_running_loop()
    return FakeLeadSquared.from_plan("enterprise-a", scale=SCALE, clock=loop.time, **options)


async def _creates(count: int, start: int = 0) -> AsyncIterator[lsq.Operation]:
    for n in range(start, start + count):
        yield lsq.CreateLead({"EmailAddress": f"import{n}@example.com"})


async def _import(client: lsq.LeadSquaredClient, count: int) -> list[lsq.Outcome]:
    return [outcome async for outcome in client.stream(_creates(count))]


@pytest.mark.parametrize("as_200", [False, True], ids=["429", "http-200"])
async def test_the_bulk_budget_is_learned_with_one_rejection_and_slows_only_bulk_calls(
    as_200: bool,
    make_client: MakeClient,
) -> None:
    """An unconfigured bulk budget costs one rejection; single-lead calls go on unpaused."""
    fake = _fake(rate_limit_as_200=as_200)
    lead_ids = [fake.store.insert({"FirstName": f"p{n}"}) for n in range(40)]
    async with await make_client(fake, spill="none") as client:
        loop = asyncio.get_running_loop()
        importing = loop.create_task(_import(client, 300))
        await asyncio.sleep(0.05)
        started: list[float] = []
        for lead_id in lead_ids:  # one automation-firing update at a time: Lead.Update
            started.append(loop.time())
            await client.update_lead_by_id(lead_id, {"mx_A": "1"}, post_updated_lead=True)
        outcomes = await importing
        assert all(o.ok for o in outcomes)
        stats = client.stats()
    assert fake.ledger.rate_limited(budget="bulk") == 1
    assert fake.ledger.rate_limited() == 1
    assert stats.bulk_rate_limit == BULK
    assert stats.rate_limit == GENERAL
    # 40 single calls at 25 per second: never held up by the bulk budget's pause.
    assert started[-1] - started[0] < 40 / 25 * 1.2


@pytest.mark.parametrize("as_200", [False, True], ids=["429", "http-200"])
async def test_a_lower_general_budget_is_learned_with_one_rejection(
    as_200: bool, make_client: MakeClient
) -> None:
    """A single-lead call refused naming a lower general limit lowers the general budget."""
    fake = _fake(rate_limit=lsq.RateLimit(10, 1.0 * SCALE), rate_limit_as_200=as_200)
    lead_ids = [fake.store.insert({"FirstName": f"p{n}"}) for n in range(60)]
    async with await make_client(fake) as client:
        await asyncio.gather(
            *(client.update_lead_by_id(i, {"mx_A": "1"}, post_updated_lead=True) for i in lead_ids)
        )
        stats = client.stats()
    assert stats.rate_limit == lsq.RateLimit(10, 1.0)
    assert fake.ledger.rate_limited(budget="general") == 1


async def test_sign_ups_beside_an_import_go_alone_and_the_import_keeps_the_bulk_budget(
    make_client: MakeClient,
) -> None:
    """General 25 / bulk 1: sign-ups take single-lead calls; the import fills every bulk grant."""
    fake = _fake()
    async with await make_client(fake, bulk_rate_limit=BULK) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        importing = loop.create_task(_import(client, 600))
        waits: list[float] = []
        for n in range(40):
            await asyncio.sleep(0.2)
            asked = loop.time()
            await client.upsert_lead({"EmailAddress": f"signup{n}@example.com"})
            waits.append(loop.time() - asked)
        outcomes = await importing
        took = loop.time() - started
        assert all(o.ok for o in outcomes)
        rows_per_second = 600 / took
    bulk_ceiling = BULK.calls / BULK.period * 50
    assert rows_per_second >= 0.85 * bulk_ceiling
    assert fake.ledger.rate_limited() == 0
    # No sign-up took a bulk grant: every upsert went alone through Lead.CreateOrUpdate.
    assert fake.ledger.calls("Lead/Bulk/CreateOrUpdate") == 0
    assert fake.ledger.calls("Lead.CreateOrUpdate") == 40
    assert max(waits) <= GENERAL.interval * 1.1 + 0.02 + 0.01  # a grant, linger, no round trip


async def test_spill_all_spends_the_spare_general_budget(make_client: MakeClient) -> None:
    """spill="all": bulk grants carry full calls and spare general grants one row each."""
    fake = _fake()
    async with await make_client(fake, bulk_rate_limit=BULK, spill="all") as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcomes = await _import(client, 1500)
        assert all(o.ok for o in outcomes)
        rows_per_second = 1500 / (loop.time() - started)
    ceiling = 50 * BULK.calls / BULK.period + (GENERAL.calls - BULK.calls) / GENERAL.period
    assert rows_per_second >= 0.85 * ceiling
    assert fake.ledger.rate_limited() == 0
    assert fake.ledger.calls("Lead.Create") > 0


async def test_spill_none_batches_everything(make_client: MakeClient) -> None:
    """spill="none" is the routing before plans: every row rides a bulk call."""
    fake = _fake()
    async with await make_client(fake, bulk_rate_limit=BULK, spill="none") as client:
        loop = asyncio.get_running_loop()
        importing = loop.create_task(_import(client, 200))
        await asyncio.gather(
            *(client.create_lead({"EmailAddress": f"s{n}@example.com"}) for n in range(10))
        )
        await importing
    assert {e.endpoint for e in fake.ledger.entries} == {"Lead/Bulk/Create"}
    assert fake.ledger.rate_limited() == 0


async def test_a_leads_rows_keep_their_order_across_roads(make_client: MakeClient) -> None:
    """A create on the single-lead road, then an upsert of the lead on the bulk road: in order."""
    fake = _fake()
    async with await make_client(fake, bulk_rate_limit=BULK) as client:
        await client.create_lead({"EmailAddress": "warmup@example.com"})  # spends the bulk
        create = await client.submit(
            lsq.CreateLead({"EmailAddress": "same@example.com", "FirstName": "A"})
        )
        upsert = await client.submit(
            lsq.UpsertLead(
                {"EmailAddress": "same@example.com", "mx_City": "Pune"},
                priority=lsq.Priority.BULK,
            )
        )
        await asyncio.gather(create, upsert)
    endpoints = [e.endpoint for e in fake.ledger.entries]
    assert endpoints.index("Lead.Create") < endpoints.index("Lead/Bulk/CreateOrUpdate")
    lead = fake.store.find_by_email("same@example.com")
    assert lead is not None
    assert (lead["FirstName"], lead["mx_City"]) == ("A", "Pune")
    assert fake.store.duplicates() == []


@pytest.mark.parametrize("message", ["window", "opaque"])
async def test_a_spent_daily_quota_fails_rows_at_once_without_hammering(
    message: str, make_client: MakeClient
) -> None:
    """Quota spent mid-import: rows answered soon, new calls refused, a rare probe at most."""
    fake = _fake(daily_quota=lsq.RateLimit(20, 86_400.0 * SCALE), quota_message=message)
    async with await make_client(fake, bulk_rate_limit=lsq.RateLimit(25, 1.0)) as client:
        loop = asyncio.get_running_loop()
        outcomes = await _import(client, 3000)
        spent_at = min(e.time for e in fake.ledger.entries if e.budget == "quota")
        answered = loop.time()
        quota_errors = sum(isinstance(o.error, lsq.QuotaExhaustedError) for o in outcomes)
        calls_before = fake.ledger.calls()
        await asyncio.sleep(60)
        error = None
        try:
            await client.create_lead({"EmailAddress": "late@example.com"})
        except lsq.LeadSquaredError as exc:
            error = exc
        await asyncio.sleep(60)
        later = fake.ledger.calls() - calls_before
        assert quota_errors > 0
        answer_delay = answered - spent_at
        calls_after = later
    # Announced ("limit of 20 in 86400 second(s)"): at once. Opaque: once refusals naming no
    # limit have gone on for a minute, the pauses between them doubling meanwhile.
    assert answer_delay <= (1.0 if message == "window" else 70.0)
    assert calls_after <= 3
    assert isinstance(error, lsq.QuotaExhaustedError)
    assert isinstance(error, lsq.RateLimitedError)
