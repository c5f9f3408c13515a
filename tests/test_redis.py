"""RedisLimiter against a real Redis: the decision script, the keys, what one instance shares.

Several limiters on one key prefix stand for several processes (tests/test_redis_fleet.py runs
real ones); times are read from the grant logs, on the Redis server's clock. Each test works
under its own random prefix (see tests/redis_support.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

import leadsq_async as lsq
from leadsq_async._budgets.redis import RedisLimiter
from leadsq_async._budgets.redis_budgets import RedisBudgets
from leadsq_async._budgets.redis_store import GRANTED, WAIT
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared
from tests.conftest import BASE_URL, SCALED, MakeClient
from tests.redis_support import REDIS_URL, SECRET, fresh_prefix, newest, wait_for_field

RATE = lsq.RateLimit(10, 0.2)
WINDOW = 0.2 * 1.02
#: Grant times are whole microseconds read back as float seconds: a gap of exactly one window
#: can come out a hair short of ``WINDOW`` in floating point.
SPACED = WINDOW - 1e-6

Make = Callable[..., RedisLimiter]


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix on the machine's Redis; its keys are deleted after the test."""
    with fresh_prefix() as name:
        yield name


@pytest.fixture
async def raw() -> AsyncIterator[aioredis.Redis]:
    """A plain asyncio Redis client for looking at the keys."""
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def make(prefix: str) -> AsyncIterator[Make]:
    """Build limiters on the test's prefix (rate 10 per 0.2 s unless given); closed after."""
    made: list[RedisLimiter] = []

    def build(rate: lsq.RateLimit | None = RATE, **options: Any) -> RedisLimiter:
        options.setdefault("prefix", prefix)
        limiter = RedisLimiter(REDIS_URL, SECRET, rate, **options)
        made.append(limiter)
        return limiter

    yield build
    for limiter in made:
        await limiter.aclose()


async def _redis_now(raw: aioredis.Redis) -> float:
    """The Redis server's clock, in seconds."""
    seconds, micros = await raw.time()
    return seconds + micros / 1e6


async def _log(raw: aioredis.Redis, key: str) -> list[tuple[str, float]]:
    """A grant log's entries: (member, time in seconds of the Redis clock)."""
    return [(m, s / 1e6) for m, s in await raw.zrange(key, 0, -1, withscores=True)]


# -- the decision script -----------------------------------------------------------------------


async def test_burst_then_at_most_calls_per_window_with_reported_waits(
    raw: aioredis.Redis, make: Make, prefix: str
) -> None:
    """burst=calls: 10 grants at once from idle, then never more than 10 in any 0.204 s."""
    limiter = make(burst=10)
    decisions = 0
    decide = limiter._decide

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal decisions
        decisions += 1
        return await decide(*args, **kwargs)

    limiter._decide = counted  # type: ignore[method-assign]
    grants: list[float] = []
    started = time.monotonic()
    for _ in range(35):
        await limiter.acquire()
        grants.append(await newest(raw, limiter.key))
    elapsed = time.monotonic() - started
    assert grants[9] - grants[0] < 0.05  # the burst from idle
    assert all(b - a >= SPACED for a, b in zip(grants, grants[10:], strict=False))
    assert 3 * WINDOW <= elapsed < 3 * WINDOW + 0.25  # waits are as long as needed, no longer
    # Each wait comes from the script, so a caller wakes when a slot frees instead of polling.
    assert decisions <= 2 * 35
    # After a full burst the script says how long to wait: until the oldest grant leaves.
    fresh = make(burst=10, prefix=f"{prefix}-b")
    for _ in range(10):
        await fresh.acquire()
    reply = await fresh._decide()
    assert reply.status == WAIT
    assert 0.15 < reply.wait_us / 1e6 <= WINDOW + 0.001


async def test_default_burst_spaces_grants_evenly(raw: aioredis.Redis, make: Make) -> None:
    """The default burst=1: grants at least 0.2 / 10 s apart on the Redis clock, no burst."""
    limiter = make()
    grants: list[float] = []
    for _ in range(15):
        await limiter.acquire()
        grants.append(await newest(raw, limiter.key))
    spacing = 0.2 / 10
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert min(gaps) >= spacing - 1e-6
    assert sum(gaps) / len(gaps) < spacing + 0.01  # and not much more: the wait is exact
    assert all(b - a >= SPACED for a, b in zip(grants, grants[10:], strict=False))


