"""Real processes, one account: the budgets and the quota shared through one Redis.

Each test serves the fake LeadSquared with uvicorn in a process of its own and drives worker
processes (tests/redis_worker.py), each building its own client with a ``RedisLimiter`` (or,
for contrast, in-process limiters) and pushing creates. The fake's ledger says what the account
saw. Budgets are scaled so that a test takes seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadsq_async.testing import serve_subprocess
from tests.redis_support import brief, fresh_prefix, workers

CEILING = 25.0  # calls per second at the fake's scaled window of 25 per 1 s


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix on the machine's Redis; its keys are deleted after the test."""
    with fresh_prefix() as name:
        yield name


@pytest.mark.timeout(60)
def test_four_processes_share_one_budget_and_in_process_limiters_do_not(prefix: str) -> None:
    """Through Redis: no 429, <= 25 in any 1 s, >= 0.9 of the ceiling; in-process only: 429s."""
    with serve_subprocess("25/1") as url, workers(url, prefix) as pool:
        shared = pool.run("redis", 5.0, CEILING)
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
        figures = pool.run("redis", 5.0, CEILING)
    print(f"\nfour processes, two with skewed clocks: {brief(figures)}")
    assert figures["rate_limited"] == 0
    assert figures["max_calls_in_window"] <= 25
    assert figures["fraction_of_ceiling"] >= 0.9
    assert all(w["counts"]["ok"] > 0 for w in figures["workers"])
