"""A rate limit shared through Redis by every process that uses one LeadSquared account.

LeadSquared counts calls per account, so several processes (uvicorn workers, an ingestion
fleet) must draw from one budget. ``RedisLimiter`` keeps an exact sliding-window log of grants
in a Redis sorted set and decides every grant in one atomic Lua script that reads the Redis
server's clock (``TIME``), so callers with skewed clocks still agree. A caller that must wait
learns from the script how long. A pause (the service rejected a call) and a lower announced
limit are written to a hash beside the log, and every process's next decision honours them.

Keys are ``{prefix}:{sha256(access_key)[:24]}:{budget}`` (the log) and ``...:state`` (the
shared facts); the access key itself is never written to Redis. Both keys expire on their own.
Needs the ``redis`` extra.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any, Literal

try:
    import redis.asyncio as aioredis
    import redis.exceptions
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError as exc:
    raise ModuleNotFoundError(
        f"RedisLimiter needs the redis package ({exc}): pip install 'leadsq-async[redis]'",
        name="redis",
    ) from exc

from ._errors import LimiterUnavailableError
from ._limits import RateLimit, SlidingWindowLimiter

__all__ = ["RedisLimiter"]

logger = logging.getLogger("leadsq_async")

#: What "Redis did not answer" looks like from redis-py.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    asyncio.TimeoutError,
)

# Numbers go back to Redis through string.format: Lua's default number-to-string conversion
# keeps 14 significant digits, which would round microsecond timestamps.
#
# KEYS[1] the grant log (sorted set: score = grant time in µs, member unique)
# KEYS[2] the shared state (hash: paused_until_us, calls, period_us)
# ARGV: calls, period_us, margin, member suffix, ttl_ms (0: window + 1 s), burst
# Returns {wait_us, calls in force, period_us in force}; wait_us 0 means granted.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local calls = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local margin = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[2], 'paused_until_us', 'calls', 'period_us')
local paused = tonumber(state[1]) or 0
local shared_calls = tonumber(state[2])
local shared_period = tonumber(state[3])
if shared_calls and shared_period and shared_period * calls > period * shared_calls then
  calls = shared_calls
  period = shared_period
end
local window = math.floor(period * (1 + margin))
local ttl = tonumber(ARGV[5])
if ttl <= 0 then ttl = math.ceil(window / 1000) + 1000 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
local wait = 0
if paused > now then wait = paused - now end
local count = redis.call('ZCARD', KEYS[1])
if count >= calls then
  local entry = redis.call('ZRANGE', KEYS[1], count - calls, count - calls, 'WITHSCORES')
  local free = tonumber(entry[2]) + window - now
  if free > wait then wait = free end
end
local burst = tonumber(ARGV[6])
if burst < calls and count >= burst then
  local entry = redis.call('ZRANGE', KEYS[1], count - burst, count - burst, 'WITHSCORES')
  local free = tonumber(entry[2]) + math.floor(period * burst / calls) - now
  if free > wait then wait = free end
end
local state_ttl = ttl
if paused > now then state_ttl = ttl + math.ceil((paused - now) / 1000) end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], string.format('%d', state_ttl))
end
if wait > 0 then
  return {math.ceil(wait), calls, period}
end
redis.call('ZADD', KEYS[1], string.format('%.0f', now), string.format('%.0f', now) .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
return {0, calls, period}
"""

# KEYS[2] the shared state. ARGV: pause_us (0: none), calls (0: none), period_us, ttl_ms.
# A pause only ever extends; an announced limit is kept only if it is lower (longer interval).
_SHARE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(ARGV[1])
local calls = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local paused = tonumber(redis.call('HGET', KEYS[2], 'paused_until_us')) or 0
if pause > 0 and now + pause > paused then
  paused = now + pause
  redis.call('HSET', KEYS[2], 'paused_until_us', string.format('%.0f', paused))
end
if calls > 0 then
  local state = redis.call('HMGET', KEYS[2], 'calls', 'period_us')
  local old_calls = tonumber(state[1])
  local old_period = tonumber(state[2])
  if not old_calls or not old_period or period * old_calls > old_period * calls then
    redis.call('HSET', KEYS[2], 'calls', string.format('%d', calls),
      'period_us', string.format('%.0f', period))
  end