async def test_a_bulk_grant_takes_both_budgets_at_one_instant(
    raw: aioredis.Redis, make: Make
) -> None:
    """A bulk grant is one entry, same time, in both logs; a general one only in the general."""
    limiter = make(bulk_rate=lsq.RateLimit(2, 0.2))
    general, bulk = limiter.keys[:2]
    for _ in range(3):
        await limiter.grant(bulk=True)
        await limiter.grant(bulk=False)
    await limiter.grant(bulk=True)
    bulk_log, general_log = await _log(raw, bulk), await _log(raw, general)
    assert len(bulk_log) == 2  # the two of the last window; older entries were trimmed
    assert set(bulk_log) <= set(general_log)  # same member, same instant of the Redis clock
    bulk_times = [t for _, t in bulk_log]
    assert bulk_times[1] - bulk_times[0] >= 0.2 / 2 - 1e-6  # the bulk budget's spacing


async def test_a_bulk_call_that_must_wait_takes_neither_grant(
    raw: aioredis.Redis, make: Make
) -> None:
    """Bulk budget full: the script says how long, adds no general entry; a single goes on."""
    limiter = make(bulk_rate=lsq.RateLimit(1, 0.2))
    await limiter.grant(bulk=True)
    await asyncio.sleep(0.03)  # past the general spacing (0.02 s), well inside the bulk window
    reply = await limiter._decide(general=True, bulk=True)
    assert reply.status == WAIT
    assert 0.1 < reply.wait_us / 1e6 <= WINDOW
    assert len(await _log(raw, limiter.keys[0])) == 1
    assert (await limiter._decide(general=True, bulk=False)).status == GRANTED
    assert len(await _log(raw, limiter.keys[0])) == 2
    assert len(await _log(raw, limiter.keys[1])) == 1


async def test_a_due_bulk_call_has_first_claim_on_the_general_budget(
    raw: aioredis.Redis, make: Make
) -> None:
    """Another process's single calls step aside for a bulk call due within a general interval."""
    rates = {"rate": lsq.RateLimit(4, 0.2), "bulk_rate": lsq.RateLimit(1, 0.25)}
    bulk_side, single_side = make(**rates), make(**rates)
    stop = asyncio.Event()

    async def singles() -> None:
        while not stop.is_set():
            await single_side.grant(bulk=False)

    task = asyncio.create_task(singles())
    try:
        grants = []
        for _ in range(5):
            await bulk_side.grant(bulk=True)
            grants.append(await newest(raw, bulk_side.keys[1]))
    finally:
        stop.set()
        await task
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    # Without the first claim, a single taking the general grant at the bulk call's due time
    # pushes it back by a general interval (0.05 s) each time.
    assert sum(gaps) / len(gaps) < 0.25 * 1.02 + 0.02, gaps


# -- keys ------------------------------------------------------------------------------------


async def test_keys_share_one_hash_slot_and_never_hold_the_access_key(
    raw: aioredis.Redis, make: Make, prefix: str
) -> None:
    """Four keys, {prefix}:{digest}:..., all in the digest's slot; no access key anywhere."""
    limiter = make(bulk_rate=lsq.RateLimit(5, 0.2), daily_quota=100)
    budgets = RedisBudgets(limiter)
    await budgets.acquire(bulk=True)
    budgets.rejected(lsq.RateLimit(4, 0.2), 0.01, bulk_call=False)
    budgets.rejected(lsq.RateLimit(3, 0.2), 0.01, bulk_call=True)
    budgets.rejected(lsq.RateLimit(90, 86400), 0.0, bulk_call=False)
    await wait_for_field(raw, limiter.keys[2], "b_calls")
    await wait_for_field(raw, limiter.keys[3], "exhausted_us")
    digest = hashlib.sha256(SECRET.encode()).hexdigest()[:24]
    keys = sorted([key async for key in raw.scan_iter(match=f"{prefix}:*")])
    names = ("general", "bulk", "state", "quota")
    assert keys == sorted(f"{prefix}:{{{digest}}}:{name}" for name in names)
    assert list(limiter.keys) == [f"{prefix}:{{{digest}}}:{name}" for name in names]
    assert {key_slot(key.encode()) for key in keys} == {key_slot(digest.encode())}
    seen: list[str] = []
    for key in keys:
        if await raw.type(key) == "zset":
            seen += await raw.zrange(key, 0, -1)
        else:
            for field, value in (await raw.hgetall(key)).items():
                seen += [field, value]
        seen.append(key)
    assert not [text for text in seen if SECRET in text or SECRET[:12] in text]


