"""``uv run python -m benchmarks [--quick]``: run the scenarios, print a table, save results."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from . import _accounts, _cost, _export, _fleet, _plans, _refused, _scenarios

SCENARIOS = {
    "saturation": _scenarios.saturation,
    "client_cost": _cost.client_cost,
    "in_process": _cost.in_process,
    "idle_latency": _scenarios.idle_latency,
    "limiters": _scenarios.limiters,
    "interactive_under_load": _scenarios.interactive_under_load,
    "memory": _scenarios.memory,
    "stream_memory": _cost.stream_memory,
    "plans": _plans.plans,
    "refused": _refused.refused,
    "accounts": _accounts.accounts,
}
#: Run only when asked for (``--only soak``, ``--only export``, ``--only fleet``): the long
#: fault soak, about half a minute; the export of 100,000 leads read back exactly once; three
#: ``consume`` workers on RabbitMQ with 20,000 messages at two ceilings (about three minutes).
EXTRA = {"soak": _scenarios.soak, "export": _export.export, "fleet": _fleet.fleet}


def _machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": dt.date.today().isoformat(),
    }


def _rate(side: dict[str, Any]) -> float:
    """A side's rows/s: its best round's when it ran several."""
    return float(side.get("best_rows_per_s", side["rows_per_s"]))


def _rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, measured, target) lines for the table."""
    rows: list[tuple[str, str, str]] = []
    sat = results.get("saturation")
    if sat:
        for op, target_rows in (("create", 49), ("upsert", 24.5), ("update", 24.5)):
            s = sat[op]
            c = s["client"]
            rows += [
                (
                    f"{op}: fraction of ceiling ({s['ceiling_rows_per_s']:g} rows/s)",
                    f"{c['fraction_of_ceiling']:.3f}",
                    ">= 0.95",
                ),
                (
                    f"{op}: mean rows per call",
                    f"{c['mean_rows_per_call']:.2f}",
                    f">= {target_rows}",
                ),
                (
                    f"{op}: 429s / most calls in any window",
                    f"{c['server_429s']} / {c['max_calls_in_window']}",
                    f"0 / <= {sat['rate'].split('/')[0]}",
                ),
                (
                    f"{op}: baseline one call per lead",
                    f"{s['per_lead_httpx']['fraction_of_ceiling']:.3f}",
                    "~0.02",
                ),
                (
                    f"{op}: baseline chunk-and-sleep",
                    f"{s['chunk_and_sleep']['fraction_of_ceiling']:.3f}",
                    "-",
                ),
            ]
    cost = results.get("client_cost")
    if cost:
        client, raw = cost["client"], cost["raw_httpx"]
        rows += [
            (
                f"client cost ({_speedups(cost)}): rows/s, client / raw httpx2",
                f"{_rate(client):.0f} / {_rate(raw):.0f} = {cost['ratio']:.2f}",
                ">= 0.6",
            ),
            (
                "client cost: CPU µs per row (client / raw httpx2)",
                f"{client['cpu_us_per_row']:.1f} / {raw['cpu_us_per_row']:.1f}",
                "client <= 40",
            ),
        ]
        if "gc_per_1000_rows" in client:
            rows.append(_gc_row("client cost", client, raw))
    inproc = results.get("in_process")
    if inproc:
        client, raw = inproc["client"], inproc["raw_httpx"]
        rows += [
            (
                f"in-process ({_speedups(inproc)}): CPU µs per row, client / raw httpx2",
                f"{client['cpu_us_per_row']:.1f} / {raw['cpu_us_per_row']:.1f} "
                f"= {inproc['cpu_ratio']:.2f}",
                "<= 2.2",
            ),
            (
                "in-process: rows/s, client / raw httpx2",
                f"{_rate(client):.0f} / {_rate(raw):.0f} = {inproc['rows_per_s_ratio']:.2f}",
                "-",
            ),
            _gc_row("in-process", client, raw),
        ]
    flat = results.get("stream_memory")
    if flat:
        small, large = (flat[str(n)] for n in flat["rows"])
        growth = flat.get("peak_growth_kib", large["peak_kib"] - small["peak_kib"])
        rows.append(
            (
                f"stream() peak RSS, {small['rows']:,} / {large['rows']:,} rows (above warm-up)",
                f"{small['peak_kib'] / 1024:.1f} / {large['peak_kib'] / 1024:.1f} MiB "
                f"({small['peak_above_warm_up_kib'] / 1024:.2f} / "
                f"{large['peak_above_warm_up_kib'] / 1024:.2f}); growth {growth / 1024:+.2f} MiB",
                "growth <= 1 MiB",
            )
        )
    lat = results.get("idle_latency")
    if lat:
        bare = lat["bare_httpx"]
        rows.append(
            (
                "idle latency: bare httpx2 p50 / p99 ms",
                f"{bare['p50_ms']:.2f} / {bare['p99_ms']:.2f}",
                "-",
            )
        )
        for key, value in lat.items():
            if key.startswith("bare_after_") and isinstance(value, dict):
                rows.append(
                    (
                        f"idle latency: bare httpx2 after {key[11:-5]} idle, p50 / p99 ms",
                        f"{value['p50_ms']:.2f} / {value['p99_ms']:.2f}",
                        "-",
                    )
                )
        for key, value in lat.items():
            if key.startswith("linger_") and isinstance(value, dict):
                linger = float(key[7:-2])
                idle = lat.get(f"bare_after_{linger:g}ms_idle", bare)
                rows.append(
                    (
                        f"idle latency: {key} p50 / p99 ms",
                        f"{value['p50_ms']:.2f} / {value['p99_ms']:.2f}",
                        f"p50 <= {linger + idle['p50_ms'] + 2:.2f}",
                    )
                )
    load = results.get("interactive_under_load")
    if load:
        for mode in ("priorities", "all_bulk"):
            value = load[mode]
            rows.append(
                (
                    f"interactive under load ({mode}): p50 / p99 ms; import fraction",
                    f"{value['p50_ms']:.0f} / {value['p99_ms']:.0f}; "
                    f"{value['import_fraction_of_ceiling']:.3f}",
                    f"p99 <= {value['two_grant_intervals_ms']:.0f} + linger + rtt; >= 0.9"
                    if mode == "priorities"
                    else "-",
                )
            )
    mem = results.get("memory")
    if mem:
        rows.append(
            (
                f"memory per waiting row ({mem['rows']:,} rows), beyond its fields",
                f"{mem['beyond_fields_bytes_per_row']:.0f} B "
                f"(fields {mem['fields_bytes_per_row']:.0f} B)",
                "<= 1024 B",
            )
        )
    soaked = results.get("soak")
    if soaked:
        summary = soaked["summary"].replace(" | ", "; ")
        rows.append((f"fault soak (passed: {soaked['passed']})", summary, "-"))
    if results.get("plans"):
        rows += _plans.rows(results["plans"])
    if results.get("refused"):
        rows += _refused.rows(results["refused"])
    if results.get("accounts"):
        rows += _accounts.rows(results["accounts"])
    if results.get("export"):
        rows += _export.rows(results["export"])
    if results.get("fleet"):
        rows += _fleet.rows(results["fleet"])
    lim = results.get("limiters")
    if lim:
        for name, value in lim.items():
            if not isinstance(value, dict):
                continue
            rows.append(
                (
                    f"limiter {name}: fraction / burst / 429s / max in window",
                    f"{value['fraction_of_ceiling']:.3f} / {value['burst_from_idle']} / "
                    f"{value['server_429s']} / {value['max_calls_in_window']}",
                    "-",
                )
            )
    return rows


