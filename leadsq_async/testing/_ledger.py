"""The ledger: one entry per request the fake received, for assertions after a run."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable

import attrs

__all__ = ["Ledger", "LedgerEntry"]


@attrs.frozen
class LedgerEntry:
    """One request the fake received, and what it did with it.

    ``time`` is the fake's clock at arrival; ``rows`` the rows in the body (1 for the
    single-lead writes, the number of LeadIds for ``Lead/Bulk/Update``, 0 for GETs); ``status``
    the HTTP status sent (for a dropped connection, the one that would have been sent, or 0
    when the request was dropped before processing); ``applied`` whether the store changed;
    ``rate_limited`` whether it was rejected by the rate limit (either form, window or forced
    fault); ``fault`` the injected fault, if any (``"drop_before"``, ``"drop_after"``,
    ``"system_error"``, ``"rate_limited"``, ``"omit_rows"``, ``"change_case"``);
    ``post_updated_lead`` whether ``Lead.Update`` or ``Lead.CreateOrUpdate`` asked for
    automations (``postUpdatedLead=true``); ``auth_failed`` whether the keys were refused
    (HTTP 401); ``budget`` the budget whose window rejected the call (``"general"``,
    ``"bulk"`` or ``"quota"``; None for a call it admitted and for a forced ``rate_limited``
    fault).
    """

    time: float
    endpoint: str
    rows: int = 0
    status: int = 200
    applied: bool = False
    rate_limited: bool = False
    fault: str | None = None
    post_updated_lead: bool = False
    auth_failed: bool = False
    budget: str | None = attrs.field(default=None, kw_only=True)
    seq: int = attrs.field(default=0, eq=False, repr=False)

    @property
    def accepted(self) -> bool:
        """Whether the service's budgets counted this call."""
        return not (
            self.rate_limited
            or self.auth_failed
            or self.fault == "drop_before"
            or self.status in (404, 405)
        )


class Ledger:
    """Every request the fake received, in arrival order, with cheap summaries."""

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._sorted = True
        self._lock = threading.Lock()
        #: The window ``max_calls_in_window`` uses by default; the fake sets its rate period.
        self.default_window = 5.0

    def record(self, entry: LedgerEntry) -> None:
        """Append ``entry`` (the fake calls this; tests may too, to build a ledger by hand)."""
        entries = self._entries
        if entries and entry.seq < entries[-1].seq:
            self._sorted = False
        entries.append(entry)

    @property
    def entries(self) -> list[LedgerEntry]:
        """A copy of all entries, in arrival order."""
        with self._lock:
            if not self._sorted:
                self._entries.sort(key=lambda e: e.seq)
                self._sorted = True
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries = []
            self._sorted = True

    def calls(self, endpoint: str | None = None, *, accepted_only: bool = False) -> int:
        """Count calls (to ``endpoint``, or all), optionally only those the window counted."""
        return sum(
            1
            for e in self._entries
            if (endpoint is None or e.endpoint == endpoint) and (not accepted_only or e.accepted)
        )

    def rows_per_call(self, endpoint: str | None = None) -> list[int]:
        """Rows of each applied call (to ``endpoint``, or all), in arrival order."""
        return [
            e.rows
            for e in self.entries
            if e.applied and (endpoint is None or e.endpoint == endpoint)
        ]

    def rate_limited(self, budget: str | None = None) -> int:
        """How many calls were rejected by the rate limit (429 and HTTP-200 forms).

        With ``budget``, only the window rejections of that budget (forced faults excluded).
        """
        return sum(
            1 for e in self._entries if e.rate_limited and (budget is None or e.budget == budget)
        )

    def max_calls_in_window(
        self,
        window: float | None = None,
        endpoint: str | None = None,
        *,
        where: Callable[[LedgerEntry], bool] | None = None,
    ) -> int:
        """The most calls received (rejected included) in any window ``[t, t + window)``.

        ``window`` defaults to the owning fake's rate-limit period (5 seconds without one);
        ``endpoint`` and ``where`` narrow the calls counted.
        """
        if window is None:
            window = self.default_window
        times = sorted(
            e.time
            for e in self._entries
            if (endpoint is None or e.endpoint == endpoint) and (where is None or where(e))
        )
        best = 0
        lo = 0
        for hi, t in enumerate(times):
            while times[lo] <= t - window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    def times(self, endpoint: str | None = None) -> list[float]:
        """Arrival times (of calls to ``endpoint``, or all), sorted."""
        return sorted(e.time for e in self._entries if endpoint is None or e.endpoint == endpoint)

    def calls_between(self, start: float, end: float, endpoint: str | None = None) -> int:
        """Calls received with ``start <= time < end``."""
        times = self.times(endpoint)
        return bisect.bisect_left(times, end) - bisect.bisect_left(times, start)

    def __repr__(self) -> str:
        return f"Ledger(entries={len(self._entries)})"
