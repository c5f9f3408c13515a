"""RedisLimiter against a real Redis and real processes: one budget shared by every process.

Uses the machine's Redis (``REDIS_URL``, default ``redis://127.0.0.1:6379/0``); each test works
under its own random key prefix. Without a reachable Redis the tests skip locally and fail in
CI (``CI`` set). The outage tests start their own ``redis-server`` on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

import leadsq_async as lsq
from leadsq_async._redis import RedisLimiter
from leadsq_async.testing import (
    DEMO_ACCESS_KEY,
    FakeLeadSquared,
    remote_reset,
    remote_summary,
    serve_subprocess,
)
from tests.conftest import SCALED, MakeClient

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
WORKER = Path(__file__).resolve().parent / "redis_worker.py"
SECRET = "0123456789abcdef-the-raw-access-key"
CEILING = 25.0  # calls per second at the fake's scaled window of 25 per 1 s


def _redis_or_fail() -> None:
    """Skip (locally) or fail (in CI) when the machine's Redis does not answer."""
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1) as r:
            r.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        message = f"no Redis answers at {REDIS_URL}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix on the machine's Redis; its keys are deleted after the test."""
    _redis_or_fail()
    name = f"leadsq-test-{uuid.uuid4().hex[:12]}"
    yield name
    with redis.Redis.from_url(REDIS_URL) as r:
        keys = list(r.scan_iter(match=f"{name}:*"))
        if keys:
            r.delete(*keys)


@pytest.fixture
async def raw() -> AsyncIterator[aioredis.Redis]:
    """A plain asyncio Redis client for looking at the keys."""
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def limiters(prefix: str) -> AsyncIterator[list[RedisLimiter]]:
    """A list the test fills with limiters; all are closed after the test."""
    made: list[RedisLimiter] = []
    yield made
    for limiter in made:
        await limiter.aclose()


async def _newest(raw: aioredis.Redis, key: str) -> float:
    """The newest grant time in the log, in seconds of the Redis server's clock."""
    entries = await raw.zrange(key, -1, -1, withscores=True)
    return float(entries[0][1]) / 1e6


async def _wait_for_state(raw: aioredis.Redis, key: str, field: str) -> None:
    """Wait (at most 2 s) until the background write has put ``field`` in the shared state."""
    for _ in range(200):
        if await raw.hget(f"{key}:state", field) is not None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{field} never reached Redis")


# -- the script ------------------------------------------------------------------------------


async def test_burst_then_at_most_calls_per_window_with_reported_waits(
    prefix: str, raw: aioredis.Redis, limiters: list[RedisLimiter]
) -> None:
    """burst=calls: 10 grants at once from idle, then never more than 10 in any 0.204 s."""
    limiter = RedisLimiter(REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix=prefix, burst=10)
    limiters.append(limiter)
    decisions = 0
    decide = limiter._decide

    async def counted() -> float:
        nonlocal decisions
        decisions += 1
        return await decide()

    limiter._decide = counted  # type: ignore[method-assign]
    grants: list[float] = []
    started = time.monotonic()
    for _ in range(35):
        await limiter.acquire()
        grants.append(await _newest(raw, limiter.key))
    elapsed = time.monotonic() - started
    assert grants[9] - grants[0] < 0.05  # the burst from idle
    window = 0.2 * 1.02
    assert all(b - a >= window for a, b in zip(grants, grants[10:], strict=False)), (
        "a window overflowed"
    )
    assert 3 * window <= elapsed < 3 * window + 0.25  # waits are as long as needed, no longer
    # Each wait comes from the script, so a caller wakes when a slot frees instead of polling.
    assert decisions <= 2 * 35  # at most one wait per grant: no blind polling
    # After a full burst the script says how long to wait: until the oldest grant leaves.
    fresh = RedisLimiter(
        REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix=prefix, budget="b", burst=10
    )
    limiters.append(fresh)
    for _ in range(10):
        await fresh.acquire()
    wait = await fresh._decide()
    assert 0.15 < wait <= window + 0.001


