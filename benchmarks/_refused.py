"""Scenario 8 (issue 22): an import in which 1 % of rows refuse their whole bulk call.

For each published plan, a create import against the in-process fake with the plan's budgets
at a scaled window, run twice side by side: clean, and with 1 row in 100 (chosen at random,
seeded) carrying a value the service refuses so badly that it refuses the whole bulk call
(HTTP 500 ``MXInvalidInputException``), while the same row sent alone by ``Lead.Create`` fails
alone. The client is told both budgets. Figures: the good rows per second as a fraction of the
plan's ceiling (the bulk budget's calls, or the general budget's if fewer, 50 rows each), the
bulk calls refused and the extra calls per bad row, the bulk calls that left short (half
empty: fewer than 50 rows, the import's last call aside), and the time lost against the clean
import. The "with ``schema="account"``" column is to come with the schema checks.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, PLANS, FakeLeadSquared

__all__ = ["refused", "rows", "table"]

POISON = "__POISON__"
BULK_CREATE = "Lead/Bulk/Create"
ROWS_PER_CALL = 50
BAD_SHARE = 0.01
SEED = 22


def _rate(limit: Any) -> lsq.RateLimit:
    return lsq.RateLimit(limit.calls, limit.period)


async def _import(plan: str, scale: float, count: int, bad: set[int]) -> dict[str, Any]:
    """One import of ``count`` creates, the rows in ``bad`` poisoned; its figures."""
    fake = FakeLeadSquared.from_plan(plan, scale=scale, poison_value=POISON)
    limits = PLANS[plan].limits(scale=scale)
    general, bulk = _rate(limits["rate_limit"]), _rate(limits["bulk_rate_limit"])

    async def creates() -> Any:
        for n in range(count):
            row = {"EmailAddress": f"import{n}@example.com"}
            if n in bad:
                row["mx_Bad"] = POISON
            yield lsq.CreateLead(row)

    async with httpx.AsyncClient(transport=fake.transport()) as http:
        client = lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            http_client=http,
            rate_limit=general,
            bulk_rate_limit=bulk,
        )
        async with client:
            started = time.perf_counter()
            outcomes = [o async for o in client.stream(creates())]
            took = time.perf_counter() - started
            stats = client.stats()
    entries = fake.ledger.entries
    bulk_sizes = [e.rows for e in entries if e.endpoint == BULK_CREATE]
    refused = sum(1 for e in entries if e.endpoint == BULK_CREATE and e.status == 500)
    good = sum(1 for o in outcomes if o.ok)
    ceiling = min(bulk.calls / bulk.period, general.calls / general.period) * ROWS_PER_CALL
    return {
        "rows": count,
        "bad": len(bad),
        "good_ok": good,
        "bad_rejected": sum(
            1
            for n, o in enumerate(outcomes)
            if n in bad and isinstance(o.error, lsq.LeadRejectedError)
        ),
        "seconds": took,
        "rows_per_s": good / took,
        "ceiling_rows_per_s": ceiling,
        "fraction_of_ceiling": good / took / ceiling,
        "calls": len(entries),
        "bulk_calls": len(bulk_sizes),
        "single_calls": sum(1 for e in entries if e.endpoint == "Lead.Create"),
        "refused_bulk_calls": refused,
        "short_bulk_calls": sum(1 for size in bulk_sizes[:-1] if size < ROWS_PER_CALL),
        "rate_limited": fake.ledger.rate_limited(),
        "calls_refused_whole": stats.calls_refused_whole,
        "sorting_calls": stats.sorting_calls,
        "splits": stats.splits,
        "created": fake.store.count(),
        "duplicates": len(fake.store.duplicates()),
    }


async def _plan(plan: str, scale: float, count: int) -> dict[str, Any]:
    chosen = sorted(random.Random(SEED).sample(range(count), round(count * BAD_SHARE)))
    clean, poisoned = await asyncio.gather(
        _import(plan, scale, count, set()), _import(plan, scale, count, set(chosen))
    )
    bad = len(chosen)
    return {
        "clean": clean,
        "bad_rows": poisoned,
        "refused_per_bad_row": poisoned["refused_bulk_calls"] / bad,
        "extra_calls_per_bad_row": (poisoned["calls"] - clean["calls"]) / bad,
        "time_lost_s": poisoned["seconds"] - clean["seconds"],
        "time_lost_fraction": poisoned["seconds"] / clean["seconds"] - 1,
    }


async def refused(plan: Any) -> dict[str, Any]:
    """Every plan of ``plan.refused_plans``, clean and with 1 % whole-call bad rows."""
    scale, count = plan.refused_scale, plan.refused_rows
    names = list(plan.refused_plans)
    done = await asyncio.gather(*(_plan(name, scale, count) for name in names))
    return {"scale": scale, "rows": count, "plans": dict(zip(names, done, strict=True))}


def _f(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def table(results: dict[str, Any]) -> str:
    """One line per plan (for README)."""
    lines = [
        '| plan | fraction of ceiling: clean / 1 % bad | with `schema="account"` | refused '
        "bulk calls per bad row | extra calls per bad row | short bulk calls | time lost |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results["plans"].items():
        clean, bad = r["clean"], r["bad_rows"]
        lines.append(
            f"| {name} | {_f(clean['fraction_of_ceiling'])} / {_f(bad['fraction_of_ceiling'])} "
            f"| to come | {_f(r['refused_per_bad_row'])} "
            f"| {_f(r['extra_calls_per_bad_row'], '.1f')} "
            f"| {bad['short_bulk_calls']} | {_f(r['time_lost_s'], '.1f')} s "
            f"({_f(100 * r['time_lost_fraction'], '.0f')} %) |"
        )
    return "\n".join(lines)


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, measured, target) lines for the benchmark table."""
    out: list[tuple[str, str, str]] = []
    for name, r in results["plans"].items():
        bad = r["bad_rows"]
        target = ">= 0.85; <= 1; 0" if name == "enterprise-a" else "-"
        out.append(
            (
                f"refused {name}: 1 % whole-call bad rows: fraction of ceiling; refused bulk "
                "calls per bad row; short bulk calls",
                f"{_f(bad['fraction_of_ceiling'])}; {_f(r['refused_per_bad_row'])}; "
                f"{bad['short_bulk_calls']}",
                target,
            )
        )
    return out
