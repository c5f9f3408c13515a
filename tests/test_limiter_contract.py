"""What the client relies on from a limiter is declared, checked, and all it uses.

``Limiter`` names every member the budgets call (``delay`` included); ``Settings`` refuses a
limiter without one of them, naming it; a limiter that keeps the account's budgets itself
(``AccountLimiter``, ``RedisLimiter`` among them) is recognised by what it declares.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

import leadsq_async as lsq
from leadsq_async._budgets.budgets import AccountLimiter, Budgets
from leadsq_async._budgets.limiters import Limiter
from leadsq_async._budgets.quota import Quota

from .vtime import run


class NoDelay:
    """A limiter of the old form: every member but ``delay``."""

    rate = lsq.RateLimit(25, 5)

    async def acquire(self) -> None:
        """Grant at once."""

    def pause(self, seconds: float) -> None:
        """Ignore pauses."""

    def adopt(self, rate: lsq.RateLimit) -> None:
        """Ignore announced limits."""


class FreeAt:
    """A limiter of its own that grants from ``free_at`` on and says how far away that is."""

    rate = lsq.RateLimit(25, 5)

    def __init__(self, free_at: float) -> None:
        self.free_at = free_at
        self.granted: list[float] = []

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def delay(self) -> float:
        """Seconds until ``free_at``."""
        return max(0.0, self.free_at - self._now())

    async def acquire(self) -> None:
        """Wait for ``free_at``, then grant (and note when)."""
        await asyncio.sleep(max(0.0, self.free_at - self._now()))
        self.granted.append(self._now())

    def pause(self, seconds: float) -> None:
        """Ignore pauses."""

    def adopt(self, rate: lsq.RateLimit) -> None:
        """Ignore announced limits."""


class OwnBudgets(AccountLimiter):
    """A limiter that keeps the account's budgets itself, without Redis."""

    rate = lsq.RateLimit(25, 5)

    def __init__(self) -> None:
        self.asked: list[tuple[object, ...]] = []

    async def acquire(self) -> None:
        """Grant at once."""

    def delay(self) -> float:
        """Never a wait."""
        return 0.0

    def pause(self, seconds: float) -> None:
        """Ignore pauses."""

    def adopt(self, rate: lsq.RateLimit) -> None:
        """Ignore announced limits."""

    def account_budgets(
        self,
        bulk_limiter: Limiter | None,
        bulk_rate: lsq.RateLimit | None,
        daily_quota: int | None,
        quota_reserve: float,
    ) -> Budgets | None:
        """Budgets with a quota of 7 calls, whatever the client was given."""
        self.asked.append((bulk_limiter, bulk_rate, daily_quota, quota_reserve))
        return Budgets(self, None, Quota(7, clock=lambda: 0.0), clock=lambda: 0.0)


def test_the_protocol_declares_delay() -> None:
    """A limiter without ``delay`` is no ``Limiter``; the built-in ones are."""
    assert not isinstance(NoDelay(), lsq.Limiter)
    assert isinstance(FreeAt(0.0), lsq.Limiter)
    for limiter in (lsq.TokenBucketLimiter(), lsq.SlidingWindowLimiter()):
        assert isinstance(limiter, lsq.Limiter)
        assert limiter.delay() == 0.0


def test_a_limiter_subclassing_the_protocol_inherits_a_delay_that_cannot_tell() -> None:
    """A class deriving from ``Limiter`` without a ``delay`` of its own says 0.0 and is taken."""

    class Derived(lsq.Limiter):
        rate = lsq.RateLimit(25, 5)

        async def acquire(self) -> None:
            """Grant at once."""

        def pause(self, seconds: float) -> None:
            """Ignore pauses."""

        def adopt(self, rate: lsq.RateLimit) -> None:
            """Ignore announced limits."""

    assert Derived().delay() == 0.0
    assert lsq.Settings("u$r", "secret", limiter=Derived()).limiter is not None


@pytest.mark.parametrize("field", ["limiter", "bulk_limiter"])
def test_a_limiter_without_delay_is_refused_naming_it(field: str) -> None:
    """Settings (and so the client) refuse a limiter lacking ``delay``, naming the argument
    and the missing member."""
    given: dict[str, Any] = {field: NoDelay()}
    with pytest.raises(lsq.ValidationError) as caught:
        lsq.Settings("u$r", "secret", **given)
    assert caught.value.field == field
    assert caught.value.rule.endswith("NoDelay lacks delay")
    with pytest.raises(lsq.ValidationError, match=f"^{field}: .*lacks delay"):
        lsq.LeadSquaredClient("u$r", "secret", **given)


def test_an_object_that_is_no_limiter_is_refused_naming_every_missing_member() -> None:
    """Every member the client would call and the object lacks is named, in protocol order."""
    with pytest.raises(lsq.ValidationError) as caught:
        lsq.Settings("u$r", "secret", limiter=object())  # type: ignore[arg-type]
    assert caught.value.rule.endswith("object lacks acquire, delay, pause, adopt, rate")


def test_a_bulk_call_waits_for_the_delays_its_limiters_declare() -> None:
    """A limiter of one's own that says how far its grant is makes a bulk call wait for the
    later budget, then take both grants at the same instant."""

    async def main() -> tuple[list[float], list[float], float]:
        general, bulk = FreeAt(1.0), FreeAt(3.0)
        loop = asyncio.get_running_loop()
        budgets = Budgets(general, bulk, Quota(None, clock=loop.time), clock=loop.time)
        waited = await budgets.acquire(True)
        return general.granted, bulk.granted, waited

    general, bulk, waited = run(main)
    assert general == bulk == [3.0]
    assert waited == 3.0


def test_a_limiter_whose_delay_is_always_zero_is_simply_asked() -> None:
    """Limiters that cannot tell (delay 0.0) are asked for their grants at once, in turn."""

    async def main() -> tuple[list[float], list[float]]:
        general, bulk = FreeAt(2.0), FreeAt(5.0)
        general.delay = bulk.delay = lambda: 0.0  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        budgets = Budgets(general, bulk, Quota(None, clock=loop.time), clock=loop.time)
        await budgets.acquire(True)
        return general.granted, bulk.granted

    general, bulk = run(main)
    assert general == [2.0]
    assert bulk == [5.0]


def test_a_limiter_that_keeps_the_account_budgets_is_spent_by_the_client() -> None:
    """An ``AccountLimiter`` gives the budgets the client spends, filled with its settings."""
    limiter = OwnBudgets()
    client = lsq.LeadSquaredClient(
        "u$r", "secret", limiter=limiter, bulk_rate_limit=lsq.RateLimit(5, 5), daily_quota=500
    )
    assert limiter.asked == [(None, lsq.RateLimit(5, 5), 500, 0.1)]
    assert client.stats().quota_left == 7


def test_a_redis_limiter_is_recognised_by_what_it_declares_not_by_sys_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A RedisLimiter shares the budgets even when its module is gone from sys.modules
    (a purged module cache): the client asks the limiter, not the import system."""
    pytest.importorskip("redis")
    limiter = lsq.RedisLimiter("redis://127.0.0.1:1/0", "u$r")
    monkeypatch.delitem(sys.modules, "leadsq_async._budgets.redis")
    lsq.LeadSquaredClient("u$r", "secret", limiter=limiter, daily_quota=500)
    assert limiter.quota.limit == 500  # the client's quota filled in the shared one