async def test_default_burst_spaces_grants_evenly(
    prefix: str, raw: aioredis.Redis, limiters: list[RedisLimiter]
) -> None:
    """The default burst=1: grants at least 0.2 / 10 s apart on the Redis clock, no burst."""
    limiter = RedisLimiter(REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix=prefix)
    limiters.append(limiter)
    grants: list[float] = []
    for _ in range(15):
        await limiter.acquire()
        grants.append(await _newest(raw, limiter.key))
    spacing = 0.2 / 10
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert min(gaps) >= spacing - 1e-6
    assert sum(gaps) / len(gaps) < spacing + 0.01  # and not much more: the wait is exact
    assert all(b - a >= 0.2 * 1.02 for a, b in zip(grants, grants[10:], strict=False))


async def test_keys_hold_a_digest_never_the_access_key(
    prefix: str, raw: aioredis.Redis, limiters: list[RedisLimiter]
) -> None:
    """Key names and values under the prefix never contain the access key; names its digest."""
    limiter = RedisLimiter(REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix=prefix)
    bulk = RedisLimiter(REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix=prefix, budget="bulk")
    limiters.extend([limiter, bulk])
    for one in (limiter, bulk):
        await one.acquire()
        one.pause(0.01)
        one.adopt(lsq.RateLimit(5, 0.2))
        await _wait_for_state(raw, one.key, "calls")
    digest = hashlib.sha256(SECRET.encode()).hexdigest()[:24]
    keys = sorted([key async for key in raw.scan_iter(match=f"{prefix}:*")])
    assert keys == sorted(
        f"{prefix}:{digest}:{budget}{suffix}"
        for budget in ("all", "bulk")
        for suffix in ("", ":state")
    )
    seen: list[str] = []
    for key in keys:
        kind = await raw.type(key)
        if kind == "zset":
            seen += await raw.zrange(key, 0, -1)
        else:
            assert kind == "hash"
            for field, value in (await raw.hgetall(key)).items():
                seen += [field, value]
        seen.append(key)
    assert seen
    assert not [text for text in seen if SECRET in text or SECRET[:12] in text]


async def test_keys_expire_on_their_own(
    prefix: str, raw: aioredis.Redis, limiters: list[RedisLimiter]
) -> None:
    """Both keys carry a TTL of about a window plus a second (and the pause), and go away."""
    limiter = RedisLimiter(REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix=prefix)
    limiters.append(limiter)
    await limiter.acquire()
    limiter.pause(2.0)
    await _wait_for_state(raw, limiter.key, "paused_until_us")
    log_ttl = await raw.pttl(limiter.key)
    state_ttl = await raw.pttl(f"{limiter.key}:state")
    assert 0 < log_ttl <= 204 + 1000
    assert 2000 < state_ttl <= 2000 + 204 + 1000  # the pause outlives the window
    short = RedisLimiter(
        REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix=prefix, budget="short", key_ttl=0.3
    )
    limiters.append(short)
    await short.acquire()
    short.pause(0.05)
    await _wait_for_state(raw, short.key, "paused_until_us")
    assert 0 < await raw.pttl(short.key) <= 300
    await asyncio.sleep(0.45)
    assert await raw.exists(short.key, f"{short.key}:state") == 0


async def test_pause_in_one_instance_delays_another(
    prefix: str, raw: aioredis.Redis, limiters: list[RedisLimiter]
) -> None:
    """A pause from one limiter (another process in real life) holds back another's acquire."""
    one = RedisLimiter(REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix=prefix)
    other = RedisLimiter(REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix=prefix)
    limiters.extend([one, other])
    await other.acquire()
    started = time.monotonic()
    await other.acquire()
    assert time.monotonic() - started < 0.1
    one.pause(0.4)
    await _wait_for_state(raw, one.key, "paused_until_us")
    started = time.monotonic()
    await other.acquire()
    assert 0.3 < time.monotonic() - started < 0.6


