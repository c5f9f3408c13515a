"""The account's budgets shared through Redis by every process that uses one LeadSquared account.

LeadSquared counts calls per account, so several processes (uvicorn workers, an ingestion
fleet) must draw from one general budget, one bulk budget and one daily quota. ``RedisLimiter``
keeps an exact sliding-window log of grants per budget in Redis sorted sets and decides every
grant in one atomic Lua script (``_redis_lua``) that reads the Redis server's clock (``TIME``),
so callers with skewed clocks still agree: a general call takes a general grant, a bulk call a
general and a bulk grant at the same instant (or neither), and either is counted against the
shared daily quota, or refused once that is spent. A caller that must wait learns from the
script how long. What any process learns from the service (a pause of one budget, a lower
limit, a bulk budget nobody configured, a spent quota) is written beside the logs, and every
process's next decision honours it. ``RedisBudgets`` (``_redis_budgets``) is what the
client's engine spends.

Keys are ``{prefix}:{<sha256(access_key)[:24]>}:general|bulk|state|quota``: the braces are a
Redis Cluster hash tag, so one account's keys live in one slot. The access key itself is never
written to Redis, and every key expires on its own. Needs the ``redis`` extra.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, Literal

try:
    import redis.asyncio as aioredis
    import redis.exceptions
except ImportError as exc:
    raise ModuleNotFoundError(
        f"RedisLimiter needs the redis package ({exc}): pip install 'leadsq-async[redis]'",
        name="redis",
    ) from exc

from .._errors import LimiterUnavailableError, QuotaExhaustedError
from .budgets import BULK, GENERAL, AccountLimiter, Budgets
from .limiters import Limiter, RateLimit, SlidingWindowLimiter
from .quota import DAY
from .redis_budgets import RedisBudgets
from .redis_quota import SharedQuota
from .redis_store import REFUSED, WAIT, Reply, Store, us

__all__ = ["RedisLimiter", "SharedQuotaSpentError"]

logger = logging.getLogger("leadsq_async")

#: What "Redis did not answer" looks like from redis-py.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    asyncio.TimeoutError,
)


class SharedQuotaSpentError(QuotaExhaustedError, LimiterUnavailableError):
    """The shared daily quota refused a grant: another process spent it, or what is left is
    kept for interactive rows. The engine waits a moment and fails the rows it cannot carry."""


def _check(name: str, ok: bool, value: object, rule: str) -> None:
    if not ok:
        raise ValueError(f"{name} must be {rule}, got {value!r}")


class RedisLimiter(AccountLimiter):
    """The account's general and bulk budgets and its daily quota, shared through Redis.

    ``redis`` is a URL (``redis://host:6379/0``), a ``redis.asyncio.Redis`` or a
    ``redis.asyncio.RedisCluster`` (one account's keys share a hash slot). All limiters with
    the same ``prefix`` and access key share: the general budget ``rate`` (every call), the bulk
    budget ``bulk_rate`` (bulk calls also pass it; None: none known yet) and the daily quota
    ``daily_quota`` (calls per rolling ``quota_window``; None: unknown), of which bulk-priority
    calls leave ``quota_reserve`` to interactive ones. At most ``calls`` grants of a budget in
    any ``period × (1 + margin)`` seconds of the Redis server's clock; ``burst`` also caps
    grants back to back: at most ``burst`` in any ``burst × period / calls`` seconds. The default
    1 spaces grants evenly (about 0.98 of the ceiling, no burst from idle), so calls from many
    processes reach the service spread out and the margin only covers their jitter;
    ``burst=rate.calls`` is the plain sliding window, with a burst from idle.

    Pass it as the client's ``limiter=``: the client then takes every grant from it (a bulk
    call's general and bulk grants in one step) and shares what it learns. The client's
    ``bulk_rate_limit``, ``daily_quota`` and ``quota_reserve`` fill in what this limiter was not
    given. ``budget="bulk"`` (deprecated) makes a limiter of the bulk budget alone, for the
    old ``bulk_limiter=`` form.

    With ``fallback="wait"`` an unreachable Redis makes ``acquire`` raise
    ``LimiterUnavailableError`` (the client keeps the rows and retries until their deadline);
    with ``fallback="local"`` it grants from in-process limiters at ``local_share`` of each
    budget and goes back to Redis, tried every ``retry_interval`` seconds, once it answers.
    ``key_ttl`` overrides how long the budgets' keys outlive their last use (default: one window
    plus a second, and any pause); the quota's key lives one quota window past its last count.
    A client made from a URL uses 0.5 s timeouts and no retries.
    """

    def __init__(
        self,
        redis: str | aioredis.Redis | aioredis.RedisCluster,
        access_key: str,
        rate: RateLimit | None = None,
        *,
        bulk_rate: RateLimit | None = None,
        daily_quota: int | None = None,
        quota_reserve: float | None = None,
        quota_window: float = DAY,
        prefix: str = "leadsq",
        budget: str | None = None,
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
        _check("budget", budget in (None, "all", "general", "bulk"), budget, '"bulk" or None')
        bulk_ok = bulk_rate is None or isinstance(bulk_rate, RateLimit)
        _check("bulk_rate", bulk_ok, bulk_rate, "None or a RateLimit")
        quota_ok = daily_quota is None or (type(daily_quota) is int and daily_quota >= 1)
        _check("daily_quota", quota_ok, daily_quota, "None or an int >= 1")
        reserve_ok = quota_reserve is None or 0 <= quota_reserve < 1
        _check("quota_reserve", reserve_ok, quota_reserve, "None or in [0, 1)")
        _check("quota_window", quota_window > 0, quota_window, "> 0")
        _check("margin", 0 <= margin < 0.5, margin, "in [0, 0.5)")
        _check("fallback", fallback in ("wait", "local"), fallback, '"wait" or "local"')
        _check("local_share", 0 < local_share <= 1, local_share, "in (0, 1]")
        _check("retry_interval", retry_interval > 0, retry_interval, "> 0")
        _check("burst", isinstance(burst, int) and burst >= 1, burst, "an int >= 1")
        _check("key_ttl", key_ttl is None or key_ttl > 0, key_ttl, "None or > 0")
        if budget is not None:
            warnings.warn(
                "RedisLimiter(budget=...) is deprecated: one RedisLimiter shares both budgets; "
                "give it bulk_rate= and pass it as the client's limiter=",
                DeprecationWarning,
                stacklevel=2,
            )
        self._mode = BULK if budget == "bulk" else GENERAL
        self._store = Store(redis, access_key, prefix)
        self._prefix = prefix
        self._margin = margin
        self._burst = burst
        self._fallback = fallback
        self._local_share = local_share
        self._retry_interval = retry_interval
        self._ttl_ms = 0 if key_ttl is None else max(1, math.ceil(key_ttl * 1000))
        self.clock = clock
        self._rates: dict[str, RateLimit | None] = {GENERAL: rate or RateLimit(), BULK: bulk_rate}
        if self._mode == BULK:
            self._rates = {GENERAL: RateLimit(), BULK: rate or RateLimit()}
        self._local = {name: self._make_local(r) for name, r in self._rates.items()}
        self._not_before = {GENERAL: 0.0, BULK: 0.0}
        self._free_at = {GENERAL: 0.0, BULK: 0.0}
        #: The shared daily quota as the last decision saw it (what the engine reads).
        self.quota = SharedQuota(
            daily_quota,
            reserve=0.1 if quota_reserve is None else quota_reserve,
            window=quota_window,
            clock=clock,
            share=self._share_quota,
        )
        self._reserve_given = quota_reserve is not None
        self._pending: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._degraded = False
        self._retry_at = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- the Limiter protocol (the general budget; the bulk one for budget="bulk") -------------

    @property
    def rate(self) -> RateLimit:
        """The limit in force: the configured one, or a lower one adopted by any process."""
        return self._rate_of(self._mode)

    @property
    def bulk_rate(self) -> RateLimit | None:
        """The bulk budget in force: configured, adopted or learned by any process (or None)."""
        return self._rates[BULK]

    @property
    def budget(self) -> str:
        """Which budget ``acquire`` grants: "general" (and the quota), or "bulk" alone."""
        return self._mode

    @property
    def key(self) -> str:
        """The Redis key of this limiter's grant log (the general budget's, or the bulk one's)."""
        return self._store.keys[0] if self._mode == GENERAL else self._store.keys[1]

    @property
    def keys(self) -> tuple[str, str, str, str]:
        """Every key: the general and bulk logs, the shared state, the daily quota."""
        return self._store.keys

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and ``fallback="local"`` grants in-process."""
        return self._degraded

    async def acquire(self) -> None:
        """Wait for one grant of this limiter's budget (a general one is counted in the quota).

        Raises ``LimiterUnavailableError`` if Redis does not answer and ``fallback="wait"``,
        and ``SharedQuotaSpentError`` when the shared daily quota is spent.
        """
        general = self._mode == GENERAL
        await self._grant(general, not general, general)

    async def grant(self, bulk: bool, *, interactive: bool = False, probe: bool = False) -> None:
        """Wait for a general grant, and a bulk one at the same instant for a bulk call.

        The call is counted against the shared quota; ``interactive`` calls may spend its
        reserve; ``probe`` asks to pass a spent quota, which the script allows one process at a
        time at the shared probe times.
        """
        await self._grant(True, bulk, True, interactive=interactive, probe=probe)

    def delay(self) -> float:
        """Seconds until this limiter's budget could grant, as of the last decision (0: now)."""
        return self._delay_of(self._mode)

    def pause(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` here at once, and in every process through Redis."""
        self._pause(self._mode, seconds)

    def adopt(self, rate: RateLimit) -> None:
        """Use ``rate`` from now on if it is lower, here at once and in every process."""
        self._adopt(self._mode, rate)

    def learn_bulk(self, rate: RateLimit) -> None:
        """A bulk budget the service revealed: use it here and in every process."""
        self._adopt(BULK, rate)

    def account_budgets(
        self,
        bulk_limiter: Limiter | None,
        bulk_rate: RateLimit | None,
        daily_quota: int | None,
        quota_reserve: float,
    ) -> Budgets | None:
        """The budgets a client spends through this limiter, shared by every process.

        None for a limiter of the bulk budget alone, or beside a ``bulk_limiter`` other than
        the old form (``budget="bulk"`` on the same keys): the client keeps them in-process.
        The old form's rate is the shared bulk budget's.
        """
        if self._mode != GENERAL:
            return None
        if bulk_limiter is not None:
            legacy = (
                isinstance(bulk_limiter, RedisLimiter)
                and bulk_limiter.budget == BULK
                and bulk_limiter.keys == self.keys
            )
            if not legacy:
                return None
            bulk_rate = bulk_limiter.rate
        self._fill(bulk_rate, daily_quota, quota_reserve)
        return RedisBudgets(self)

    async def aclose(self) -> None:
        """Finish writing what was learned to Redis; close the Redis client if it was ours."""
        self._closed = True
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        await self._store.aclose()

    async def __aenter__(self) -> RedisLimiter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        budget = ", budget='bulk'" if self._mode == BULK else ""
        bulk = f", bulk_rate={self._rates[BULK]}" if self._mode == GENERAL else ""
        return (
            f"RedisLimiter(prefix={self._prefix!r}{budget}, rate={self.rate}{bulk},"
            f" daily_quota={self.quota.limit}, margin={self._margin}, burst={self._burst},"
            f" fallback={self._fallback!r})"
        )

    # -- the budgets ---------------------------------------------------------------------------

    def _rate_of(self, name: str) -> RateLimit:
        rate = self._rates[name]
        if rate is None:
            raise LookupError(f"no {name} budget is known")
        return rate

    def _delay_of(self, name: str) -> float:
        now = self.clock()
        return max(0.0, self._not_before[name] - now, self._free_at[name] - now)

    def _make_local(self, rate: RateLimit | None) -> SlidingWindowLimiter | None:
        if rate is None:
            return None
        return SlidingWindowLimiter(self._local_rate(rate), margin=self._margin, clock=self.clock)

    def _local_rate(self, rate: RateLimit) -> RateLimit:
        return RateLimit(max(1, int(rate.calls * self._local_share)), rate.period)

    def _take_rate(self, name: str, rate: RateLimit) -> bool:
        """Use ``rate`` for a budget if it is lower than the one in force (or none was)."""
        current = self._rates[name]
        if current is not None and rate.interval <= current.interval:
            return False
        self._rates[name] = rate
        local = self._local[name]
        if local is None:
            self._local[name] = self._make_local(rate)
        else:
            local.adopt(self._local_rate(rate))
        return True

    def _pause(self, name: str, seconds: float) -> None:
        seconds = max(0.0, seconds)
        until = self.clock() + seconds
        self._not_before[name] = max(self._not_before[name], until)
        local = self._local[name]
        if local is not None:
            local.pause(seconds)
        self._spawn(lambda: self._write_budget(name, until, None))

    def _adopt(self, name: str, rate: RateLimit) -> None:
        if self._take_rate(name, rate):
            self._spawn(lambda: self._write_budget(name, None, rate))

    def _fill(
        self, bulk_rate: RateLimit | None, daily_quota: int | None, quota_reserve: float
    ) -> None:
        """Take the client's settings for what this limiter was not given."""
        if bulk_rate is not None and self._rates[BULK] is None:
            self._take_rate(BULK, bulk_rate)
        self.quota.configure(daily_quota, None if self._reserve_given else quota_reserve)

    # -- deciding ------------------------------------------------------------------------------

    async def _grant(
        self,
        general: bool,
        bulk: bool,
        count: bool,
        *,
        interactive: bool = False,
        probe: bool = False,
    ) -> None:
        if self._closed:
            raise LimiterUnavailableError("the Redis limiter is closed")
        for write in self._pending:
            self._spawn(write)
        self._pending.clear()
        names = [n for n, used in ((GENERAL, general), (BULK, bulk)) if used]
        while True:
            while (delay := max(self._not_before[n] for n in names) - self.clock()) > 0:
                await asyncio.sleep(delay)
            if self._degraded and self.clock() < self._retry_at:
                await self._grant_locally(names)
                if count:
                    self.quota.count_local()
            else:
                try:
                    reply = await self._decide(general, bulk, count, interactive, probe)
                except _UNAVAILABLE as exc:
                    self._unavailable(exc)
                    continue
                if self._degraded:
                    self._degraded = False
                    logger.info("Redis answers again; the shared rate limit is back in force")
                if reply.status == REFUSED:
                    raise SharedQuotaSpentError(
                        "the account's daily quota, shared through Redis, is spent (or down to "
                        "the part kept for interactive rows)",
                        self.quota.reset_in,
                    )
                if reply.status == WAIT:
                    await asyncio.sleep(reply.wait_us / 1_000_000)
                    continue
            # A pause that began meanwhile: the grant is spent, take another after it.
            if all(self._not_before[n] <= self.clock() for n in names):
                return

    def _unavailable(self, exc: BaseException) -> None:
        if self._fallback == "wait":
            raise LimiterUnavailableError(
                f"the shared rate limiter's Redis did not answer ({type(exc).__name__})"
            ) from exc
        self._retry_at = self.clock() + self._retry_interval
        if not self._degraded:
            self._degraded = True
            logger.warning(
                "Redis unavailable; using in-process limiters at %g of each budget (%s) "
                "until it answers again",
                self._local_share,
                ", ".join(str(local.rate) for local in self._local.values() if local is not None),
            )

    async def _grant_locally(self, names: list[str]) -> None:
        """Grant from the in-process limiters of ``names``, together."""
        locals_ = [local for n in names if (local := self._local[n]) is not None]
        while (wait := max(local.delay() for local in locals_)) > 0:
            await asyncio.sleep(wait)
        for local in locals_:
            await local.acquire()

    async def _decide(
        self,
        general: bool = True,
        bulk: bool = False,
        count: bool = True,
        interactive: bool = False,
        probe: bool = False,
    ) -> Reply:
        """Run the decision script once and take what it says into this process.

        The script runs in a task of its own that a cancelled ``acquire`` leaves to finish:
        cancelling a redis-py command midway can leave its connection out of step, and on
        Python 3.11 can even swallow the cancellation and hang the caller.
        """
        quota = self.quota
        script = self._store.decide(
            general=general,
            bulk=bulk,
            count=count,
            rates=(self._rate_of(GENERAL), self._rates[BULK]),
            margin=self._margin,
            ttl_ms=self._ttl_ms,
            burst=self._burst,
            quota=(quota.limit, quota.reserve, quota.window),
            interactive=interactive,
            probe=probe,
        )
        call = asyncio.get_running_loop().create_task(script)
        self._track(call, self._script_done)
        reply = await asyncio.shield(call)
        self._mirror(reply)
        return reply

    def _mirror(self, reply: Reply) -> None:
        """Take the limits in force, when each budget frees up, and the quota's numbers."""
        now = self.clock()
        for name, calls, period_us in (
            (GENERAL, reply.general_calls, reply.general_period_us),
            (BULK, reply.bulk_calls, reply.bulk_period_us),
        ):
            current = self._rates[name]
            if calls > 0 and (
                current is None or calls != current.calls or period_us != us(current.period)
            ):
                self._take_rate(name, RateLimit(calls, period_us / 1_000_000))
        if reply.general_free_us >= 0:
            self._free_at[GENERAL] = now + reply.general_free_us / 1_000_000
        if reply.bulk_free_us >= 0:
            self._free_at[BULK] = now + reply.bulk_free_us / 1_000_000
        if reply.quota_used >= 0:
            exhausted = reply.quota_exhausted_us
            self.quota.mirror(
                reply.quota_used,
                reply.quota_limit,
                exhausted / 1_000_000 if exhausted >= 0 else float(exhausted),
                reply.quota_probe_us / 1_000_000,
                reply.quota_frees_us / 1_000_000 if reply.quota_frees_us >= 0 else -1.0,
            )

    # -- sharing what was learned ------------------------------------------------------------

    def _track(self, task: asyncio.Task[Any], done: Callable[[asyncio.Task[Any]], None]) -> None:
        """Keep ``task`` until it ends (``aclose`` waits for it); ``done`` then reads it."""
        self._tasks.add(task)
        task.add_done_callback(done)

    def _script_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # raised in acquire, or nobody waits any more: retrieved either way

    def _spawn(self, write: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Write to Redis in the background (at the next grant when no loop runs yet)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._pending.append(write)
            return
        if not self._closed:
            self._track(loop.create_task(write()), self._shared_done)

    def _state_ttl_ms(self) -> int:
        if self._ttl_ms:
            return self._ttl_ms
        # Whole microseconds first, as the script counts: 0.2 * 1.02 * 1000 is
        # 204.00000000000003 in floating point, and its ceiling one millisecond too many.
        windows = [
            math.ceil(us(rate.period * (1 + self._margin)) / 1000)
            for rate in self._rates.values()
            if rate is not None
        ]
        return max(windows) + 1000

    async def _write_budget(self, name: str, until: float | None, rate: RateLimit | None) -> None:
        pause = 0.0 if until is None else max(0.0, until - self.clock())
        await self._store.share_budget(name, pause, rate, self._state_ttl_ms())

    def _share_quota(self, what: str, reset_in: float | None, limit: int | None) -> None:
        window = self.quota.window
        self._spawn(lambda: self._store.share_quota(what, reset_in, limit, window))

    def _shared_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.warning(
                "could not share what the service said through Redis (%s); "
                "applied in this process only",
                type(exc).__name__,
            )
