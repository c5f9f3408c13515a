"""``FakeLeadSquared.summary()``: the ledger and store in numbers another process can read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._budgets import BUDGETS
from ._endpoints import BULK_ENDPOINTS

if TYPE_CHECKING:
    from ._budgets import Budgets
    from ._ledger import Ledger, LedgerEntry
    from ._store import LeadStore

__all__ = ["summarize"]


def summarize(
    ledger: Ledger, store: LeadStore, budgets: Budgets, window: float | None
) -> dict[str, object]:
    """Calls, rejections (in all and per budget), the busiest windows, leads and duplicates."""
    endpoints: dict[str, dict[str, int]] = {}
    for entry in ledger.entries:
        if entry.applied:
            counts = endpoints.setdefault(entry.endpoint, {"calls": 0, "rows": 0})
            counts["calls"] += 1
            counts["rows"] += entry.rows
    per_budget: dict[str, dict[str, object]] = {}
    for name in BUDGETS:
        limit = budgets.limits[name]
        if limit is None:
            continue

        def kind(entry: LedgerEntry, name: str = name) -> bool:
            return budgets.applies(name, entry.endpoint in BULK_ENDPOINTS)

        per_budget[name] = {
            "limit": str(limit),
            "rejected": ledger.rate_limited(name),
            "max_calls_in_window": ledger.max_calls_in_window(limit.period, where=kind),
        }
    return {
        "calls": ledger.calls(),
        "accepted": ledger.calls(accepted_only=True),
        "rate_limited": ledger.rate_limited(),
        "max_calls_in_window": ledger.max_calls_in_window(window),
        "window": window if window is not None else ledger.default_window,
        "budgets": per_budget,
        "endpoints": endpoints,
        "leads": store.count(),
        "duplicates": len(store.duplicates()),
    }