async def test_lower_limit_adopted_by_one_instance_holds_for_another(
    prefix: str, raw: aioredis.Redis, limiters: list[RedisLimiter]
) -> None:
    """A lower announced limit adopted by one limiter caps another; a higher one is ignored."""
    one = RedisLimiter(REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix=prefix)
    other = RedisLimiter(REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix=prefix)
    limiters.extend([one, other])
    one.adopt(lsq.RateLimit(4, 0.2))
    assert one.rate == lsq.RateLimit(4, 0.2)
    await _wait_for_state(raw, one.key, "calls")
    one.adopt(lsq.RateLimit(50, 0.2))  # higher: ignored here and in Redis
    await asyncio.sleep(0.05)
    grants = []
    for _ in range(9):
        await other.acquire()
        grants.append(await _newest(raw, other.key))
    assert other.rate == lsq.RateLimit(4, 0.2)
    assert all(b - a >= 0.2 * 1.02 for a, b in zip(grants, grants[4:], strict=False))
    assert grants[-1] - grants[0] >= 2 * 0.2 * 1.02
    assert await raw.hget(f"{one.key}:state", "calls") == "4"


def test_repr_and_errors_never_show_the_access_key() -> None:
    """repr shows prefix, budget and rate; validation messages leave the key out."""
    limiter = RedisLimiter(REDIS_URL, SECRET, lsq.RateLimit(10, 0.2), prefix="p", budget="bulk")
    text = repr(limiter)
    assert SECRET not in text
    assert "prefix='p'" in text
    assert "budget='bulk'" in text
    assert "10/0.2" in text
    with pytest.raises(ValueError, match="fallback") as caught:
        RedisLimiter(REDIS_URL, SECRET, fallback="never")  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)
    assert isinstance(limiter, lsq.Limiter)


# -- four processes, one account -------------------------------------------------------------


def _fake_process(rate: str) -> contextlib.AbstractContextManager[str]:
    """Serve the fake LeadSquared with uvicorn in its own process; yield its base URL."""
    return serve_subprocess(rate)


def _summary(url: str) -> dict[str, Any]:
    """The fake's ledger summary, with the most calls in any 1 s window."""
    return remote_summary(url, 1.0)


