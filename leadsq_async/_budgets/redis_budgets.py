"""The engine's budgets taken from a ``RedisLimiter``: shared by every process of the account."""

from __future__ import annotations

import asyncio

from .budgets import BULK, GENERAL, Budgets
from .limiters import Limiter, RateLimit
from .redis import RedisLimiter

__all__ = ["RedisBudgets", "shared_budgets"]


class _BulkBudget:
    """A ``RedisLimiter``'s bulk budget seen as a limiter (what ``Budgets.bulk`` holds)."""

    def __init__(self, limiter: RedisLimiter) -> None:
        self._limiter = limiter

    @property
    def rate(self) -> RateLimit:
        """The bulk budget in force."""
        return self._limiter._rate_of(BULK)

    def delay(self) -> float:
        """Seconds until the bulk budget could grant, as of the last decision."""
        return self._limiter._delay_of(BULK)

    async def acquire(self) -> None:
        """A grant of the bulk budget alone (the engine takes both together, by ``grant``)."""
        await self._limiter._grant(False, True, False)

    def pause(self, seconds: float) -> None:
        """Pause the bulk budget here and in every process."""
        self._limiter._pause(BULK, seconds)

    def adopt(self, rate: RateLimit) -> None:
        """Adopt a lower bulk limit here and in every process."""
        self._limiter._adopt(BULK, rate)


class RedisBudgets(Budgets):
    """``Budgets`` whose general and bulk budgets and daily quota are a ``RedisLimiter``'s.

    A bulk call takes its general and bulk grants in one script, at one instant of the Redis
    server's clock; what a rejection teaches (``Budgets.rejected``) goes to every process.
    """

    def __init__(self, limiter: RedisLimiter) -> None:
        self.limiter = limiter
        self._bulk = _BulkBudget(limiter)
        super().__init__(
            limiter, None, limiter.quota, clock=limiter.clock, make_limiter=self._learn_bulk
        )

    @property
    def bulk(self) -> Limiter | None:
        """The bulk budget, once one is configured, adopted or learned by any process."""
        return self._bulk if self.limiter.bulk_rate is not None else None

    @bulk.setter
    def bulk(self, value: Limiter | None) -> None:
        """Ignored: the limiter keeps the bulk budget (``make_limiter`` learns one)."""

    def _learn_bulk(self, rate: RateLimit) -> Limiter:
        self.limiter.learn_bulk(rate)
        return self._bulk

    async def acquire(self, bulk: bool, *, yielding: bool = False) -> float:
        """Wait for a grant (general, and bulk too for a bulk call); give the seconds waited.

        Raises ``SharedQuotaSpentError`` when the shared quota refuses the call.
        """
        started = self._clock()
        quota = self.limiter.quota
        if bulk:
            self._bulk_waiting += 1
        try:
            while (wait := self.delay(bulk, yielding=yielding)) > 0:
                await asyncio.sleep(wait)
            probe, quota.probe_pending = quota.probe_pending, False
            interactive = not quota.allows(interactive=False)
            await self.limiter.grant(bulk, interactive=interactive, probe=probe)
            if probe:
                quota.probe_sent()
        finally:
            if bulk:
                self._bulk_waiting -= 1
        return self._clock() - started


def shared_budgets(
    limiter: Limiter,
    bulk_limiter: Limiter | None,
    bulk_rate: RateLimit | None,
    daily_quota: int | None,
    quota_reserve: float,
) -> RedisBudgets | None:
    """``RedisBudgets`` for a client whose limiter is a ``RedisLimiter``, else None.

    The client's ``bulk_rate``, ``daily_quota`` and ``quota_reserve`` fill in what the limiter
    was not given. A ``bulk_limiter`` of the old form (``budget="bulk"`` on the same keys) gives
    its rate; one of another kind keeps the bulk budget and the quota in-process (None).
    """
    if not isinstance(limiter, RedisLimiter) or limiter.budget != GENERAL:
        return None
    if bulk_limiter is not None:
        legacy = (
            isinstance(bulk_limiter, RedisLimiter)
            and bulk_limiter.budget == BULK
            and bulk_limiter.keys == limiter.keys
        )
        if not legacy:
            return None
        bulk_rate = bulk_limiter.rate
    limiter._fill(bulk_rate, daily_quota, quota_reserve)
    return RedisBudgets(limiter)