async def test_keys_expire_on_their_own(raw: aioredis.Redis, make: Make, prefix: str) -> None:
    """Logs live a window and a second, the state as long plus any pause, the quota a day."""
    limiter = make(bulk_rate=lsq.RateLimit(2, 1.0))
    await limiter.grant(bulk=True)
    limiter.pause(2.0)
    await wait_for_field(raw, limiter.keys[2], "g_paused_us")
    general, bulk, state, quota = limiter.keys
    assert 0 < await raw.pttl(general) <= 204 + 1000
    assert 1020 < await raw.pttl(bulk) <= 1020 + 1000
    assert 2000 < await raw.pttl(state) <= 2000 + 1020 + 1000  # the pause outlives the window
    assert 86_400_000 < await raw.pttl(quota) <= 86_400_000 + 60_000 + 1000
    short = make(prefix=f"{prefix}-short", key_ttl=0.3, quota_window=0.2)
    await short.acquire()
    short.pause(0.05)
    await wait_for_field(raw, short.keys[2], "g_paused_us")
    assert 0 < await raw.pttl(short.key) <= 300
    assert 0 < await raw.pttl(short.keys[3]) <= 1201
    await asyncio.sleep(0.45)
    assert await raw.exists(*short.keys[:3]) == 0


def test_repr_and_errors_never_show_the_access_key() -> None:
    """repr shows prefix and budgets; validation messages leave the key out."""
    limiter = RedisLimiter(REDIS_URL, SECRET, RATE, prefix="p", bulk_rate=lsq.RateLimit(1, 5))
    text = repr(limiter)
    assert SECRET not in text
    assert "prefix='p'" in text
    assert "rate=10/0.2, bulk_rate=1/5" in text
    for bad in ({"fallback": "never"}, {"daily_quota": 0}, {"budget": "other"}):
        with pytest.raises(ValueError, match=next(iter(bad))) as caught:
            RedisLimiter(REDIS_URL, SECRET, **bad)  # type: ignore[arg-type]
        assert SECRET not in str(caught.value)
    assert isinstance(limiter, lsq.Limiter)


# -- what one process learns, every process honours --------------------------------------------


async def test_a_pause_of_one_budget_holds_only_that_budget_in_another_process(
    raw: aioredis.Redis, make: Make
) -> None:
    """A bulk pause from one limiter holds back another's bulk grants, not its single ones."""
    rates = {"bulk_rate": lsq.RateLimit(5, 0.2)}
    one, other = make(**rates), make(**rates)
    await other.grant(bulk=True)
    bulk_view = RedisBudgets(one).bulk
    assert bulk_view is not None
    paused_at = await _redis_now(raw)
    bulk_view.pause(0.4)
    await wait_for_field(raw, one.keys[2], "b_paused_us")
    await other.grant(bulk=False)
    assert await newest(raw, other.keys[0]) - paused_at < 0.1
    await other.grant(bulk=True)
    assert 0.4 <= await newest(raw, other.keys[1]) - paused_at < 0.5


async def test_lower_limits_adopted_by_one_instance_hold_for_another(
    raw: aioredis.Redis, make: Make
) -> None:
    """A lower general and bulk limit adopted by one limiter cap another; higher ones don't."""
    rates = {"bulk_rate": lsq.RateLimit(5, 0.2)}
    one, other = make(**rates), make(**rates)
    budgets = RedisBudgets(one)
    budgets.rejected(lsq.RateLimit(4, 0.2), 0.0, bulk_call=False)
    budgets.rejected(lsq.RateLimit(2, 0.2), 0.0, bulk_call=True)
    assert (one.rate, one.bulk_rate) == (lsq.RateLimit(4, 0.2), lsq.RateLimit(2, 0.2))
    await wait_for_field(raw, one.keys[2], "b_calls")
    one.adopt(lsq.RateLimit(50, 0.2))  # higher: ignored here and in Redis
    await asyncio.sleep(0.05)
    grants = []
    for _ in range(9):
        await other.acquire()
        grants.append(await newest(raw, other.key))
    assert (other.rate, other.bulk_rate) == (lsq.RateLimit(4, 0.2), lsq.RateLimit(2, 0.2))
    assert all(b - a >= SPACED for a, b in zip(grants, grants[4:], strict=False))
    assert await raw.hget(one.keys[2], "g_calls") == "4"


