"""The daily call quota: calls counted over a rolling 24 hours, and a reserve for people waiting.

LeadSquared's version-B plans cap the calls an account makes per day on top of its per-second
budgets. ``Quota`` counts this client's calls in one-minute buckets over the rolling window,
keeps ``reserve`` of the quota for interactive rows (bulk rows stop first), and remembers when
the service said the quota is spent: then nothing is sent until it can be spent again, except a
rare probe to find out.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable

from .._errors import QuotaExhaustedError

__all__ = ["DAY", "Quota"]

#: The quota's window: a rolling day.
DAY = 86_400.0
#: The first probe after the quota was spent, and the longest gap between probes.
PROBE_FIRST = 60.0
PROBE_MAX = 900.0


class Quota:
    """Calls per rolling window (``limit`` None: unknown), spent and left, and exhaustion."""

    def __init__(
        self,
        limit: int | None,
        *,
        reserve: float = 0.0,
        window: float = DAY,
        clock: Callable[[], float],
    ) -> None:
        self.limit = limit
        self.reserve = reserve
        self.window = window
        self._clock = clock
        self._bucket = window / 1440  # a minute of a day
        # (start, calls) per minute: a tuple of numbers is not tracked by the garbage
        # collector once it has looked at it, a list would be, a day's worth per account.
        self._counts: collections.deque[tuple[float, int]] = collections.deque()
        self._used = 0
        self.exhausted_until: float | None = None  # None: not exhausted; inf: unknown reset
        self._probe_at = 0.0
        self._probe_gap = PROBE_FIRST

    # -- counting --------------------------------------------------------------------------

    def _age(self, now: float) -> None:
        horizon = now - self.window
        counts = self._counts
        while counts and counts[0][0] + self._bucket <= horizon:
            self._used -= counts.popleft()[1]

    def spend(self) -> None:
        """Count one call made now."""
        now = self._clock()
        self._age(now)
        start = math.floor(now / self._bucket) * self._bucket
        counts = self._counts
        if counts and counts[-1][0] == start:
            counts[-1] = (start, counts[-1][1] + 1)
        else:
            counts.append((start, 1))
        self._used += 1

    @property
    def used(self) -> int:
        """Calls counted in the rolling window."""
        self._age(self._clock())
        return self._used

    @property
    def left(self) -> int | None:
        """Calls left in the rolling window (None while the quota is unknown)."""
        if self.limit is None:
            return None
        if self.exhausted_until is not None:
            return 0
        return max(0, self.limit - self.used)

    # -- deciding ----------------------------------------------------------------------------

    def allows(self, interactive: bool) -> bool:
        """Whether a call for an interactive (or bulk) row may be made now."""
        if self.exhausted_until is not None:
            if self._clock() >= self.exhausted_until:
                self.recovered()
            else:
                return False
        if self.limit is None:
            return True
        used = self.used
        if used >= self.limit:
            return False
        return interactive or used < self.limit * (1 - self.reserve)

    def exhaust(self, reset_in: float | None) -> None:
        """The service said the quota is spent; it comes back in ``reset_in`` s if known."""
        now = self._clock()
        until = now + reset_in if reset_in is not None else math.inf
        self.exhausted_until = max(self.exhausted_until or 0.0, until)
        if self._probe_at <= now:
            self._probe_at = now + self._probe_gap
            self._probe_gap = min(PROBE_MAX, self._probe_gap * 2)

    @property
    def probing(self) -> bool:
        """While spent: whether a probe may go now (without spending it)."""
        return self.exhausted_until is not None and self._clock() >= self._probe_at

    def probe_due(self) -> bool:
        """While spent with no known reset: whether one call may go to find out (then not again
        until the next probe time)."""
        if self.exhausted_until is None:
            return False
        now = self._clock()
        if now < self._probe_at:
            return False
        self._probe_at = now + self._probe_gap
        self._probe_gap = min(PROBE_MAX, self._probe_gap * 2)
        return True

    def recovered(self) -> None:
        """A call went through: the quota is not spent (any more)."""
        self.exhausted_until = None
        self._probe_gap = PROBE_FIRST
        self._probe_at = 0.0

    @property
    def reset_in(self) -> float | None:
        """Seconds until a spent quota comes back, if known."""
        now = self._clock()
        if self.exhausted_until is None:
            if self.limit is None or self.used < self.limit or not self._counts:
                return None
            # Our own count reached the quota: it frees up as our oldest calls age out.
            return max(0.0, self._counts[0][0] + self._bucket + self.window - now)
        if math.isinf(self.exhausted_until):
            return None
        return max(0.0, self.exhausted_until - now)

    def error(self) -> QuotaExhaustedError:
        """The error a row gets while the quota is spent (or down to the share kept)."""
        reset = self.reset_in
        if self.exhausted_until is None and self.limit is not None:
            return QuotaExhaustedError(
                f"the daily quota ({self.limit} calls) is spent, or down to the "
                f"{self.reserve:.0%} kept for interactive rows",
                reset,
            )
        when = f"it comes back in about {reset / 60:.0f} min" if reset else "reset time unknown"
        return QuotaExhaustedError(f"the account's daily API quota is spent; {when}", reset)
