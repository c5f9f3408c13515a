"""The fake's rate limits: its own ``Limit`` type and the sliding-window budgets it enforces.

The fake deliberately has its own limit type rather than the client's ``RateLimit``: a bug in
one shared type would show on both sides of a test and cancel out.
"""

from __future__ import annotations

import collections
import math
from typing import Protocol

import attrs

__all__ = ["GENERAL", "Budgets", "Limit", "LimitLike", "rejection_message"]

GENERAL = "general"
"""The budget every call passes."""
BULK = "bulk"
"""The budget the bulk endpoints pass as well."""


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

    def __str__(self) -> str:
        return f"{self.calls}/{self.period:g}"


def rejection_message(limit: Limit) -> str:
    """What the service says when ``limit`` is exceeded: it names the real numbers."""
    return f"API calls exceeded the limit of {limit.calls} in {limit.period:g} second(s)"


class Budgets:
    """The sliding-window logs of an account's budgets, and the admission rule.

    ``general`` bounds every call, ``bulk`` also bounds bulk calls (None: no such budget). A call
    is admitted only when every budget it belongs to has room, and only an admitted call is
    counted, in all of them: a rejection costs nothing.
    """

    def __init__(self, general: Limit | None, bulk: Limit | None) -> None:
        self.limits: dict[str, Limit | None] = {GENERAL: general, BULK: bulk}
        """Each budget's limit, by name (None: unlimited); read at every admission."""
        # The logs outlive a change of limit, as a real account's traffic would.
        self._logs: dict[str, collections.deque[float]] = {
            name: collections.deque() for name in self.limits
        }

    def admit(self, bulk: bool, now: float) -> tuple[str, Limit] | None:
        """Count a call arriving at ``now``, or return the budget it would exceed, and its limit.

        Budgets are checked general first, so that budget is the one named when several are
        full.
        """
        names = (GENERAL, BULK) if bulk else (GENERAL,)
        checked: list[collections.deque[float]] = []
        for name in names:
            limit = self.limits[name]
            if limit is None:
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
