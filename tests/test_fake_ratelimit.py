"""The fake's rate limit (sliding-window log) and its ledger."""

from __future__ import annotations

import asyncio

import pytest

from leadsq_async._budgets.limiters import RateLimit
from leadsq_async.testing import (
    FakeLeadSquared,
    FaultPlan,
    Ledger,
    LedgerEntry,
)

from .fake_support import LM, USER, Clock, client


def create_body(n: int) -> list[list[dict[str, str]]]:
    return [[{"Attribute": "EmailAddress", "Value": f"lead{n}@example.com"}]]


def rate_limit_body(calls: int, period: str) -> dict[str, str]:
    return {
        "Status": "Error",
        "ExceptionType": "MXAPIRateLimitExceededException",
        "ExceptionMessage": f"API calls exceeded the limit of {calls} in {period} second(s)",
    }


async def test_window_rejects_the_26th_call_and_frees_after_the_period() -> None:
    """25 calls fill the 5 s window; the 26th is a 429 that changes nothing; then it frees."""
    clock = Clock()
    fake = FakeLeadSquared(clock=clock)
    async with client(fake) as c:
        for n in range(25):
            clock.now = n * 0.1
            r = await c.post(LM + "Lead/Bulk/Create", json=create_body(n))
            assert r.status_code == 200
        clock.now = 4.99
        r = await c.post(LM + "Lead/Bulk/Create", json=create_body(99))
        assert r.status_code == 429
        assert r.json() == rate_limit_body(25, "5")
        assert "retry-after" not in r.headers
        assert fake.store.find_by_email("lead99@example.com") is None
        clock.now = 5.0  # the call at t=0 has left the window
        r = await c.post(LM + "Lead/Bulk/Create", json=create_body(99))
        assert r.status_code == 200
        r = await c.get(USER)  # the call at 0.1 is still inside (0.1 > 5.0 - 5)
        assert r.status_code == 429
    ledger = fake.ledger
    assert ledger.calls() == 28
    assert ledger.calls(accepted_only=True) == 26
    assert ledger.rate_limited() == 2
    rejected = ledger.entries[25]
    assert (rejected.rate_limited, rejected.applied, rejected.status) == (True, False, 429)
    assert rejected.time == 4.99
    assert ledger.rows_per_call("Lead/Bulk/Create") == [1] * 26
    assert ledger.max_calls_in_window() == 27  # [0.1, 5.1) holds 24 + 3 received
    assert ledger.max_calls_in_window(5.0, endpoint="Lead/Bulk/Create") == 26


async def test_message_names_configured_numbers_and_retry_after() -> None:
    """The 429 names the real numbers (period with :g) and carries Retry-After when set."""
    clock = Clock()
    fake = FakeLeadSquared(rate_limit=RateLimit(3, 0.25), retry_after=1.5, clock=clock)
    async with client(fake) as c:
        statuses = [(await c.get(USER)).status_code for _ in range(4)]
        r = await c.get(USER)
    assert statuses == [200, 200, 200, 429]
    assert r.json() == rate_limit_body(3, "0.25")
    assert r.headers["retry-after"] == "1.5"


async def test_real_time_scaled_window() -> None:
    """With 25 calls per 0.25 s of real time, the 26th is refused until the window passes."""
    fake = FakeLeadSquared(rate_limit=RateLimit.parse("25/0.25"))
    async with client(fake) as c:
        results = await asyncio.gather(*(c.get(USER) for _ in range(30)))
        assert sorted(r.status_code for r in results) == [200] * 25 + [429] * 5
        await asyncio.sleep(0.3)
        assert (await c.get(USER)).status_code == 200
    assert fake.ledger.max_calls_in_window() == 30
    assert fake.ledger.max_calls_in_window(0.25, endpoint="UserByAccessKey.Get") == 30


async def test_bulk_budget_is_separate() -> None:
    """Bulk endpoints must also pass bulk_rate_limit; its rejections name its own numbers."""
    clock = Clock()
    fake = FakeLeadSquared(
        rate_limit=RateLimit(6, 5), bulk_rate_limit=RateLimit(2, 10), clock=clock
    )
    async with client(fake) as c:
        bulk = [(await c.post(LM + "Lead/Bulk/Create", json=create_body(n))) for n in range(3)]
        assert [r.status_code for r in bulk] == [200, 200, 429]
        assert bulk[2].json() == rate_limit_body(2, "10")
        # The bulk rejection did not use the general window: 4 more ordinary calls fit.
        gets = [(await c.get(LM + "Leads.GetById", params={"id": "x"})) for _ in range(5)]
        assert [r.status_code for r in gets] == [200] * 4 + [429]
        assert gets[4].json() == rate_limit_body(6, "5")
        clock.now = 5.0  # the general window frees, the bulk one does not
        r = await c.post(LM + "Lead/Bulk/UpdateV2", json={"LeadPropertiesList": [{"Fields": []}]})
        assert r.json() == rate_limit_body(2, "10")
        assert (await c.get(USER)).status_code == 200
    assert fake.store.count() == 2