class _Workers:
    """Four worker processes (tests/redis_worker.py), each with its own client per run."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, prefix: str, skews: tuple[float, ...]) -> None:
        """Start the workers (``skews[i]`` offsets worker i's clocks) and wait until ready."""
        url = self.url
        for index in range(4):
            command = [sys.executable, str(WORKER), url, "--index", str(index)]
            command += ["--redis-url", REDIS_URL, "--prefix", prefix]
            if index < len(skews):
                command += ["--skew", str(skews[index])]
            self.processes.append(
                subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            )
        for process in self.processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"

    def run(self, limiter: str, duration: float) -> dict[str, Any]:
        """All four push creates for ``duration`` s with ``limiter``; the fake's figures."""
        remote_reset(self.url)
        start = time.monotonic() + 0.2
        end = start + duration
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(f"run {limiter} {start} {end}\n")
            process.stdin.flush()
        # Count the steady state only: from one window after the start (past the start-up)
        # to the end.
        time.sleep(max(0.0, start + 1.0 - time.monotonic()))
        first = _summary(self.url)
        time.sleep(max(0.0, end - time.monotonic()))
        last = _summary(self.url)
        reports = []
        for process in self.processes:
            assert process.stdout is not None
            line = process.stdout.readline()  # a hung worker exits after 20 s (faulthandler)
            assert line, f"worker exited with {process.wait()}"
            reports.append(json.loads(line))
        final = _summary(self.url)
        per_second = (last["calls"] - first["calls"]) / (duration - 1.0)
        return {
            "calls_per_second": round(per_second, 2),
            "fraction_of_ceiling": round(per_second / CEILING, 3),
            "rate_limited": final["rate_limited"],
            "max_calls_in_window": final["max_calls_in_window"],
            "calls": final["calls"],
            "leads": final["leads"],
            "duplicates": final["duplicates"],
            "workers": reports,
        }

    def close(self) -> None:
        """End the workers (end of stdin), killing any that linger."""
        for process in self.processes:
            if process.stdin is not None:
                process.stdin.close()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


@contextlib.contextmanager
def _workers(url: str, prefix: str, skews: tuple[float, ...] = ()) -> Iterator[_Workers]:
    """Four workers pointed at ``url``, ended afterwards."""
    workers = _Workers(url)
    try:
        workers.start(prefix, skews)
        yield workers
    finally:
        workers.close()


def _brief(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures without the per-worker reports."""
    return {k: v for k, v in figures.items() if k != "workers"}


@pytest.mark.timeout(60)
def test_four_processes_share_one_budget_and_in_process_limiters_do_not(prefix: str) -> None:
    """Through Redis: no 429, <= 25 in any 1 s, >= 0.9 of the ceiling; in-process only: 429s."""
    with _fake_process("25/1") as url, _workers(url, prefix) as workers:
        shared = workers.run("redis", 5.0)
        alone = workers.run("local", 2.5)
    print(f"\nfour processes, one RedisLimiter key: {_brief(shared)}")
    print(f"four processes, in-process TokenBucketLimiter(25/1) each: {_brief(alone)}")
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
    with _fake_process("25/1") as url, _workers(url, prefix, skews=(5.0, -3.0)) as workers:
        figures = workers.run("redis", 5.0)
    print(f"\nfour processes, two with skewed clocks: {_brief(figures)}")
    assert figures["rate_limited"] == 0
    assert figures["max_calls_in_window"] <= 25
    assert figures["fraction_of_ceiling"] >= 0.9
    assert all(w["counts"]["ok"] > 0 for w in figures["workers"])


# -- Redis going away ------------------------------------------------------------------------


def _free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _RedisServer:
    """A throwaway ``redis-server`` on a fixed port that a test can kill and restart."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is not installed")
            pytest.skip("redis-server is not installed")
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen(
            [binary, *options, "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port, socket_connect_timeout=0.2) as r:
                    r.ping()
                return
            except (redis.exceptions.RedisError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def kill(self) -> None:
        """Kill the server outright (SIGKILL) and wait for it to go."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def keys(self) -> list[str]:
        """Every key the server holds."""
        with redis.Redis(port=self.port, decode_responses=True) as r:
            return sorted(r.scan_iter())


@pytest.fixture
def own_redis() -> Iterator[_RedisServer]:
    """A redis-server of the test's own on a free port; killed after the test."""
    server = _RedisServer(_free_port())
    server.start()
    yield server
    server.kill()


@pytest.mark.timeout(30)
async def test_wait_mode_raises_while_redis_is_down_and_recovers(
    own_redis: _RedisServer,
) -> None:
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
        assert own_redis.keys() == [limiter.key]  # granted by the restarted Redis
    finally:
        await limiter.aclose()


@pytest.mark.timeout(30)
async def test_local_mode_keeps_granting_at_its_share_and_goes_back_to_redis(
    own_redis: _RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """fallback="local": grants go on at the local share while Redis is down, logged once."""
    caplog.set_level(logging.INFO, logger="leadsq_async")
    limiter = RedisLimiter(
        own_redis.url,
        SECRET,
        lsq.RateLimit(20, 0.5),
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
        fallbacks = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
        assert len(fallbacks) == 1
        assert "0.25 of the budget" in fallbacks[0].getMessage()
        own_redis.start()
        started = time.monotonic()
        while limiter.degraded:
            await limiter.acquire()
            assert time.monotonic() - started < 2.0
        assert own_redis.keys() == [limiter.key]  # the grant came from the restarted Redis
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
    own_redis: _RedisServer, make_client: MakeClient, fake: FakeLeadSquared
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
