"""One account's keys on one Redis, and the scripts ``RedisLimiter`` runs on them.

Keys are ``{prefix}:{<sha256(access_key)[:24]>}:general|bulk|state|quota``: the braces are a
Redis Cluster hash tag, so one account's keys live in one slot and every script may touch all
of them. The access key itself is never written to Redis.
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .limiters import RateLimit
from .quota import PROBE_FIRST, PROBE_MAX
from .redis_lua import DECIDE, SHARE_BUDGET, SHARE_QUOTA

__all__ = ["GRANTED", "REFUSED", "WAIT", "Reply", "Store", "client_from_url", "us"]

GRANTED, WAIT, REFUSED = 0, 1, 2


def us(seconds: float) -> int:
    """Whole microseconds."""
    return round(seconds * 1_000_000)


class Reply(NamedTuple):
    """One decision's answer (see ``_redis_lua.DECIDE``): durations in µs from the decision."""

    status: int
    wait_us: int
    general_calls: int
    general_period_us: int
    bulk_calls: int
    bulk_period_us: int
    general_free_us: int
    bulk_free_us: int
    quota_used: int
    quota_limit: int
    quota_exhausted_us: int
    quota_probe_us: int
    quota_frees_us: int


def client_from_url(url: str) -> aioredis.Redis:
    """The Redis client a limiter makes from a URL: 0.5 s timeouts, no retries."""
    return aioredis.Redis.from_url(
        url, socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )


class Store:
    """The Redis client, the four keys of one account, and the three scripts."""

    def __init__(
        self, redis: str | aioredis.Redis | aioredis.RedisCluster, access_key: str, prefix: str
    ) -> None:
        if isinstance(redis, str):
            self.redis: aioredis.Redis | aioredis.RedisCluster = client_from_url(redis)
            self.owned = True
        else:
            self.redis = redis
            self.owned = False
        digest = hashlib.sha256(access_key.encode()).hexdigest()[:24]
        base = f"{prefix}:{{{digest}}}"
        #: The general and bulk grant logs, the shared state, the daily quota.
        self.keys = (f"{base}:general", f"{base}:bulk", f"{base}:state", f"{base}:quota")
        self._decide = self.redis.register_script(DECIDE)
        self._budget = self.redis.register_script(SHARE_BUDGET)
        self._quota = self.redis.register_script(SHARE_QUOTA)
        self._member = f":{os.getpid()}:{os.urandom(6).hex()}:"
        self._grants = 0

    async def decide(
        self,
        *,
        general: bool,
        bulk: bool,
        count: bool,
        rates: tuple[RateLimit, RateLimit | None],
        margin: float,
        ttl_ms: int,
        burst: int,
        quota: tuple[int | None, float, float],
        interactive: bool,
        probe: bool,
    ) -> Reply:
        """Run the decision: take the grants asked for (and count the call), or say why not.

        ``rates`` are the general and bulk limits in force here; ``quota`` its limit, reserve
        and window as this process knows them.
        """
        self._grants += 1
        general_rate, bulk_rate = rates
        limit, reserve, window = quota
        reply: Any = await self._decide(
            keys=list(self.keys),
            args=[
                int(general),
                int(bulk),
                int(count),
                general_rate.calls,
                us(general_rate.period),
                0 if bulk_rate is None else bulk_rate.calls,
                0 if bulk_rate is None else us(bulk_rate.period),
                repr(margin),
                f"{self._member}{self._grants}",
                ttl_ms,
                burst,
                limit or 0,
                repr(reserve),
                us(window),
                int(interactive),
                int(probe),
                us(PROBE_FIRST),
                us(PROBE_MAX),
            ],
        )
        return Reply(*(int(x) for x in reply))

    async def share_budget(
        self, name: str, pause: float, rate: RateLimit | None, ttl_ms: int
    ) -> None:
        """Pause budget ``name`` for ``pause`` s and/or share a lower (or learned) ``rate``."""
        await self._budget(
            keys=[self.keys[2]],
            args=[
                name[0],
                us(pause),
                0 if rate is None else rate.calls,
                0 if rate is None else us(rate.period),
                ttl_ms,
            ],
        )

    async def share_quota(
        self, what: str, reset_in: float | None, limit: int | None, window: float
    ) -> None:
        """``what``: "exhaust" (back in ``reset_in`` s if known), "recover", or "limit"."""
        await self._quota(
            keys=[self.keys[3]],
            args=[
                what,
                -1 if reset_in is None else us(reset_in),
                limit or 0,
                us(PROBE_FIRST),
                us(PROBE_MAX),
                math.ceil(us(window + window / 1440) / 1000) + 1000,
            ],
        )

    async def aclose(self) -> None:
        """Close the Redis client if it was made here."""
        if self.owned:
            await self.redis.aclose()