async def test_rate_limit_as_200_and_none() -> None:
    """rate_limit_as_200 answers HTTP 200 with the error body; rate_limit=None never limits."""
    clock = Clock()
    fake = FakeLeadSquared(rate_limit=RateLimit(1, 5), rate_limit_as_200=True, clock=clock)
    async with client(fake) as c:
        assert (await c.post(LM + "Lead/Bulk/Create", json=create_body(1))).status_code == 200
        r = await c.post(LM + "Lead/Bulk/Create", json=create_body(2))
    assert r.status_code == 200
    assert r.json() == rate_limit_body(1, "5")
    assert fake.store.count() == 1
    assert fake.ledger.rate_limited() == 1
    assert fake.ledger.entries[-1].status == 200

    unlimited = FakeLeadSquared(rate_limit=None, clock=clock)
    async with client(unlimited) as c:
        results = [await c.get(USER) for _ in range(60)]
    assert all(r.status_code == 200 for r in results)


async def test_forced_rate_limit_fault() -> None:
    """A rate_limited fault rejects whatever the window holds, in either form."""
    fake = FakeLeadSquared(faults=FaultPlan(rate_limited=1.0), retry_after=2)
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/Create", json=create_body(1))
        assert r.status_code == 429
        assert r.json() == rate_limit_body(25, "5")
        assert r.headers["retry-after"] == "2"
        fake.set_faults(FaultPlan(rate_limited=1.0, rate_limited_as_200=1.0))
        r = await c.post(LM + "Lead/Bulk/Create", json=create_body(1))
        assert r.status_code == 200
        assert r.json()["ExceptionType"] == "MXAPIRateLimitExceededException"
        # UserByAccessKey.Get is not a lead endpoint: no faults there.
        assert (await c.get(USER)).status_code == 200
    assert fake.store.count() == 0
    assert [e.fault for e in fake.ledger.entries] == ["rate_limited", "rate_limited", None]
    assert fake.ledger.rate_limited() == 2
    assert fake.ledger.calls(accepted_only=True) == 1


def test_max_calls_in_window_hand_built() -> None:
    """max_calls_in_window counts the busiest half-open window [t, t + window)."""
    ledger = Ledger()
    assert ledger.max_calls_in_window(1.0) == 0
    times = [0.0, 0.25, 0.5, 2.0, 2.125, 2.25, 2.375, 6.0]  # exact in binary
    for i, t in enumerate(reversed(times)):  # arrival order does not matter
        endpoint = "Leads.GetById" if t == 2.25 else "Lead/Bulk/Create"
        ledger.record(LedgerEntry(t, endpoint, seq=i, rate_limited=t == 2.125))
    assert ledger.max_calls_in_window(0.5) == 4  # [2.0, 2.5)
    assert ledger.max_calls_in_window(0.375) == 3  # 2.375 is outside [2.0, 2.375)
    assert ledger.max_calls_in_window(0.25) == 2
    assert ledger.max_calls_in_window(2.0) == 5  # [0.5, 2.5)
    assert ledger.max_calls_in_window(2.0, endpoint="Lead/Bulk/Create") == 4
    assert ledger.max_calls_in_window(6.0) == 7  # 6.0 is outside [0, 6)
    assert ledger.max_calls_in_window(6.125) == 8
    assert ledger.max_calls_in_window() == 7  # default window 5 s: [0, 5)
    assert ledger.rate_limited() == 1
    assert ledger.calls("Leads.GetById") == 1
    assert ledger.calls(accepted_only=True) == 7
    assert [e.time for e in ledger.entries] == times[::-1]  # sorted by seq
    two = Ledger()
    two.record(LedgerEntry(0.0, "x"))
    two.record(LedgerEntry(1.0, "x"))
    assert two.max_calls_in_window(1.0) == 1  # half-open: 1.0 is outside [0, 1)
    two.clear()
    assert two.entries == []


def test_fake_ledger_default_window_is_rate_period() -> None:
    """A fake's ledger uses the configured rate period as its default window."""
    fake = FakeLeadSquared(rate_limit=RateLimit(25, 0.25))
    for i, t in enumerate([0.0, 0.2, 0.3]):
        fake.ledger.record(LedgerEntry(t, "Leads.GetById", seq=i))
    assert fake.ledger.max_calls_in_window() == 2


@pytest.mark.vtime
async def test_ledger_keeps_arrival_order_under_latency() -> None:
    """An entry finished late still sits at its arrival position."""
    fake = FakeLeadSquared()
    fake.set_faults(FaultPlan(latency=(0.05, 0.05)), "Leads.GetById")
    async with client(fake) as c:
        slow = asyncio.ensure_future(c.get(LM + "Leads.GetById", params={"id": "x"}))
        await asyncio.sleep(0.01)
        fast = await c.get(LM + "Leads.GetByEmailaddress", params={"emailaddress": "a@b.c"})
        assert not slow.done()
        await slow
    assert fast.status_code == 200
    assert [e.endpoint for e in fake.ledger.entries] == [
        "Leads.GetById",
        "Leads.GetByEmailaddress",
    ]


def test_rate_limit_validation() -> None:
    """Bad configuration is refused up front."""
    with pytest.raises(ValueError, match="row_error_style"):
        FakeLeadSquared(row_error_style="loud")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        FaultPlan(system_error=1.5)
    with pytest.raises(ValueError, match="latency"):
        FaultPlan(latency=(0.2, 0.1))
