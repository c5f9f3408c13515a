"""The rate limit as the service counts it: no 429s, rejections survived, lower limits adopted."""

from __future__ import annotations

import logging

import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared, FaultPlan

from .conftest import SCALED, MakeClient, gather_all, loop_time

pytestmark = pytest.mark.vtime


async def test_scaled_run_never_trips_the_limit(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """4,000 creates at 25 calls per 0.25 s: no 429, at most 25 calls in any window."""
    client = await make_client()
    results = await gather_all(
        *(client.create_lead({"EmailAddress": f"r{i}@example.com"}) for i in range(4000))
    )
    assert all(isinstance(r, lsq.LeadCreated) for r in results)
    assert fake.ledger.rate_limited() == 0
    assert fake.ledger.max_calls_in_window(SCALED.period) <= SCALED.calls
    assert fake.ledger.calls("Lead/Bulk/Create") == 80


@pytest.mark.parametrize("as_200", [0.0, 1.0, 0.5], ids=["http-429", "http-200", "both"])
async def test_rate_limit_rejections_are_retried_until_every_row_succeeds(
    fake: FakeLeadSquared, make_client: MakeClient, as_200: float
) -> None:
    """Forced rate-limit rejections (429 and the HTTP-200 body form) are waited out and retried."""
    fake.set_faults(FaultPlan(rate_limited=0.3, rate_limited_as_200=as_200))
    client = await make_client()
    results = await gather_all(
        *(client.upsert_lead({"EmailAddress": f"u{i}@example.com"}) for i in range(150))
    )
    assert all(isinstance(r, lsq.LeadUpserted) and r.created for r in results)
    rejected = [e for e in fake.ledger.entries if e.rate_limited]
    assert rejected
    assert client.stats().rate_limited == len(rejected)
    assert {e.status for e in rejected} == {0.0: {429}, 1.0: {200}, 0.5: {200, 429}}[as_200]
    assert fake.store.count() == 150
    assert fake.store.duplicates() == []


async def test_a_lower_announced_limit_is_adopted_and_logged_once(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """When the service names a lower limit than configured, the client adopts it and warns once."""
    fake = FakeLeadSquared(rate_limit=lsq.RateLimit(10, 0.25), clock=loop_time)
    client = await make_client(transport=fake.transport())
    with caplog.at_level(logging.WARNING, logger="leadsq_async"):
        results = await gather_all(
            *(client.create_lead({"EmailAddress": f"l{i}@example.com"}) for i in range(1500))
        )
    assert all(isinstance(r, lsq.LeadCreated) for r in results)
    # Bulk calls teach the bulk budget, then the single-lead calls interactive rows spill onto
    # teach the general one (issue 13): one rejection and one warning per budget.
    assert client.limiter.rate == lsq.RateLimit(10, 0.25)
    assert client.stats().bulk_rate_limit == lsq.RateLimit(10, 0.25)
    adopted = [r for r in caplog.records if "lower rate limit" in r.getMessage()]
    assert len(adopted) == 2
    before = fake.ledger.rate_limited()
    assert 1 <= before <= 2
    # Once adopted, the lower limit holds: the next batch of calls sees no rejection.
    await gather_all(*(client.create_lead({"FirstName": f"n{i}"}) for i in range(600)))
    assert fake.ledger.rate_limited() == before


async def test_retry_after_header_is_honoured(make_client: MakeClient) -> None:
    """A Retry-After on a 429 sets the pause before the next call."""
    fake = FakeLeadSquared(rate_limit=SCALED, retry_after=0.2, clock=loop_time)
    fake.set_faults(FaultPlan(rate_limited=1.0))
    client = await make_client(transport=fake.transport())
    submitted = await client.submit(lsq.CreateLead({"FirstName": "A"}))
    while not fake.ledger.entries:
        await __import__("asyncio").sleep(0.01)
    fake.set_faults(None)
    result = await submitted
    assert isinstance(result, lsq.LeadCreated)
    first, second = fake.ledger.entries[0], fake.ledger.entries[1]
    assert second.time - first.time >= 0.2


async def test_bulk_budget_is_also_respected(make_client: MakeClient) -> None:
    """With a separate bulk budget, bulk calls stay within it as well as within the main one."""
    bulk = lsq.RateLimit(5, 0.25)
    fake = FakeLeadSquared(rate_limit=SCALED, bulk_rate_limit=bulk, clock=loop_time)
    client = await make_client(transport=fake.transport(), bulk_rate_limit=bulk)
    results = await gather_all(
        *(client.create_lead({"EmailAddress": f"b{i}@example.com"}) for i in range(600))
    )
    assert all(isinstance(r, lsq.LeadCreated) for r in results)
    assert fake.ledger.rate_limited() == 0
    # Interactive rows may spill onto Lead.Create meanwhile (issue 13): count the bulk calls.
    assert fake.ledger.max_calls_in_window(bulk.period, "Lead/Bulk/Create") <= bulk.calls
    assert fake.ledger.max_calls_in_window(SCALED.period) <= SCALED.calls


async def test_wrong_keys_raise_authentication_error(make_client: MakeClient) -> None:
    """A 401 fails every row of the call with AuthenticationError, without retrying."""
    client = await make_client(secret_key="not-the-secret")
    results = await gather_all(*(client.create_lead({"FirstName": f"A{i}"}) for i in range(3)))
    assert all(isinstance(r, lsq.AuthenticationError) for r in results)
    assert "not-the-secret" not in str(results[0])
    assert client.stats().retries == 0


async def test_rows_fail_with_delivery_timeout_when_never_let_through(
    fake: FakeLeadSquared, make_client: MakeClient
) -> None:
    """A row the service keeps rejecting as rate-limited fails at its delivery deadline."""
    fake.set_faults(FaultPlan(rate_limited=1.0))
    client = await make_client(delivery_timeout=0.3)
    result = (await gather_all(client.upsert_lead({"EmailAddress": "t@example.com"})))[0]
    assert isinstance(result, lsq.DeliveryTimeoutError)
    assert isinstance(result, lsq.RateLimitedError)
    assert "rate limited" in str(result)
    assert fake.store.count() == 0
