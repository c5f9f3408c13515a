"""The fake's budgets: general and bulk rate limits, the daily quota, and the published plans."""

from __future__ import annotations

import argparse
import re

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import (
    PLANS,
    FakeLeadSquared,
    FaultPlan,
    Limit,
    Plan,
    add_arguments,
    build_fake,
)

from .fake_support import LM, USER, Clock, client

RATE_LIMITED = "MXAPIRateLimitExceededException"
# What the client reads out of a rejection; an "opaque" quota message must not match it.
LIMIT_IN_MESSAGE = re.compile(r"limit of\s+(\d+)\s+in\s+(\d+(?:\.\d+)?)\s+second", re.IGNORECASE)


def message(calls: int, period: str) -> str:
    """The service's rejection text for a budget of ``calls`` in ``period`` seconds."""
    return f"API calls exceeded the limit of {calls} in {period} second(s)"


async def bulk(c: httpx2.AsyncClient, n: int) -> httpx2.Response:
    """One Lead/Bulk/Create call creating lead ``n``."""
    body = [[{"Attribute": "EmailAddress", "Value": f"lead{n}@example.com"}]]
    return await c.post(LM + "Lead/Bulk/Create", json=body)


async def lookup(c: httpx2.AsyncClient) -> httpx2.Response:
    """One single-lead lookup (ordinary budget only)."""
    return await c.get(LM + "Leads.GetById", params={"id": "x"})


async def test_a_bulk_call_counts_in_both_budgets_by_default() -> None:
    """Two bulk calls take two of the general budget's three slots: one lookup fits, not two."""
    fake = FakeLeadSquared(rate_limit=Limit(3, 5), bulk_rate_limit=Limit(2, 5), clock=Clock())
    async with client(fake) as c:
        assert [(await bulk(c, n)).status_code for n in range(2)] == [200, 200]
        assert [(await lookup(c)).status_code for _ in range(2)] == [200, 429]
    assert fake.ledger.entries[-1].budget == "general"


async def test_a_bulk_rejection_takes_no_general_slot() -> None:
    """A bulk call refused by the bulk budget names 1 in 5 and leaves the general budget alone."""
    fake = FakeLeadSquared(rate_limit=Limit(3, 5), bulk_rate_limit=Limit(1, 5), clock=Clock())
    async with client(fake) as c:
        first, second = await bulk(c, 1), await bulk(c, 2)
        lookups = [await lookup(c) for _ in range(3)]
    assert (first.status_code, second.status_code) == (200, 429)
    assert second.json() == {
        "Status": "Error",
        "ExceptionType": RATE_LIMITED,
        "ExceptionMessage": message(1, "5"),
    }
    # 1 bulk call + 2 lookups fill the general budget of 3; the refused bulk call took none.
    assert [r.status_code for r in lookups] == [200, 200, 429]
    assert lookups[2].json()["ExceptionMessage"] == message(3, "5")
    assert [e.budget for e in fake.ledger.entries] == [None, "bulk", None, None, "general"]
    assert fake.store.count() == 1


async def test_single_lead_calls_pass_while_the_bulk_budget_is_full() -> None:
    """With the bulk budget spent, Lead.Update and the lookups still go through."""
    fake = FakeLeadSquared(rate_limit=Limit(25, 5), bulk_rate_limit=Limit(1, 5), clock=Clock())
    lead_id = fake.store.insert({"EmailAddress": "a@example.com"})
    async with client(fake) as c:
        assert (await bulk(c, 1)).status_code == 200
        assert (await bulk(c, 2)).status_code == 429
        update = await c.post(
            LM + "Lead.Update",
            params={"leadId": lead_id},
            json=[{"Attribute": "FirstName", "Value": "Ann"}],
        )
        assert update.status_code == 200
        assert (await lookup(c)).status_code == 200
        assert (await c.get(USER)).status_code == 200
        assert (await bulk(c, 3)).status_code == 429
    assert fake.ledger.rate_limited("bulk") == 2
    assert fake.ledger.rate_limited("general") == 0