def _speedups(figures: dict[str, Any]) -> str:
    """``orjson yes``: the optional speedups importable in the run (older results: sniffio)."""
    found = [
        f"{name} {'yes' if figures[name] else 'no'}"
        for name in ("sniffio", "orjson")
        if name in figures
    ]
    return ", ".join(found) or "speedups not recorded"


#: The client's GC passes per 1000 rows before issue 17, this benchmark on the code before it
#: (2026-11-26, full run); the target is half of them.
_GC_BEFORE = {"client cost": 11.7, "in-process": 12.7}


def _gc_row(label: str, client: dict[str, Any], raw: dict[str, Any]) -> tuple[str, str, str]:
    before = _GC_BEFORE[label]
    return (
        f"{label}: GC passes per 1000 rows, client / raw httpx2",
        f"{client['gc_per_1000_rows']:.1f} / {raw['gc_per_1000_rows']:.1f}",
        f"client <= {before / 2:.2f} (half of {before:g} before)",
    )


def _table(rows: list[tuple[str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in [("figure", "measured", "target"), *rows]) for i in range(3)]
    lines = ["| figure | measured | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    del widths
    return "\n".join(lines)


def _plot(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sat = results.get("saturation")
    if not sat:
        return False
    ops = ["create", "upsert", "update"]
    kinds = [
        ("client", "leadsq-async"),
        ("chunk_and_sleep", "chunk-and-sleep"),
        ("per_lead_httpx", "one call per lead"),
    ]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.25
    for k, (key, label) in enumerate(kinds):
        values = [sat[op][key]["fraction_of_ceiling"] for op in ops]
        ax.bar([i + (k - 1) * width for i in range(len(ops))], values, width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(ops)), ops)
    ax.set_ylabel("fraction of the ceiling")
    calls, period = sat["rate"].split("/")
    ax.set_title(f"Saturation at {calls} calls per {period} s")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


async def _run(names: list[str], plan: _scenarios.Plan) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = await {**SCENARIOS, **EXTRA}[name](plan)
        results[name]["scenario_seconds"] = time.perf_counter() - started
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="scaled windows, fewer rows, short runs (1-1.5 min)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted({**SCENARIOS, **EXTRA}),
        help="run only these scenarios",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results", help="results folder"
    )
    args = parser.parse_args(argv)
    plan = _scenarios.QUICK if args.quick else _scenarios.FULL
    names = args.only or list(SCENARIOS)
    started = time.perf_counter()
    results = asyncio.run(_run(names, plan))
    report = {
        "mode": "quick" if args.quick else "full",
        "machine": _machine(),
        "plan": {
            "rate": str(plan.rate),
            "creates": plan.creates,
            "upserts": plan.upserts,
            "updates": plan.updates,
            "cost_rows": plan.cost_rows,
            "in_process_rows": plan.in_process_rows,
            "stream_memory_rows": list(plan.stream_memory_rows),
            "plan_names": list(plan.plan_names),
            "plan_scale": plan.plan_scale,
            "plan_windows": plan.plan_windows,
            "quota_scale": plan.quota_scale,
            "quota_calls": plan.quota_calls,
            "refused_plans": list(plan.refused_plans),
            "refused_scale": plan.refused_scale,
            "refused_rows": plan.refused_rows,
            "accounts": plan.accounts,
            "accounts_hot": plan.accounts_hot,
            "accounts_hot_rows": plan.accounts_hot_rows,
            "accounts_quiet_calls": plan.accounts_quiet_calls,
            "accounts_scale": plan.accounts_scale,
            "accounts_idle_timeout": plan.accounts_idle_timeout,
        },
        "seconds": time.perf_counter() - started,
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    # A full run of some scenarios is named after them (--only plans: plans.json, plans.png).
    stem = "quick" if args.quick else "-".join(args.only) if args.only else "latest"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    plotted = [p for p in (args.out / f"{stem}.png",) if _plot(results, p)]
    if results.get("plans"):
        plans_png = args.out / (f"{stem}-plans.png" if plotted else f"{stem}.png")
        if _plans.plot(results["plans"], plans_png):
            plotted.append(plans_png)
    print(_table(_rows(results)))
    if results.get("plans"):
        print("\nplans (rows/s and ceilings in scaled seconds):\n")
        print(_plans.table(results["plans"]))
    if results.get("refused"):
        print("\nrefused whole (1 % bad rows; scaled seconds):\n")
        print(_refused.table(results["refused"]))
    if results.get("accounts"):
        print("\nmany accounts (scaled windows):\n")
        print(_accounts.table(results["accounts"]))
    if results.get("fleet"):
        print("\nqueue workers (consume fleet):\n")
        print(_fleet.table(results["fleet"]))
    where = f"results in {args.out / (stem + '.json')}"
    if plotted:
        where += ", plots in " + ", ".join(str(p) for p in plotted)
    print(f"\n{report['mode']} run, {report['seconds']:.0f}s; {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
