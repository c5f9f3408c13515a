"""Real processes, one account: the budgets and the quota shared through one Redis.

Each test serves the fake LeadSquared with uvicorn in a process of its own and drives worker
processes (tests/redis_worker.py), each building its own client with a ``RedisLimiter`` (or,
for contrast, in-process limiters) and pushing creates. The fake's ledger says what the account
saw. Budgets are scaled so that a test takes seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from leadsq_async.testing import remote_reset, remote_summary, serve_subprocess
from tests.redis_support import Workers, brief, fresh_prefix, workers

CEILING = 25.0  # calls per second at the fake's scaled window of 25 per 1 s
#: LeadSquared's Super plan, version A (10 calls and 1 bulk call per 5 s), 10 times faster.
SUPER_A = ("10/5", "--plan", "super-a", "--scale", "10")
#: The default margin of 0.02 leaves 100 ms for jitter in a real 5 s window, 10 ms in this
#: scaled one: more than a loaded test machine may hold a request back. 0.1 leaves 50 ms.
SCALED_MARGIN = ("--margin", "0.1")
SUPER_A_RATES = ("--rate", "10/0.5", "--bulk-rate", "1/0.5", *SCALED_MARGIN)


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix on the machine's Redis; its keys are deleted after the test."""
    with fresh_prefix() as name:
        yield name


def _alone(pool: Workers, index: int, duration: float, *pairs: str) -> dict[str, Any]:
    """Worker ``index`` alone pushes creates for ``duration`` s; its report."""
    start = time.monotonic() + 0.1
    pool.order(index, "redis", start, start + duration, *pairs)
    return pool.report(index)


def _errors(report: dict[str, Any], name: str) -> int:
    """How many of a worker's rows failed with the exception named ``name``."""
    count: int = report["counts"].get(name, 0)
    return count


#: A 5 % margin (50 ms a window) covers the scheduling jitter of four processes on a loaded
#: two-core machine; the shared window is what these tests test, not the margin.
JITTER = ("margin=0.05",)


@pytest.mark.timeout(60)
def test_four_processes_share_one_budget_and_in_process_limiters_do_not(prefix: str) -> None:
    """Through Redis: no 429, <= 25 in any 1 s, >= 0.9 of the ceiling; in-process only: 429s."""
    with serve_subprocess("25/1") as url, workers(url, prefix) as pool:
        shared = pool.run("redis", 5.0, CEILING, *JITTER)
        alone = pool.run("local", 2.5, CEILING)
    print(f"\nfour processes, one RedisLimiter: {brief(shared)}")
    print(f"four processes, in-process TokenBucketLimiter(25/1) each: {brief(alone)}")
    assert shared["rate_limited"] == 0
    assert shared["max_calls_in_window"] <= 25
    assert shared["fraction_of_ceiling"] >= 0.9
    assert shared["duplicates"] == 0
    assert all(w["counts"]["ok"] > 0 for w in shared["workers"])
    assert alone["rate_limited"] > 0, "in-process limiters should overrun the account's limit"
    assert alone["max_calls_in_window"] > 25


@pytest.mark.timeout(60)
def test_a_process_with_a_skewed_clock_keeps_the_window(prefix: str) -> None:
    """One worker's clocks run 5 s ahead and another's 3 s behind: still no 429, <= 25 in 1 s."""
    with serve_subprocess("25/1") as url, workers(url, prefix, 4, (5.0, -3.0)) as pool:
        figures = pool.run("redis", 5.0, CEILING, *JITTER)
    print(f"\nfour processes, two with skewed clocks: {brief(figures)}")
    assert figures["rate_limited"] == 0
    assert figures["max_calls_in_window"] <= 25
    assert figures["fraction_of_ceiling"] >= 0.9
    assert all(w["counts"]["ok"] > 0 for w in figures["workers"])


