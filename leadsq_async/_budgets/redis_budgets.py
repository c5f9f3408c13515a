"""The engine's budgets taken from a ``RedisLimiter``: shared by every process of the account."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from .budgets import BULK, Budgets
from .limiters import Limiter, RateLimit
from .redis_quota import SharedQuota

__all__ = ["RedisBudgets", "SharedLimiter"]


class SharedLimiter(Limiter, Protocol):
    """What ``RedisBudgets`` uses of a ``RedisLimiter`` (declared here: it builds on this)."""

    quota: SharedQuota
    clock: Callable[[], float]

    @property
    def bulk_rate(self) -> RateLimit | None:
        """The bulk budget in force (None while it is unknown)."""

    async def grant(self, bulk: bool, *, interactive: bool = False, probe: bool = False) -> None:
        """A general grant, and a bulk one at the same instant for a bulk call."""

    def learn_bulk(self, rate: RateLimit) -> None:
        """A bulk budget the service revealed."""

    def _rate_of(self, name: str) -> RateLimit: ...
    def _delay_of(self, name: str) -> float: ...
    async def _grant(self, general: bool, bulk: bool, count: bool) -> None: ...
    def _pause(self, name: str, seconds: float) -> None: ...
    def _adopt(self, name: str, rate: RateLimit) -> None: ...


class _BulkBudget:
    """A ``RedisLimiter``'s bulk budget seen as a limiter (what ``Budgets.bulk`` holds)."""

    def __init__(self, limiter: SharedLimiter) -> None:
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

    def __init__(self, limiter: SharedLimiter) -> None:
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