async def test_bulk_calls_can_be_kept_out_of_the_general_budget() -> None:
    """With bulk_counts_in_general=False, bulk calls use only the bulk budget."""
    fake = FakeLeadSquared(
        rate_limit=Limit(2, 5),
        bulk_rate_limit=Limit(5, 5),
        bulk_counts_in_general=False,
        clock=Clock(),
    )
    assert fake.bulk_counts_in_general is False
    async with client(fake) as c:
        assert [(await bulk(c, n)).status_code for n in range(4)] == [200] * 4
        assert [(await lookup(c)).status_code for _ in range(3)] == [200, 200, 429]
        assert (await bulk(c, 4)).status_code == 200  # the lookups took no bulk slot
        refused = await bulk(c, 5)
    assert refused.json()["ExceptionMessage"] == message(5, "5")


async def test_the_quota_is_spent_then_recovers_after_its_scaled_window() -> None:
    """Once the quota is spent every call is refused until the oldest calls age out."""
    clock = Clock()
    fake = FakeLeadSquared(rate_limit=None, daily_quota=Limit(5, 10.0), clock=clock)
    async with client(fake) as c:
        for n in range(5):
            clock.now = float(n)
            assert (await bulk(c, n)).status_code == 200
        clock.now = 4.5
        refused = await c.get(USER)
        assert refused.status_code == 429
        assert refused.json()["ExceptionMessage"] == message(5, "10")
        clock.now = 9.99
        assert (await lookup(c)).status_code == 429
        clock.now = 10.0  # the call at t=0 ages out; the refused ones never counted
        assert (await lookup(c)).status_code == 200
        assert (await lookup(c)).status_code == 429
        clock.now = 14.0  # the calls at 1 to 4 have aged out too: only t=10 is left
        assert [(await c.get(USER)).status_code for _ in range(5)] == [200] * 4 + [429]
    assert fake.ledger.rate_limited("quota") == 4
    assert fake.ledger.calls(accepted_only=True) == 10
    assert fake.store.count() == 5


async def test_every_accepted_call_counts_in_the_quota_and_no_refused_one() -> None:
    """Lookups, bulk and user calls all count; 401s, 404s and window rejections do not."""
    clock = Clock()
    fake = FakeLeadSquared(rate_limit=Limit(1, 5), daily_quota=Limit(3, 100), clock=clock)
    async with client(fake) as c:
        assert (await c.get(USER)).status_code == 200  # quota 1
        assert (await lookup(c)).status_code == 429  # general full: not counted
        assert (await c.get(USER, headers={"x-LSQ-SecretKey": "wrong"})).status_code == 401
        assert (await c.get("/v2/LeadManagement.svc/Nothing")).status_code == 404
        clock.now = 5.0
        assert (await bulk(c, 1)).status_code == 200  # quota 2
        clock.now = 10.0
        assert (await lookup(c)).status_code == 200  # quota 3
        clock.now = 15.0
        refused = await lookup(c)
    assert refused.json()["ExceptionMessage"] == message(3, "100")
    assert [e.budget for e in fake.ledger.entries if e.rate_limited] == ["general", "quota"]


async def test_the_first_full_budget_is_named_general_then_bulk_then_quota() -> None:
    """When several budgets are full, the rejection names the general one first."""
    clock = Clock()
    fake = FakeLeadSquared(
        rate_limit=Limit(1, 5), bulk_rate_limit=Limit(1, 5), daily_quota=Limit(1, 50), clock=clock
    )
    async with client(fake) as c:
        assert (await bulk(c, 1)).status_code == 200
        assert (await bulk(c, 2)).json()["ExceptionMessage"] == message(1, "5")
        clock.now = 5.0
        assert (await bulk(c, 3)).json()["ExceptionMessage"] == message(1, "50")
    assert [e.budget for e in fake.ledger.entries] == [None, "general", "quota"]


