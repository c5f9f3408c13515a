"""RedisLimiter on a redis-server of the test's own: Redis going away, and Redis Cluster.

Each test starts its own ``redis-server`` on a free port (tests/redis_support.py), so it can
kill and restart it, or run it as a one-node cluster where keys of different hash slots cannot
meet in one script.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

import leadsq_async as lsq
from leadsq_async._budgets.redis import RedisLimiter
from leadsq_async._budgets.redis_budgets import RedisBudgets
from leadsq_async.testing import DEMO_ACCESS_KEY, FakeLeadSquared
from tests.conftest import SCALED, MakeClient
from tests.redis_support import SECRET, RedisServer, free_port


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own on a free port; killed after the test."""
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.mark.timeout(30)
async def test_wait_mode_raises_while_redis_is_down_and_recovers(own_redis: RedisServer) -> None:
    """fallback="wait": acquire raises LimiterUnavailableError promptly, grants after restart."""
    limiter = RedisLimiter(own_redis.url, SECRET, lsq.RateLimit(10, 0.2), prefix="outage")
    try:
        for _ in range(3):
            await limiter.acquire()
        own_redis.kill()
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(lsq.LimiterUnavailableError) as caught:
                await limiter.acquire()
            assert time.monotonic() - started < 1.5
            assert SECRET not in str(caught.value)
        limiter.pause(0.01)  # its write to Redis fails in the background, quietly
        await asyncio.sleep(0.05)
        own_redis.start()
        await limiter.acquire()
        await limiter.acquire()
        general, _, _, quota = limiter.keys
        assert own_redis.keys() == sorted([general, quota])  # granted by the restarted Redis
    finally:
        await limiter.aclose()


@pytest.mark.timeout(30)
async def test_local_mode_keeps_granting_at_its_share_and_goes_back_to_redis(
    own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """fallback="local": both budgets go on at the local share while Redis is down, logged once."""
    caplog.set_level(logging.INFO, logger="leadsq_async")
    limiter = RedisLimiter(
        own_redis.url,
        SECRET,
        lsq.RateLimit(20, 0.5),
        bulk_rate=lsq.RateLimit(8, 0.5),
        prefix="outage",
        fallback="local",
        local_share=0.25,
        retry_interval=0.2,
    )
    try:
        for _ in range(3):
            await limiter.acquire()
        assert not limiter.degraded
        own_redis.kill()
        grants: list[float] = []
        started = time.monotonic()
        while time.monotonic() - started < 1.2:
            await limiter.acquire()
            grants.append(time.monotonic())
        assert limiter.degraded
        # The in-process limiter at a quarter of the budget: 5 per 0.5 s, a burst from idle.
        assert 10 <= len(grants) <= 16  # 3 windows' worth, the last begun before 1.2 s
        assert all(b - a >= 0.5 for a, b in zip(grants, grants[5:], strict=False))
        bulk_grants: list[float] = []
        for _ in range(4):  # the bulk budget at a quarter too: 2 per 0.5 s
            await limiter.grant(bulk=True)
            bulk_grants.append(time.monotonic())
        assert bulk_grants[2] - bulk_grants[0] >= 0.5
        fallbacks = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
        assert len(fallbacks) == 1
        assert "0.25 of each budget (5/0.5, 2/0.5)" in fallbacks[0].getMessage()
        own_redis.start()
        started = time.monotonic()
        while limiter.degraded:
            await limiter.acquire()
            assert time.monotonic() - started < 2.0
        general, _, _, quota = limiter.keys
        assert own_redis.keys() == sorted([general, quota])  # from the restarted Redis
        for _ in range(10):  # the full shared budget again, not the local share
            await limiter.acquire()
        assert time.monotonic() - started < 1.2
        recovered = [r for r in caplog.records if "Redis answers again" in r.getMessage()]
        assert len(recovered) == 1
        assert len([r for r in caplog.records if "Redis unavailable" in r.getMessage()]) == 1
        assert not [r for r in caplog.records if SECRET in r.getMessage()]
    finally:
        await limiter.aclose()


@pytest.mark.timeout(30)
async def test_client_fails_rows_at_their_deadline_while_redis_is_down(
    own_redis: RedisServer, make_client: MakeClient, fake: FakeLeadSquared
) -> None:
    """Default mode end to end: a row fails with LimiterUnavailableError at its deadline."""
    limiter = RedisLimiter(own_redis.url, DEMO_ACCESS_KEY, SCALED, prefix="outage")
    client = await make_client(limiter=limiter, rate_limit=None, delivery_timeout=1.0)
    try:
        await client.create_lead({"EmailAddress": "before@example.com"})
        own_redis.kill()
        started = time.monotonic()
        with pytest.raises(lsq.LimiterUnavailableError):
            await client.create_lead({"EmailAddress": "during@example.com"})
        assert 0.8 < time.monotonic() - started < 2.5
        own_redis.start()
        created = await client.create_lead({"EmailAddress": "after@example.com"})
        assert created.lead_id
        assert fake.store.count() == 2
    finally:
        await client.aclose(timeout=1)
        await limiter.aclose()


@pytest.mark.timeout(30)
async def test_every_script_runs_on_redis_cluster(tmp_path: Path) -> None:
    """A one-node Redis Cluster: grants, pauses, limits and the quota, no CROSSSLOT anywhere."""
    server = RedisServer(free_port(), tmp_path, cluster=True)
    server.start()
    cluster = aioredis.RedisCluster(host="127.0.0.1", port=server.port, decode_responses=True)
    rates = {"bulk_rate": lsq.RateLimit(2, 0.2), "daily_quota": 100, "prefix": "cluster"}
    limiter = RedisLimiter(cluster, SECRET, lsq.RateLimit(10, 0.2), **rates)
    other = RedisLimiter(cluster, SECRET, lsq.RateLimit(10, 0.2), **rates)
    try:
        budgets = RedisBudgets(limiter)
        for bulk in (True, False, True):
            await budgets.acquire(bulk)
        budgets.rejected(lsq.RateLimit(1, 0.2), 0.05, bulk_call=True)
        budgets.rejected(lsq.RateLimit(5, 0.2), 0.05, bulk_call=False)
        await asyncio.sleep(0.1)  # the writes are in the background
        await other.grant(bulk=True)
        assert (other.rate, other.bulk_rate) == (lsq.RateLimit(5, 0.2), lsq.RateLimit(1, 0.2))
        assert other.quota.used == 4
        limiter.quota.exhaust(None)
        await asyncio.sleep(0.05)
        with pytest.raises(lsq.QuotaExhaustedError):
            await other.grant(bulk=False)
        assert sorted(server.keys()) == sorted(limiter.keys)
        assert len({await cluster.cluster_keyslot(key) for key in limiter.keys}) == 1
    finally:
        await limiter.aclose()
        await other.aclose()
        await cluster.aclose()
        server.kill()