end
if paused > now then ttl = ttl + math.ceil((paused - now) / 1000) end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], string.format('%d', ttl))
end
return 0
"""


def _check(name: str, ok: bool, value: object, rule: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {rule}, got {value!r}")


class RedisLimiter:
    """A sliding-window limiter shared through Redis by every process using one account.

    ``redis`` is a URL (``redis://host:6379/0``) or a ``redis.asyncio.Redis``. All limiters
    with the same ``prefix``, access key and ``budget`` share one budget of ``rate``: at most
    ``rate.calls`` grants in any ``rate.period × (1 + margin)`` seconds of the Redis server's
    clock. ``burst`` also caps grants back to back: at most ``burst`` in any
    ``burst × period / calls`` seconds. The default 1 spaces grants evenly (about 0.98 of the
    ceiling, no burst from idle), so calls from many processes reach the service spread out
    and the margin only has to cover their jitter, not a burst's; ``burst=rate.calls`` is the
    plain sliding window, with a burst of ``calls`` from idle and after every quiet window.
    Give the client's bulk budget its own limiter with ``budget="bulk"``.

    With ``fallback="wait"`` an unreachable Redis makes ``acquire`` raise
    ``LimiterUnavailableError`` (the client keeps the rows and retries until their deadline);
    with ``fallback="local"`` it grants from an in-process limiter at ``local_share`` of the
    budget and goes back to Redis, tried every ``retry_interval`` seconds, once it answers.
    ``key_ttl`` overrides how long the keys outlive their last use (default: one window plus
    a second, and any pause). A client made from a URL uses 0.5 s timeouts and no retries.
    """

    def __init__(
        self,
        redis: str | aioredis.Redis,
        access_key: str,
        rate: RateLimit | None = None,
        *,
        prefix: str = "leadsq",
        budget: str = "all",
        margin: float = 0.02,
        fallback: Literal["wait", "local"] = "wait",
        local_share: float = 0.25,
        retry_interval: float = 0.5,
        key_ttl: float | None = None,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check("access_key", isinstance(access_key, str) and bool(access_key), "...", "set")
        _check("prefix", isinstance(prefix, str) and bool(prefix), prefix, "a non-empty str")
        _check("budget", isinstance(budget, str) and bool(budget), budget, "a non-empty str")
        _check("margin", 0 <= margin < 0.5, margin, "in [0, 0.5)")
        _check("fallback", fallback in ("wait", "local"), fallback, '"wait" or "local"')
        _check("local_share", 0 < local_share <= 1, local_share, "in (0, 1]")
        _check("retry_interval", retry_interval > 0, retry_interval, "> 0")
        _check("burst", isinstance(burst, int) and burst >= 1, burst, "an int >= 1")
        _check("key_ttl", key_ttl is None or key_ttl > 0, key_ttl, "None or > 0")
        if isinstance(redis, str):
            self._redis: aioredis.Redis = aioredis.Redis.from_url(
                redis,
                socket_connect_timeout=0.5,
                socket_timeout=0.5,
                retry=Retry(NoBackoff(), 0),
            )
            self._own_redis = True
        else:
            self._redis = redis
            self._own_redis = False
        digest = hashlib.sha256(access_key.encode()).hexdigest()[:24]
        self._key = f"{prefix}:{digest}:{budget}"
        self._state_key = f"{self._key}:state"
        self._prefix = prefix
        self._budget = budget
        self._margin = margin
        self._burst = burst
        self._fallback = fallback
        self._local_share = local_share
        self._retry_interval = retry_interval
        self._ttl_ms = 0 if key_ttl is None else max(1, math.ceil(key_ttl * 1000))
        self._clock = clock
        self._rate = rate or RateLimit()
        self._local = SlidingWindowLimiter(self._local_rate(self._rate), margin=margin, clock=clock)
        self._acquire_script = self._redis.register_script(_ACQUIRE)
        self._share_script = self._redis.register_script(_SHARE)
        self._member = f":{os.getpid()}:{os.urandom(6).hex()}:"
        self._grants = 0
        self._not_before = 0.0
        self._unshared = False
        self._adopted = False
        self._degraded = False
        self._retry_at = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- the Limiter protocol ----------------------------------------------------------------

    @property
    def rate(self) -> RateLimit:
        """The limit in force: the configured one, or a lower one adopted by any process."""
        return self._rate

    @property
    def key(self) -> str:
        """The Redis key of the grant log (the shared state is at ``key + ":state"``)."""
        return self._key

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and ``fallback="local"`` grants in-process."""
        return self._degraded

    async def acquire(self) -> None:
        """Wait for one grant from the shared budget.

        Raises ``LimiterUnavailableError`` if Redis does not answer and ``fallback="wait"``.
        """
        if self._closed:
            raise LimiterUnavailableError("the Redis limiter is closed")
        if self._unshared:
            self._unshared = False
            pause = max(0.0, self._not_before - self._clock())
            self._share(pause, self._rate if self._adopted else None)
        while True:
            while (delay := self._not_before - self._clock()) > 0:
                await asyncio.sleep(delay)
            if self._degraded and self._clock() < self._retry_at:
                await self._local.acquire()
                if self._not_before <= self._clock():
                    return
                continue
            try:
                wait = await self._decide()
            except _UNAVAILABLE as exc:
                if self._fallback == "wait":
                    raise LimiterUnavailableError(
                        f"the shared rate limiter's Redis did not answer ({type(exc).__name__})"
                    ) from exc
                self._retry_at = self._clock() + self._retry_interval
                if not self._degraded:
                    self._degraded = True
                    logger.warning(
                        "Redis unavailable; using an in-process limiter at %g of the budget "
                        "(%s) until it answers again",
                        self._local_share,
                        self._local.rate,
                    )
                continue
            if self._degraded:
                self._degraded = False
                logger.info("Redis answers again; the shared rate limit is back in force")
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            # A pause that began while the script ran: the grant is spent, take another later.
            if self._not_before <= self._clock():
                return

    def pause(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` here at once, and in every process through Redis."""
        seconds = max(0.0, seconds)
        self._not_before = max(self._not_before, self._clock() + seconds)
        self._local.pause(seconds)
        self._share(seconds, None)

    def adopt(self, rate: RateLimit) -> None:
        """Use ``rate`` from now on if it is lower, here at once and in every process."""
        if self._adopt_local(rate):
            self._share(0.0, rate)

    async def aclose(self) -> None:
        """Finish writing pauses and limits to Redis; close the Redis client if it was ours."""
        self._closed = True
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if self._own_redis:
            await self._redis.aclose()

    async def __aenter__(self) -> RedisLimiter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"RedisLimiter(prefix={self._prefix!r}, budget={self._budget!r}, rate={self._rate},"
            f" margin={self._margin}, burst={self._burst}, fallback={self._fallback!r})"
        )

    # -- internals ---------------------------------------------------------------------------

    def _local_rate(self, rate: RateLimit) -> RateLimit:
        return RateLimit(max(1, int(rate.calls * self._local_share)), rate.period)

    def _adopt_local(self, rate: RateLimit) -> bool:
        """Take ``rate`` if its interval is longer than the one in force; say if it was."""
        if rate.interval <= self._rate.interval:
            return False
        self._rate = rate
        self._adopted = True
        self._local.adopt(self._local_rate(rate))
        return True

    async def _decide(self) -> float:
        """Run the script once: 0 when granted, else the seconds to wait.

        The script runs in a task of its own that a cancelled ``acquire`` leaves to finish:
        cancelling a redis-py command midway can leave its connection out of step, and on
        Python 3.11 can even swallow the cancellation and hang the caller.
        """
        call = asyncio.get_running_loop().create_task(self._run_script())
        self._track(call, self._script_done)
        reply = await asyncio.shield(call)
        wait_us, calls, period_us = (int(x) for x in reply)
        if calls != self._rate.calls or period_us != round(self._rate.period * 1_000_000):
            self._adopt_local(RateLimit(calls, period_us / 1_000_000))
        return wait_us / 1_000_000

    async def _run_script(self) -> list[Any]:
        self._grants += 1
        reply: Any = await self._acquire_script(
            keys=[self._key, self._state_key],
            args=[
                self._rate.calls,
                round(self._rate.period * 1_000_000),
                repr(self._margin),
                f"{self._member}{self._grants}",
                self._ttl_ms,
                self._burst,
            ],
        )
        return list(reply)

    def _track(self, task: asyncio.Task[Any], done: Callable[[asyncio.Task[Any]], None]) -> None:
        """Keep ``task`` until it ends (``aclose`` waits for it); ``done`` then reads it."""
        self._tasks.add(task)
        task.add_done_callback(done)

    def _script_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # raised in acquire, or nobody waits any more: retrieved either way

    def _share(self, pause: float, rate: RateLimit | None) -> None:
        """Write a pause and/or a lower limit to Redis in the background."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._unshared = True  # no loop yet: the next acquire shares what is in force
            return
        if self._closed:
            return
        self._track(loop.create_task(self._write_shared(pause, rate)), self._shared_done)

    async def _write_shared(self, pause: float, rate: RateLimit | None) -> None:
        await self._share_script(
            keys=[self._key, self._state_key],
            args=[
                round(pause * 1_000_000),
                0 if rate is None else rate.calls,
                0 if rate is None else round(rate.period * 1_000_000),
                # Whole microseconds first, as the acquire script counts: 0.2 * 1.02 * 1000 is
                # 204.00000000000003 in floating point, and its ceiling one millisecond too many.
                self._ttl_ms
                or math.ceil(round(self._rate.period * (1 + self._margin) * 1_000_000) / 1000)
                + 1000,
            ],
        )

    def _shared_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.warning(
                "could not share a pause or limit through Redis (%s); applied in this process only",
                type(exc).__name__,
            )