@pytest.mark.parametrize("as_200", [False, True])
@pytest.mark.parametrize("budget", ["bulk", "quota"])
async def test_both_rejection_forms_name_the_budget_s_real_numbers(
    budget: str, as_200: bool
) -> None:
    """HTTP 429 or HTTP 200 with the same envelope, naming the exceeded budget's numbers."""
    fake = FakeLeadSquared(
        rate_limit=Limit(10, 5),
        bulk_rate_limit=Limit(1, 5) if budget == "bulk" else None,
        daily_quota=Limit(1, 86400) if budget == "quota" else None,
        rate_limit_as_200=as_200,
        retry_after=3,
        clock=Clock(),
    )
    async with client(fake) as c:
        assert (await bulk(c, 1)).status_code == 200
        refused = await bulk(c, 2)
    assert refused.status_code == (200 if as_200 else 429)
    assert ("retry-after" in refused.headers) is not as_200
    expected = message(1, "5") if budget == "bulk" else message(1, "86400")
    assert refused.json() == {
        "Status": "Error",
        "ExceptionType": RATE_LIMITED,
        "ExceptionMessage": expected,
    }
    entry = fake.ledger.entries[-1]
    assert (entry.rate_limited, entry.budget, entry.status, entry.applied) == (
        True,
        budget,
        refused.status_code,
        False,
    )


@pytest.mark.parametrize("as_200", [False, True])
async def test_an_opaque_quota_message_names_no_numbers(as_200: bool) -> None:
    """quota_message="opaque": same envelope, in words a client cannot read a limit from."""
    fake = FakeLeadSquared(
        rate_limit=Limit(1, 5),
        daily_quota=Limit(2, 20),
        quota_message="opaque",
        rate_limit_as_200=as_200,
        clock=(clock := Clock()),
    )
    async with client(fake) as c:
        assert (await lookup(c)).status_code == 200
        general = await lookup(c)  # the general budget's message keeps its numbers
        clock.now = 5.0
        assert (await lookup(c)).status_code == 200
        clock.now = 10.0
        quota = await lookup(c)
    assert general.json()["ExceptionMessage"] == message(1, "5")
    assert quota.status_code == (200 if as_200 else 429)
    assert quota.json()["ExceptionType"] == RATE_LIMITED
    text = quota.json()["ExceptionMessage"]
    assert LIMIT_IN_MESSAGE.search(text) is None
    assert not re.search(r"\d", text)
    assert fake.ledger.entries[-1].budget == "quota"


def test_plan_presets_match_both_versions_of_the_page() -> None:
    """Version A: bulk 1/5 and no quota; version B: Pro and Super with bulk budgets and quotas."""
    version_a = {"lite": 2, "basic": 10, "pro": 5, "super": 10, "standard": 15, "enterprise": 25}
    for name, calls in version_a.items():
        plan = PLANS[f"{name}-a"]
        assert plan.limits() == {
            "rate_limit": Limit(calls, 5),
            "bulk_rate_limit": Limit(1, 5),
            "daily_quota": None,
        }
    assert PLANS["pro-b"].limits() == {
        "rate_limit": Limit(10, 5),
        "bulk_rate_limit": Limit(5, 5),
        "daily_quota": Limit(11_000, 86400),
    }
    assert PLANS["super-b"].limits(users=5)["daily_quota"] == Limit(105_000, 86400)
    assert PLANS["pro-b"].daily_quota(users=300) == Limit(250_000, 86400)  # the cap
    assert PLANS["super-b"].daily_quota(users=5000) == Limit(1_000_000, 86400)
    assert PLANS["super-b"].limits()["bulk_rate_limit"] == Limit(10, 5)
    assert sorted(PLANS) == sorted([f"{n}-a" for n in version_a] + ["pro-b", "super-b"])
    assert all(isinstance(p, Plan) for p in PLANS.values())


