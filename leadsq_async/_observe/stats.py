"""Counters the client keeps, and the snapshot ``stats()`` returns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._budgets.limiters import RateLimit

__all__ = ["CloseReport", "Counters", "EndpointStats", "Stats"]


@attrs.frozen
class EndpointStats:
    """Calls and rows sent to one endpoint."""

    calls: int = 0
    rows: int = 0

    @property
    def mean_rows_per_call(self) -> float:
        """Rows per call, 0.0 before the first call."""
        return self.rows / self.calls if self.calls else 0.0


@attrs.frozen
class Stats:
    """A snapshot of what the client has done so far.

    ``rate_limit`` and ``bulk_rate_limit`` are the budgets in force (configured or learned);
    ``quota_used`` the calls made in the rolling day, ``quota_left`` what is left of the daily
    quota (None while it is unknown). ``calls_refused_whole`` counts the calls the service
    refused whole (perhaps for one bad row; ``splits`` of them were halved, the others' rows
    went again one by one) and ``sorting_calls`` the calls that sorting them out cost (the
    halves, and the rows sent alone on their single-lead road).
    """

    endpoints: Mapping[str, EndpointStats]
    rate_limited: int
    retries: int
    pending: int
    in_flight: int
    limiter_wait: float
    splits: int = 0
    rate_limit: RateLimit | None = None
    bulk_rate_limit: RateLimit | None = None
    quota_used: int = 0
    quota_left: int | None = None
    calls_refused_whole: int = 0
    sorting_calls: int = 0

    @property
    def calls(self) -> int:
        """HTTP calls sent, all endpoints."""
        return sum(e.calls for e in self.endpoints.values())

    @property
    def rows(self) -> int:
        """Rows sent (a retried row counts again), all endpoints."""
        return sum(e.rows for e in self.endpoints.values())

    @property
    def mean_rows_per_call(self) -> float:
        """Rows per call over every endpoint."""
        calls = self.calls
        return self.rows / calls if calls else 0.0


@attrs.frozen
class CloseReport:
    """What ``aclose()`` did with the rows it found unfinished."""

    sent: int
    failed: int
    abandoned: int


@attrs.define
class Counters:
    """The live counters behind ``Stats``."""

    calls: dict[str, int] = attrs.field(factory=dict)
    rows: dict[str, int] = attrs.field(factory=dict)
    rate_limited: int = 0
    retries: int = 0
    splits: int = 0
    calls_refused_whole: int = 0
    sorting_calls: int = 0
    limiter_wait: float = 0.0

    def count_call(self, endpoint: str, rows: int) -> None:
        """One call of ``rows`` rows went to ``endpoint``."""
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
        self.rows[endpoint] = self.rows.get(endpoint, 0) + rows

    def snapshot(self, pending: int, in_flight: int, **budgets: Any) -> Stats:
        """Freeze the counters (``budgets``: what ``Stats`` says of the budgets)."""
        return Stats(
            endpoints={
                name: EndpointStats(self.calls[name], self.rows.get(name, 0)) for name in self.calls
            },
            rate_limited=self.rate_limited,
            retries=self.retries,
            pending=pending,
            in_flight=in_flight,
            limiter_wait=self.limiter_wait,
            splits=self.splits,
            calls_refused_whole=self.calls_refused_whole,
            sorting_calls=self.sorting_calls,
            **budgets,
        )
