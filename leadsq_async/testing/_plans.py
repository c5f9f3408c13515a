"""LeadSquared's published plans, as budgets the fake can enforce.

LeadSquared's rate-limits page has been published in two versions that disagree (see
``/work/shared/leadsquared-api/README.md``, "Rate limits"). Version A gives every plan a bulk
budget of 1 call in 5 seconds and no daily quota; version B gives Pro and Super a larger
ordinary budget, a bulk budget of their own, and a daily quota of a base plus 1,000 calls per
user, capped. Each plan is here once per version that lists it: ``"pro-a"`` and ``"pro-b"``.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping

import attrs

from ._budgets import Limit, LimitLike

__all__ = ["DAY", "PLANS", "Plan", "get_plan", "plan_limits"]

DAY = 86400.0
"""The quota's window, in seconds: a rolling day."""


@attrs.frozen
class Plan:
    """One published plan: its budgets per 5 seconds and, in version B, its daily quota.

    ``quota_base + quota_per_user * users`` calls per ``DAY``, at most ``quota_cap``; no quota
    when ``quota_base`` is 0.
    """

    name: str
    version: str
    rate_limit: Limit
    bulk_rate_limit: Limit
    quota_base: int = 0
    quota_per_user: int = 0
    quota_cap: int | None = None

    def daily_quota(self, users: int = 1) -> Limit | None:
        """The quota for an account with ``users`` users (None: this plan has none)."""
        if isinstance(users, bool) or not isinstance(users, int) or users < 1:
            raise ValueError(f"users must be an int >= 1, got {users!r}")
        if not self.quota_base:
            return None
        calls = self.quota_base + self.quota_per_user * users
        if self.quota_cap is not None:
            calls = min(calls, self.quota_cap)
        return Limit(calls, DAY)

    def limits(self, *, users: int = 1, scale: float = 1.0) -> dict[str, Limit | None]:
        """The plan as ``FakeLeadSquared`` options, every period divided by ``scale``.

        Keys: ``rate_limit``, ``bulk_rate_limit``, ``daily_quota``. Call counts stay the plan's;
        only time shrinks (``scale=5``: 1 s of a test stands for 5 s).
        """
        scale = _checked_scale(scale)
        quota = self.daily_quota(users)
        return {
            "rate_limit": self.rate_limit.scaled(scale),
            "bulk_rate_limit": self.bulk_rate_limit.scaled(scale),
            "daily_quota": None if quota is None else quota.scaled(scale),
        }


def _a(name: str, calls: int) -> Plan:
    # Version A: "for all plans, the rate limit for all Bulk APIs is 1 call in 5 seconds".
    return Plan(f"{name}-a", "A", Limit(calls, 5), Limit(1, 5))


PLANS: Mapping[str, Plan] = types.MappingProxyType(
    {
        plan.name: plan
        for plan in (
            _a("lite", 2),
            _a("basic", 10),
            _a("pro", 5),
            _a("super", 10),
            _a("standard", 15),
            _a("enterprise", 25),
            Plan("pro-b", "B", Limit(10, 5), Limit(5, 5), 10_000, 1_000, 250_000),
            Plan("super-b", "B", Limit(20, 5), Limit(10, 5), 100_000, 1_000, 1_000_000),
        )
    }
)
"""The published plans by name (``"<plan>-a"`` / ``"<plan>-b"`` for the page's version)."""


def get_plan(plan: str | Plan) -> Plan:
    """``plan`` itself, or the published plan of that name (case-insensitive)."""
    if isinstance(plan, Plan):
        return plan
    found = PLANS.get(plan.strip().lower())
    if found is None:
        raise ValueError(f"unknown plan {plan!r}; known plans: {', '.join(PLANS)}")
    return found


def plan_limits(
    plan: str | Plan, users: int, scale: float, options: dict[str, object]
) -> tuple[Plan, dict[str, Limit | None]]:
    """The plan, and its limits with any of ``options``' limits in their place, all scaled.

    The ``rate_limit``, ``bulk_rate_limit`` and ``daily_quota`` found in ``options`` are taken
    out of it; each must be None or have ``calls`` and ``period``.
    """
    chosen = get_plan(plan)
    limits: dict[str, Limit | None] = chosen.limits(users=users)
    for key in list(limits):
        if key in options:
            given = options.pop(key)
            limits[key] = None if given is None else Limit.of(_limit_like(key, given))
    return chosen, {
        key: None if limit is None else limit.scaled(_checked_scale(scale))
        for key, limit in limits.items()
    }


def _limit_like(key: str, value: object) -> LimitLike:
    if not (hasattr(value, "calls") and hasattr(value, "period")):
        raise TypeError(f"{key} must have calls and period, got {value!r}")
    return value


def _checked_scale(scale: float) -> float:
    if isinstance(scale, bool) or not (
        isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0
    ):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    return float(scale)