async def test_a_bulk_budget_learned_in_one_process_reaches_another(
    raw: aioredis.Redis, make: Make
) -> None:
    """Neither knows a bulk budget; one learns it from a rejection; the other then keeps it."""
    one, other = make(), make()
    other_budgets = RedisBudgets(other)
    assert other_budgets.bulk is None
    lesson = RedisBudgets(one).rejected(lsq.RateLimit(1, 0.2), 0.0, bulk_call=True)
    assert (lesson.budget, one.bulk_rate) == ("bulk", lsq.RateLimit(1, 0.2))
    await wait_for_field(raw, one.keys[2], "b_calls")
    await other_budgets.acquire(bulk=False)  # any decision brings it
    assert other.bulk_rate == lsq.RateLimit(1, 0.2)
    assert other_budgets.bulk is not None
    grants = []
    for _ in range(3):
        await other_budgets.acquire(bulk=True)
        grants.append(await newest(raw, other.keys[1]))
    assert all(b - a >= SPACED for a, b in itertools.pairwise(grants))


# -- the daily quota ---------------------------------------------------------------------------


async def test_the_quota_counts_every_process_once_and_keeps_a_reserve(
    raw: aioredis.Redis, make: Make
) -> None:
    """Two limiters, one quota of 10 with 0.2 kept for interactive calls: 8 bulk, then 2."""
    one, other = make(daily_quota=10, quota_reserve=0.2), make(daily_quota=10, quota_reserve=0.2)
    for _ in range(5):
        await one.grant(bulk=False)
    for _ in range(3):
        await other.grant(bulk=False)
    assert (other.quota.used, other.quota.left) == (8, 2)
    assert await raw.hget(one.keys[3], "total") == "8"
    with pytest.raises(lsq.QuotaExhaustedError):
        await other.grant(bulk=False)  # a call that may carry bulk rows stops at 8
    assert not other.quota.allows(interactive=False)
    assert other.quota.allows(interactive=True)
    for _ in range(2):
        await one.grant(bulk=False, interactive=True)
    with pytest.raises(lsq.LimiterUnavailableError):  # what the engine waits on
        await one.grant(bulk=False, interactive=True)
    assert (one.quota.used, one.quota.left) == (10, 0)
    reset_in = one.quota.reset_in
    assert reset_in is not None
    assert 86_400 - 61 < reset_in <= 86_400 + 60


async def test_the_quota_is_a_rolling_window_aged_bucket_by_bucket(
    raw: aioredis.Redis, make: Make
) -> None:
    """A 0.5 s "day": calls leave the count as their bucket leaves the window, not before."""
    limiter = make(daily_quota=5, quota_window=0.5, burst=10)  # grants back to back
    for _ in range(3):
        await limiter.grant(bulk=False)
    await asyncio.sleep(0.3)
    for _ in range(2):
        await limiter.grant(bulk=False)
    with pytest.raises(lsq.QuotaExhaustedError):
        await limiter.grant(bulk=False, interactive=True)
    reset_in = limiter.quota.reset_in
    assert reset_in is not None
    assert 0.1 < reset_in <= 0.21  # the first three leave 0.5 s after their bucket ends
    await asyncio.sleep(reset_in + 0.02)  # the three took a few 0.35 ms buckets
    await limiter.grant(bulk=False, interactive=True)
    assert limiter.quota.used == 3  # the two of 0.3 s ago and this one
    assert await raw.hget(limiter.keys[3], "total") == "3"


async def test_a_spent_quota_stops_every_process_and_one_probe_finds_it_back(
    raw: aioredis.Redis, make: Make
) -> None:
    """One process hears the quota is spent; the other stops; one probe at a time; back."""
    one, other = make(), make()
    one_budgets, other_budgets = RedisBudgets(one), RedisBudgets(other)
    one_budgets.rejected(lsq.RateLimit(100, 86_400), 1.0, bulk_call=False)
    assert (one.quota.limit, one.quota.exhausted_until) == (100, float("inf"))
    await wait_for_field(raw, one.keys[3], "exhausted_us")
    with pytest.raises(lsq.QuotaExhaustedError):
        await other_budgets.acquire(bulk=False)
    assert (other.quota.limit, other.quota.exhausted_until) == (100, float("inf"))
    assert not other.quota.probe_due()  # the first probe is a minute away
    await raw.hset(one.keys[3], "probe_at_us", 0)  # that minute has passed on the Redis clock
    with pytest.raises(lsq.QuotaExhaustedError):
        await other_budgets.acquire(bulk=False)  # the refusal says a probe may go now
    assert other.quota.probe_due()
    await other_budgets.acquire(bulk=False)  # the probe
    with pytest.raises(lsq.QuotaExhaustedError):
        await one.grant(bulk=False, probe=True)  # the next probe is two minutes away
    other.quota.recovered()  # the probe went through: the quota is back, for everyone
    await asyncio.sleep(0.05)
    await one_budgets.acquire(bulk=False)
    assert one.quota.exhausted_until is None


