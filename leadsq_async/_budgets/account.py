"""The account's budgets for a client: its limiters, in this process or shared through Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

from .budgets import AccountLimiter, Budgets
from .limiters import Limiter, RateLimit, TokenBucketLimiter
from .quota import Quota

__all__ = ["AccountSettings", "account_budgets"]


class AccountSettings(Protocol):
    """The settings the account's budgets are made from (``Settings`` has them all)."""

    @property
    def access_key(self) -> str: ...
    @property
    def limiter(self) -> Limiter | None: ...
    @property
    def bulk_limiter(self) -> Limiter | None: ...
    @property
    def rate_limit(self) -> RateLimit | None: ...
    @property
    def bulk_rate_limit(self) -> RateLimit | None: ...
    @property
    def daily_quota(self) -> int | None: ...
    @property
    def quota_reserve(self) -> float: ...
    @property
    def redis_url(self) -> str | None: ...
    @property
    def redis_prefix(self) -> str: ...
    @property
    def redis_fallback(self) -> Literal["wait", "local"]: ...


def account_budgets(
    settings: AccountSettings, clock: Callable[[], float]
) -> tuple[Limiter, Budgets, Any]:
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
    limiter = limiter or TokenBucketLimiter(settings.rate_limit, clock=clock)
    budgets = _shared(limiter, settings) or _own(limiter, settings, clock)
    return limiter, budgets, owned


def _shared(limiter: Limiter, settings: AccountSettings) -> Budgets | None:
    """The budgets a limiter that keeps the account's budgets itself gives (None: none)."""
    if not isinstance(limiter, AccountLimiter):
        return None
    return limiter.account_budgets(
        settings.bulk_limiter,
        settings.bulk_rate_limit,
        settings.daily_quota,
        settings.quota_reserve,
    )


def _own(limiter: Limiter, settings: AccountSettings, clock: Callable[[], float]) -> Budgets:
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
