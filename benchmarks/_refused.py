"""Scenario 8 (issue 22): an import in which 1 % of rows refuse their whole bulk call.

For each published plan, a create import against the in-process fake with the plan's budgets
at a scaled window, run three times side by side: clean, and twice with 1 row in 100 (chosen at
random, seeded) carrying a value the account's field refuses (``mx_Age``, a Number, "abc"),
under a fake whose bad values refuse the whole bulk call (``bad_value_refuses="call"``: HTTP
500 ``MXInvalidInputException``) while the same row sent alone by ``Lead.Create`` fails alone.
The first bad-row import goes without a schema, so the bad rows refuse calls; the second with
``schema="account"``, so the client fetches ``LeadsMetaData.Get`` and refuses the bad rows at
the call (``ValidationError``) before any reaches the service. The client is told both
budgets. Figures: the good rows per second as a fraction of the plan's ceiling (the bulk
budget's calls, or the general budget's if fewer, 50 rows each), the bulk calls refused and
the extra calls per bad row, the bulk calls that left short (half empty: fewer than 50 rows,
the import's last call aside), and the time lost against the clean import.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx2

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, PLANS, FakeLeadSquared, Field

__all__ = ["refused", "rows", "table"]

#: The account's custom field the bad rows fill with a value it refuses.
FIELDS = (Field("mx_Age", "Number"),)
BAD_VALUE = "abc"
BULK_CREATE = "Lead/Bulk/Create"
ROWS_PER_CALL = 50
BAD_SHARE = 0.01
SEED = 22


def _rate(limit: Any) -> lsq.RateLimit:
    return lsq.RateLimit(limit.calls, limit.period)


async def _import(
    plan: str, scale: float, count: int, bad: set[int], *, schema: bool = False
) -> dict[str, Any]:
    """One import of ``count`` creates, the rows in ``bad`` with a refused value; its figures.

    ``schema``: the client checks rows against the account's fields (``schema="account"``).
    """
    fake = FakeLeadSquared.from_plan(plan, scale=scale, fields=FIELDS, bad_value_refuses="call")
    limits = PLANS[plan].limits(scale=scale)
    general, bulk = _rate(limits["rate_limit"]), _rate(limits["bulk_rate_limit"])

    async def creates() -> Any:
        for n in range(count):
            row = {"EmailAddress": f"import{n}@example.com"}
            if n in bad:
                row["mx_Age"] = BAD_VALUE
            yield lsq.CreateLead(row)

    async with httpx2.AsyncClient(transport=fake.transport()) as http:
        client = lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            http_client=http,
            rate_limit=general,
            bulk_rate_limit=bulk,
            schema="account" if schema else None,
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
        # Refused by the client before the call, never sent (only with a schema).
        "bad_at_call": sum(
            1
            for n, o in enumerate(outcomes)
            if n in bad and isinstance(o.error, lsq.ValidationError)
        ),
        "seconds": took,
        "rows_per_s": good / took,
        "ceiling_rows_per_s": ceiling,
        "fraction_of_ceiling": good / took / ceiling,
        "calls": len(entries),
        "bulk_calls": len(bulk_sizes),
        "single_calls": sum(1 for e in entries if e.endpoint == "Lead.Create"),
        "metadata_calls": sum(1 for e in entries if e.endpoint == "LeadsMetaData.Get"),
        "refused_bulk_calls": refused,
        "short_bulk_calls": sum(1 for size in bulk_sizes[:-1] if size < ROWS_PER_CALL),
        "rate_limited": fake.ledger.rate_limited(),
        "calls_refused_whole": stats.calls_refused_whole,
        "sorting_calls": stats.sorting_calls,
        "splits": stats.splits,
        "created": fake.store.count(),
        "duplicates": len(fake.store.duplicates()),
    }


def _against(clean: dict[str, Any], side: dict[str, Any], bad: int) -> dict[str, float]:
    """What ``side``'s bad rows cost against the clean import, per bad row and in time."""
    return {
        "refused_per_bad_row": side["refused_bulk_calls"] / bad,
        "extra_calls_per_bad_row": (side["calls"] - clean["calls"]) / bad,
        "time_lost_s": side["seconds"] - clean["seconds"],
        "time_lost_fraction": side["seconds"] / clean["seconds"] - 1,
    }


async def _plan(plan: str, scale: float, count: int) -> dict[str, Any]:
    chosen = set(random.Random(SEED).sample(range(count), round(count * BAD_SHARE)))
    # All three in the same run, so that they share the machine's load alike.
    clean, unchecked, checked = await asyncio.gather(
        _import(plan, scale, count, set()),
        _import(plan, scale, count, chosen),
        _import(plan, scale, count, chosen, schema=True),
    )
    bad = len(chosen)
    return {
        "clean": clean,
        "bad_rows": unchecked,
        **_against(clean, unchecked, bad),
        "schema_bad_rows": checked,
        "schema": _against(clean, checked, bad),
    }


async def refused(plan: Any) -> dict[str, Any]:
    """Every plan of ``plan.refused_plans``, one after another: clean, and with 1 % whole-call
    bad rows without and with ``schema="account"``."""
    scale, count = plan.refused_scale, plan.refused_rows
    # One plan after another: run all at once, the 24 imports shared one event loop, and the
    # short imports (version B's, 2-4 s) lost up to 12 % of their rows/s to the others' load.
    done = {name: await _plan(name, scale, count) for name in plan.refused_plans}
    return {"scale": scale, "rows": count, "plans": done}


def _f(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def table(results: dict[str, Any]) -> str:
    """One line per plan (for the docs): each figure without / with ``schema="account"``."""
    lines = [
        '| plan | fraction of ceiling: clean / 1 % bad | with `schema="account"` | refused '
        "bulk calls per bad row | extra calls per bad row | short bulk calls | time lost |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results["plans"].items():
        clean, bad = r["clean"], r["bad_rows"]
        checked, against = r["schema_bad_rows"], r["schema"]
        lines.append(
            f"| {name} | {_f(clean['fraction_of_ceiling'])} / {_f(bad['fraction_of_ceiling'])} "
            f"| {_f(checked['fraction_of_ceiling'])} "
            f"| {_f(r['refused_per_bad_row'])} / {_f(against['refused_per_bad_row'])} "
            f"| {_f(r['extra_calls_per_bad_row'], '.1f')} / "
            f"{_f(against['extra_calls_per_bad_row'], '.1f')} "
            f"| {bad['short_bulk_calls']} / {checked['short_bulk_calls']} "
            f"| {_lost(r)} / {_lost(against)} |"
        )
    return "\n".join(lines)


def _lost(r: dict[str, Any]) -> str:
    return f"{_f(r['time_lost_s'], '.1f')} s ({_f(100 * r['time_lost_fraction'], '.0f')} %)"


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
        checked = r["schema_bad_rows"]
        out.append(
            (
                f'refused {name}: the same with schema="account": fraction of ceiling; '
                "bulk calls refused; bad rows answered at the call",
                f"{_f(checked['fraction_of_ceiling'])}; {checked['refused_bulk_calls']}; "
                f"{checked['bad_at_call']}/{checked['bad']}",
                f">= 0.93; 0; {checked['bad']}/{checked['bad']}",
            )
        )
    return out