async def test_a_spent_quota_with_a_known_reset_comes_back_by_itself(
    raw: aioredis.Redis, make: Make
) -> None:
    """exhaust(0.3) in one process: the other is refused until then, granted after."""
    one, other = make(), make()
    one.quota.exhaust(0.3)
    await wait_for_field(raw, one.keys[3], "exhausted_us")
    with pytest.raises(lsq.QuotaExhaustedError) as caught:
        await other.grant(bulk=False)
    assert caught.value.resets_in is not None
    assert 0.2 < caught.value.resets_in <= 0.3
    await asyncio.sleep(caught.value.resets_in + 0.01)
    await other.grant(bulk=False)
    assert other.quota.exhausted_until is None


# -- the client ------------------------------------------------------------------------------


async def test_the_client_from_env_shares_every_budget_through_one_limiter(
    raw: aioredis.Redis, prefix: str
) -> None:
    """LSQ_REDIS_URL: one RedisLimiter with the bulk rate, quota and reserve of the settings."""
    fake = FakeLeadSquared(rate_limit=SCALED)
    env = {
        "LSQ_ACCESS_KEY": DEMO_ACCESS_KEY,
        "LSQ_SECRET_KEY": DEMO_SECRET_KEY,
        "LSQ_BASE_URL": BASE_URL,
        "LSQ_RATE": "25/0.25",
        "LSQ_BULK_RATE": "2/0.25",
        "LSQ_DAILY_QUOTA": "50",
        "LSQ_QUOTA_RESERVE": "0.3",
        "LSQ_REDIS_URL": REDIS_URL,
        "LSQ_REDIS_PREFIX": prefix,
    }
    async with httpx2.AsyncClient(transport=fake.transport()) as http:
        client = lsq.LeadSquaredClient.from_env(env, http_client=http, linger=0.005)
        async with client:
            limiter = client.limiter
            assert isinstance(limiter, RedisLimiter)
            assert isinstance(client._budgets, RedisBudgets)
            assert limiter.bulk_rate == lsq.RateLimit(2, 0.25)
            assert (limiter.quota.limit, limiter.quota.reserve) == (50, 0.3)
            await asyncio.gather(
                *(client.create_lead({"EmailAddress": f"e{i}@example.com"}) for i in range(30))
            )
            stats = client.stats()
        calls = fake.ledger.calls()
        assert await raw.hget(limiter.keys[3], "total") == str(stats.quota_used)
        assert calls <= stats.quota_used <= calls + 2  # a grant the engine did not use counts
        assert stats.bulk_rate_limit == lsq.RateLimit(2, 0.25)


async def test_the_old_bulk_limiter_form_still_works_and_warns(
    raw: aioredis.Redis, make_client: MakeClient, prefix: str
) -> None:
    """budget="bulk" warns; with a general RedisLimiter beside it, both budgets are shared."""
    with pytest.warns(DeprecationWarning, match="budget"):
        old_bulk = RedisLimiter(
            REDIS_URL, DEMO_ACCESS_KEY, lsq.RateLimit(1, 0.2), prefix=prefix, budget="bulk"
        )
    general = RedisLimiter(REDIS_URL, DEMO_ACCESS_KEY, SCALED, prefix=prefix)
    try:
        assert "budget='bulk'" in repr(old_bulk)
        await old_bulk.acquire()  # alone, it grants from the bulk log only
        assert await raw.exists(general.keys[0]) == 0
        assert len(await _log(raw, general.keys[1])) == 1
        client = await make_client(limiter=general, bulk_limiter=old_bulk, rate_limit=None)
        assert isinstance(client._budgets, RedisBudgets)
        assert general.bulk_rate == lsq.RateLimit(1, 0.2)
        await client.create_lead({"EmailAddress": "old@example.com"})
        assert len(await _log(raw, general.keys[0])) == 1
    finally:
        await general.aclose()
        await old_bulk.aclose()
