"""The daily quota shared through Redis, as this process last heard it.

``RedisLimiter`` counts every call against the account's quota in its decision script and
refuses calls once the shared quota is spent; ``SharedQuota`` is the engine's view of that
shared state. Its numbers are those of the last script reply (another process's calls show at
this process's next decision), ``spend`` does nothing (the script counted the call when it
granted it), and what this process learns (the quota's size, that it is spent, that a probe got
through) goes to Redis through ``share`` for every process's next decision.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .quota import DAY, Quota

__all__ = ["SharedQuota"]

#: ``share(what, reset_in, limit)``: what is "exhaust", "recover" or "limit".
Share = Callable[[str, "float | None", "int | None"], None]


class SharedQuota(Quota):
    """The shared quota's mirror: ``limit``, ``used``, ``exhausted_until`` and the next probe."""

    def __init__(
        self,
        limit: int | None,
        *,
        reserve: float = 0.0,
        window: float = DAY,
        clock: Callable[[], float],
        share: Share,
    ) -> None:
        self._share: Share | None = None
        self._limit: int | None = limit
        super().__init__(limit, reserve=reserve, window=window, clock=clock)
        self._share = share
        self._shared_used = 0
        self._frees_at: float | None = None  # when the oldest counted call leaves the window
        #: A probe the engine was allowed (``probe_due``) and the next grant carries.
        self.probe_pending = False
        self._probed = False

    @property
    def limit(self) -> int | None:
        """The quota's size: configured, or learned by any process (None: unknown)."""
        return self._limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        changed = value != self._limit
        self._limit = value
        if changed and value is not None and self._share is not None:
            self._share("limit", None, value)

    def configure(self, limit: int | None, reserve: float | None) -> None:
        """Take the client's quota and reserve where none was given (none is shared)."""
        if limit is not None and self._limit is None:
            self._limit = limit
        if reserve is not None:
            self.reserve = reserve

    # -- what the shared state says ----------------------------------------------------------

    def mirror(
        self, used: int, limit: int, exhausted_in: float, probe_in: float, frees_in: float
    ) -> None:
        """Take the numbers of a script reply (seconds; negative: none, -2 exhausted for good)."""
        now = self._clock()
        self._shared_used = used
        self._limit = limit if limit >= 0 else self._limit
        if exhausted_in == -1:
            self.exhausted_until = None
            self._probe_at = 0.0
        else:
            self.exhausted_until = math.inf if exhausted_in < 0 else now + exhausted_in
            self._probe_at = now + max(0.0, probe_in)
        self._frees_at = now + frees_in if frees_in >= 0 else None

    def count_local(self) -> None:
        """Count a call granted in-process while Redis did not answer."""
        self._shared_used += 1

    def spend(self) -> None:
        """Nothing: the shared script counted the call when it granted it."""

    @property
    def used(self) -> int:
        """Calls counted in the rolling window by every process, as of the last decision."""
        return self._shared_used

    @property
    def reset_in(self) -> float | None:
        """Seconds until a spent quota comes back, if known."""
        now = self._clock()
        if self.exhausted_until is None:
            if self._limit is None or self.used < self._limit or self._frees_at is None:
                return None
            return max(0.0, self._frees_at - now)
        if math.isinf(self.exhausted_until):
            return None
        return max(0.0, self.exhausted_until - now)

    # -- deciding and learning ---------------------------------------------------------------

    def allows(self, interactive: bool) -> bool:
        """Whether the shared quota, as last heard, lets a call for this kind of row go now."""
        if self.exhausted_until is not None:
            if self._clock() < self.exhausted_until:
                return False
            self.exhausted_until = None  # its reset passed; the script forgets it too
        if self._limit is None:
            return True
        if self.used >= self._limit:
            return False
        return interactive or self.used < self._limit * (1 - self.reserve)

    def exhaust(self, reset_in: float | None) -> None:
        """The service said the quota is spent: here at once, in every process through Redis."""
        super().exhaust(reset_in)
        if self._share is not None:
            self._share("exhaust", reset_in, None)

    def probe_due(self) -> bool:
        """Whether this process may probe a spent quota now; the script has the last word."""
        due = super().probe_due()
        if due:
            self.probe_pending = True
        return due

    def probe_sent(self) -> None:
        """A probe was granted: its success will mean the quota is back for everyone."""
        self.probe_pending = False
        self._probed = True

    def recovered(self) -> None:
        """A call went through. After a probe of ours, the quota is back for every process;
        otherwise the call was in flight before the quota ran out and proves nothing."""
        if not self._probed:
            return
        self._probed = False
        super().recovered()
        if self._share is not None:
            self._share("recover", None, None)
