"""The account's budgets for a client: its limiters, in this process or shared through Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._settings import Settings
from .budgets import AccountLimiter, Budgets
from .limiters import Limiter, RateLimit, TokenBucketLimiter
from .quota import Quota

__all__ = ["account_budgets"]


def account_budgets(settings: Settings, clock: Callable[[], float]) -> tuple[Limiter, Budgets, Any]:
    """The general limiter, the budgets the engine spends, and a limiter the client owns.

    With ``redis_url`` the client makes (and later closes) a ``RedisLimiter`` that shares
    every budget and the quota; given a limiter that keeps the account's budgets itself
    (an ``AccountLimiter``, such as a ``RedisLimiter``) as ``limiter``, it spends those;
    otherwise the budgets are kept in this process.
    """
    owned: Any = None
    limiter = settings.limiter
    if limiter is None and settings.redis_url is not None:
        from .redis import RedisLimiter  # the redis extra

        limiter = owned = RedisLimiter(
            settings.redis_url,
            settings.access_key,
            settings.rate_limit,
            bulk_rate=settings.bulk_rate_limit,
            daily_quota=settings.daily_quota,
            quota_reserve=settings.quota_reserve,
            prefix=settings.redis_prefix,
            fallback=settings.redis_fallback,
            clock=clock,
        )
    limiter = limiter or TokenBucketLimiter(settings.rate_limit or RateLimit(), clock=clock)
    budgets = _shared(limiter, settings) or _own(limiter, settings, clock)
    return limiter, budgets, owned


def _shared(limiter: Limiter, settings: Settings) -> Budgets | None:
    """The budgets a limiter that keeps the account's budgets itself gives (None: none)."""
    if not isinstance(limiter, AccountLimiter):
        return None
    return limiter.account_budgets(
        settings.bulk_limiter,
        settings.bulk_rate_limit,
        settings.daily_quota,
        settings.quota_reserve,
    )


def _own(limiter: Limiter, settings: Settings, clock: Callable[[], float]) -> Budgets:
    """Budgets kept in this process."""
    bulk_limiter = settings.bulk_limiter
    if bulk_limiter is None and settings.bulk_rate_limit is not None:
        bulk_limiter = TokenBucketLimiter(settings.bulk_rate_limit, clock=clock)
    return Budgets(
        limiter,
        bulk_limiter,
        Quota(settings.daily_quota, reserve=settings.quota_reserve, clock=clock),
        clock=clock,
    )