async def test_from_plan_with_scale_divides_every_period() -> None:
    """enterprise-a at scale 5: 25 calls and 1 bulk call per second, rejections say so."""
    clock = Clock()
    fake = FakeLeadSquared.from_plan("enterprise-a", scale=5, clock=clock)
    assert (fake.rate_limit, fake.bulk_rate_limit, fake.daily_quota) == (
        Limit(25, 1),
        Limit(1, 1),
        None,
    )
    assert fake.plan is PLANS["enterprise-a"]
    assert "plan=enterprise-a" in repr(fake)
    async with client(fake) as c:
        assert (await bulk(c, 1)).status_code == 200
        clock.now = 0.5
        refused = await bulk(c, 2)
        assert refused.json()["ExceptionMessage"] == message(1, "1")
        assert (await lookup(c)).status_code == 200
        clock.now = 1.0
        assert (await bulk(c, 3)).status_code == 200


async def test_from_plan_pro_b_quota_scaled_down() -> None:
    """pro-b with a scale of a day per 10 s: 11,000 calls per 10 s, named in the rejection."""
    fake = FakeLeadSquared.from_plan("PRO-B", scale=8640, users=1, clock=Clock())
    assert fake.daily_quota == Limit(11_000, 10)
    assert fake.bulk_rate_limit == Limit(5, 5 / 8640)
    small = FakeLeadSquared.from_plan(
        "pro-b", daily_quota=Limit(2, 86400), scale=8640, clock=Clock()
    )
    assert small.daily_quota == Limit(2, 10)  # an override is scaled like the plan's limits
    async with client(small) as c:
        assert [(await c.get(USER)).status_code for _ in range(3)] == [200, 200, 429]
        assert (await c.get(USER)).json()["ExceptionMessage"] == message(2, "10")


def test_from_plan_overrides_and_validation() -> None:
    """Explicit limits replace the plan's (any calls/period object); bad input is refused."""
    fake = FakeLeadSquared.from_plan(
        "pro-a", bulk_rate_limit=lsq.RateLimit(5, 5), rate_limit_as_200=True
    )
    assert (fake.rate_limit, fake.bulk_rate_limit) == (Limit(5, 5), Limit(5, 5))
    assert fake.rate_limit_as_200 is True
    assert FakeLeadSquared.from_plan("lite-a", bulk_rate_limit=None).bulk_rate_limit is None
    assert FakeLeadSquared.from_plan(PLANS["lite-a"]).rate_limit == Limit(2, 5)
    with pytest.raises(ValueError, match="unknown plan"):
        FakeLeadSquared.from_plan("gold")
    with pytest.raises(ValueError, match="users"):
        FakeLeadSquared.from_plan("pro-b", users=0)
    with pytest.raises(ValueError, match="scale"):
        FakeLeadSquared.from_plan("pro-b", scale=0)
    with pytest.raises(TypeError, match="calls and period"):
        FakeLeadSquared.from_plan("pro-b", daily_quota=100)
    with pytest.raises(ValueError, match="quota_message"):
        FakeLeadSquared(quota_message="loud")  # type: ignore[arg-type]


async def test_limits_accept_any_calls_period_object_and_can_change() -> None:
    """The client's RateLimit is accepted and kept as a Limit; limits can be changed live."""
    clock = Clock()
    fake = FakeLeadSquared(daily_quota=lsq.RateLimit(1, 60), clock=clock)
    assert fake.daily_quota == Limit(1, 60)
    async with client(fake) as c:
        assert (await c.get(USER)).status_code == 200
        assert (await c.get(USER)).status_code == 429
        fake.daily_quota = Limit(2, 60)  # the calls already counted stay counted
        assert (await c.get(USER)).status_code == 200
        assert (await c.get(USER)).status_code == 429
        fake.daily_quota = None
        assert (await c.get(USER)).status_code == 200
        fake.reset()
        fake.daily_quota = Limit(1, 60)  # the reset forgot every counted call
        assert (await c.get(USER)).status_code == 200


