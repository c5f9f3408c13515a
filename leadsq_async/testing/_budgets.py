"""The fake's rate limits: its own ``Limit`` type and the sliding-window budgets it enforces.

The fake deliberately has its own limit type rather than the client's ``RateLimit``: a bug in
one shared type would show on both sides of a test and cancel out.
"""

from __future__ import annotations

import collections
import math
from typing import Protocol

import attrs

__all__ = [
    "BUDGETS",
    "BULK",
    "GENERAL",
    "QUOTA",
    "QUOTA_MESSAGES",
    "Budgets",
    "Limit",
    "LimitLike",
    "rejection_message",
]

GENERAL = "general"
"""The budget every call passes (bulk calls too, unless configured otherwise)."""
BULK = "bulk"
"""The much smaller budget the bulk APIs pass as well."""
QUOTA = "quota"
"""The daily quota: every accepted call counts, over a long rolling window."""
BUDGETS = (GENERAL, BULK, QUOTA)
"""The budgets' names, in the order a call is checked against them."""
QUOTA_MESSAGES = ("window", "opaque")
"""How a spent quota is announced: naming its window, or in words no client can parse."""
OPAQUE_QUOTA_MESSAGE = "You have exhausted the API call quota of your account. Try again later."


def _positive_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an int >= 1, got {value!r}")


def _positive_float(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {value!r}")


class LimitLike(Protocol):
    """Anything with ``calls`` and ``period`` (a ``Limit``, or the client's ``RateLimit``)."""

    @property
    def calls(self) -> int:
        """Calls allowed in any window of ``period`` seconds."""

    @property
    def period(self) -> float:
        """The window, in seconds."""


@attrs.frozen
class Limit:
    """At most ``calls`` calls in any window of ``period`` seconds, as the fake counts them."""

    calls: int = attrs.field(default=25, validator=_positive_int)
    period: float = attrs.field(default=5.0, converter=float, validator=_positive_float)

    @classmethod
    def of(cls, limit: LimitLike) -> Limit:
        """``limit`` as a ``Limit`` (any object with ``calls`` and ``period`` will do)."""
        if isinstance(limit, Limit):
            return limit
        return cls(limit.calls, limit.period)

    @classmethod
    def parse(cls, text: str, default_period: float | None = None) -> Limit:
        """Read ``"25/5"`` (calls per seconds); ``"25"`` too when ``default_period`` is given."""
        calls, sep, period = text.strip().partition("/")
        try:
            if sep:
                return cls(int(calls), float(period))
            if default_period is not None:
                return cls(int(calls), default_period)
            raise ValueError
        except ValueError:
            shape = "CALLS[/SECONDS]" if default_period is not None else "CALLS/SECONDS"
            raise ValueError(f"a limit must look like {shape}, e.g. 25/5, got {text!r}") from None

    def scaled(self, scale: float) -> Limit:
        """The same calls in ``period / scale`` seconds (``scale=5``: 1 s stands for 5 s)."""
        return Limit(self.calls, self.period / scale)

    def __str__(self) -> str:
        return f"{self.calls}/{self.period:g}"


def rejection_message(limit: Limit, *, opaque: bool = False) -> str:
    """What the service says when ``limit`` is exceeded: it names the real numbers.

    ``opaque``: words that name no numbers, the undocumented form a spent quota may take.
    """
    if opaque:
        return OPAQUE_QUOTA_MESSAGE
    return f"API calls exceeded the limit of {limit.calls} in {limit.period:g} second(s)"


class Budgets:
    """The sliding-window logs of an account's budgets, and the admission rule.

    ``limits`` maps each budget (``GENERAL``, ``BULK``, ``QUOTA``) to its ``Limit``, or None
    for no such budget. A call passes the general budget (a bulk call only when
    ``bulk_counts_in_general``), the bulk budget when it is a bulk call, and the quota. It is
    admitted only when every one of them has room, and only an admitted call is counted, in
    all of them: a rejection costs nothing.
    """

    def __init__(
        self,
        general: Limit | None,
        bulk: Limit | None = None,
        quota: Limit | None = None,
        *,
        bulk_counts_in_general: bool = True,
    ) -> None:
        self.limits: dict[str, Limit | None] = {GENERAL: general, BULK: bulk, QUOTA: quota}
        """Each budget's limit, by name (None: no such budget); read at every admission."""
        self.bulk_counts_in_general = bulk_counts_in_general
        """Whether a bulk call also takes a slot of the general budget."""
        # The logs outlive a change of limit, as a real account's traffic would.
        self._logs: dict[str, collections.deque[float]] = {
            name: collections.deque() for name in BUDGETS
        }

    def applies(self, name: str, bulk: bool) -> bool:
        """Whether a call (a bulk call when ``bulk``) passes budget ``name``."""
        if name == BULK:
            return bulk
        if name == GENERAL:
            return not bulk or self.bulk_counts_in_general
        return True

    def admit(self, bulk: bool, now: float) -> tuple[str, Limit] | None:
        """Count a call arriving at ``now``, or return the budget it would exceed, and its limit.

        Budgets are checked in ``BUDGETS`` order (general, bulk, quota), so the first full one
        is the one named: the short windows first, as a client that waits them out next meets
        the quota anyway.
        """
        checked: list[collections.deque[float]] = []
        for name in BUDGETS:
            limit = self.limits[name]
            if limit is None or not self.applies(name, bulk):
                continue
            log = self._logs[name]
            horizon = now - limit.period
            while log and log[0] <= horizon:
                log.popleft()
            if len(log) >= limit.calls:
                return name, limit
            checked.append(log)
        for log in checked:
            log.append(now)
        return None

    def clear(self) -> None:
        """Forget every call counted."""
        for log in self._logs.values():
            log.clear()