@pytest.mark.timeout(60)
def test_two_processes_share_the_general_and_the_bulk_budget(prefix: str) -> None:
    """Super (version A), scaled: through Redis no 429, each budget within its limit."""
    with serve_subprocess(*SUPER_A) as url, workers(url, prefix, 2, (), *SUPER_A_RATES) as pool:
        shared = pool.run("redis", 4.0, 20.0)
        alone = pool.run("local", 2.5, 20.0)
    print(f"\ntwo processes, one RedisLimiter (10/0.5, bulk 1/0.5): {brief(shared)}")
    print(f"two processes, in-process budgets each: {brief(alone)}")
    budgets = shared["budgets"]
    assert shared["rate_limited"] == 0
    assert budgets["general"]["max_calls_in_window"] <= 10
    assert budgets["bulk"]["max_calls_in_window"] <= 1
    assert shared["endpoints"]["Lead/Bulk/Create"]["calls"] >= 6  # the bulk budget, used
    assert shared["endpoints"].get("Lead.Create", {"calls": 0})["calls"] > 0  # general, too
    assert shared["fraction_of_ceiling"] >= 0.6  # singles go only while the bulk budget is away
    assert all(w["counts"]["ok"] > 0 for w in shared["workers"])
    assert alone["rate_limited"] > 0, "in-process budgets should overrun the account's"


@pytest.mark.timeout(60)
def test_a_bulk_budget_learned_by_one_process_reaches_the_other(prefix: str) -> None:
    """No process knows the bulk budget; the first learns it; the second never meets a 429."""
    with (
        serve_subprocess(*SUPER_A) as url,
        workers(url, prefix, 2, (), "--rate", "10/0.5", *SCALED_MARGIN) as pool,
    ):
        first = _alone(pool, 0, 1.0)
        between = remote_summary(url, 0.5)
        remote_reset(url)
        second = _alone(pool, 1, 1.5)
        after = remote_summary(url, 0.5)
    print(f"\nthe first process: {first}\nthe second: {second}")
    assert between["budgets"]["bulk"]["rejected"] >= 1  # how the first one learned it
    assert first["bulk_rate_limit"] == "1/0.5"
    assert second["bulk_rate_limit"] == "1/0.5"
    assert second["client_rate_limited"] == 0
    assert after["rate_limited"] == 0
    assert after["budgets"]["bulk"]["max_calls_in_window"] <= 1
    assert second["counts"]["ok"] > 0


@pytest.mark.timeout(60)
def test_two_processes_spend_one_daily_quota_and_count_each_call_once(prefix: str) -> None:
    """Quota 40 (held back by none): together at most 40 calls, no quota 429; apart: 80."""
    quota = ("--daily-quota", "40")
    with (
        # The general budget is the fake's 100 per 0.5 s: only the quota can refuse a call.
        serve_subprocess("100/0.5", "--daily-quota", "40/3600") as url,
        workers(url, prefix, 2, (), "--rate", "10/0.5", *quota) as pool,
    ):
        shared = pool.run("redis", 3.0, 20.0)
        alone = pool.run("local", 3.0, 20.0)
    print(f"\ntwo processes, one quota of 40 through Redis: {brief(shared)}")
    print(f"two processes, a quota of 40 each: {brief(alone)}")
    accepted = shared["calls"] - shared["rate_limited"]
    assert shared["rate_limited"] == 0
    assert 36 <= accepted <= 40  # a grant the engine left unused still counts
    for report in shared["workers"]:
        assert _errors(report, "QuotaExhaustedError") > 0  # both stopped at the shared count
        assert report["quota_used"] >= 40  # and both saw the one count
    assert alone["budgets"]["quota"]["rejected"] > 0  # apart, each thinks it has 40


@pytest.mark.timeout(60)
def test_a_quota_one_process_finds_spent_stops_the_other(prefix: str) -> None:
    """No process knows the quota; the first is told it is spent; the second sends nothing."""
    with (
        serve_subprocess("100/0.5", "--daily-quota", "20/3600") as url,
        workers(url, prefix, 2, (), "--rate", "10/0.5") as pool,
    ):
        first = _alone(pool, 0, 2.0)
        between = remote_summary(url)
        second = _alone(pool, 1, 1.0)
        after = remote_summary(url)
    print(f"\nthe first process: {first}\nthe second: {second}")
    assert between["budgets"]["quota"]["rejected"] >= 1  # how the first one learned it
    assert _errors(first, "QuotaExhaustedError") > 0
    assert after["calls"] == between["calls"]  # the second sent nothing at all
    assert second["counts"]["ok"] == 0
    assert _errors(second, "QuotaExhaustedError") == second["counts"]["submitted"] > 0