async def test_summary_reports_each_budget() -> None:
    """summary() gives each budget's limit, rejections and busiest window of its own kind."""
    clock = Clock()
    fake = FakeLeadSquared(
        rate_limit=Limit(3, 5), bulk_rate_limit=Limit(1, 5), daily_quota=Limit(4, 100), clock=clock
    )
    async with client(fake) as c:
        assert [(await bulk(c, n)).status_code for n in range(2)] == [200, 429]
        assert [(await lookup(c)).status_code for _ in range(3)] == [200, 200, 429]
        clock.now = 5.0
        assert [(await lookup(c)).status_code for _ in range(2)] == [200, 429]
        fake.set_faults(FaultPlan(rate_limited=1.0))
        assert (await lookup(c)).status_code == 429  # forced: no budget
    summary = fake.summary()
    assert summary["rate_limited"] == 4  # one per budget, and the forced one
    assert summary["budgets"] == {
        "general": {"limit": "3/5", "rejected": 1, "max_calls_in_window": 5},
        "bulk": {"limit": "1/5", "rejected": 1, "max_calls_in_window": 2},
        "quota": {"limit": "4/100", "rejected": 1, "max_calls_in_window": 8},
    }
    assert fake.ledger.entries[-1].budget is None
    assert fake.ledger.max_calls_in_window(5.0, where=lambda e: e.budget is None) == 3
    default = FakeLeadSquared().summary()["budgets"]
    assert default == {"general": {"limit": "25/5", "rejected": 0, "max_calls_in_window": 0}}


def test_cli_budget_and_plan_options() -> None:
    """--plan, --scale, --users, --bulk-rate, --daily-quota and friends build the right fake."""
    parser = add_arguments(argparse.ArgumentParser())

    def fake(*argv: str) -> FakeLeadSquared:
        return build_fake(parser.parse_args(list(argv)))

    plain = fake()
    assert (plain.rate_limit, plain.bulk_rate_limit, plain.daily_quota) == (Limit(), None, None)
    assert plain.bulk_counts_in_general is True
    assert plain.plan is None
    pro = fake("--plan", "pro-b", "--users", "3", "--scale", "5")
    assert (pro.rate_limit, pro.bulk_rate_limit, pro.daily_quota) == (
        Limit(10, 1),
        Limit(5, 1),
        Limit(13_000, 86400 / 5),
    )
    assert pro.plan is PLANS["pro-b"]
    raised = fake("--plan", "enterprise-a", "--bulk-rate", "5/5", "--rate", "25/5")
    assert (raised.rate_limit, raised.bulk_rate_limit) == (Limit(25, 5), Limit(5, 5))
    assert fake("--plan", "lite-a", "--bulk-rate", "none").bulk_rate_limit is None
    assert fake("--plan", "lite-a").rate_limit == Limit(2, 5)  # the --rate default gives way
    own = fake("--rate", "10/5", "--bulk-rate", "1/5", "--daily-quota", "100", "--scale", "5")
    assert (own.rate_limit, own.bulk_rate_limit, own.daily_quota) == (
        Limit(10, 1),
        Limit(1, 1),
        Limit(100, 86400 / 5),
    )
    assert fake("--daily-quota", "100/10").daily_quota == Limit(100, 10)
    assert fake("--daily-quota", "none").daily_quota is None
    other = fake("--no-bulk-in-general", "--quota-message", "opaque")
    assert (other.bulk_counts_in_general, other.quota_message) == (False, "opaque")
    with pytest.raises(ValueError, match="--users goes with --plan"):
        fake("--users", "3")
    for bad in (["--plan", "gold"], ["--scale", "0"], ["--users", "0"], ["--daily-quota", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
