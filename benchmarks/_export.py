"""Scenario ``export`` (issue 25): every lead modified in a range, read out exactly once.

The fake runs in a process of its own (``python -m benchmarks._export SERVE N``), holding N
leads: 10 % of them modified in one second, the rest one a second around it, and it shuffles
leads that tie on the sort column in every call, as nothing promises a stable order. The
client reads the whole range with ``leads_modified()`` (pages of 5,000, the service's
limit), writing each id to a file rather than keeping it, under ``tracemalloc`` (this process
only: the fake's memory is its own). Figures, at two sizes: leads given out, duplicates and
leads missing (the file checked against the fake afterwards), calls against the target
(leads / 5,000) x 1.5 + 10, and the traced peak above the start, which must not grow with the
leads. The baseline is the naive loop: PageIndex 1, 2, ... over the whole range, sorted by
ModifiedOn, 5,000 a page, in the same run against the same fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

import httpx2

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared, remote_leads

from ._server import served

__all__ = ["export", "rows"]

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
HOT_SHARE = 0.10
PAGE = 5000
HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}
#: Leads in the fake: the target's size, and a fifth of it to show memory does not grow.
SIZES = (20_000, 100_000)
QUICK_SIZES = (5_000, 20_000)


def _seeded(count: int) -> FakeLeadSquared:
    """A fake holding ``count`` leads: 10 % in one second, the rest one a second around it."""
    now = [T0]
    fake = FakeLeadSquared(rate_limit=None, now=lambda: now[0])
    hot = int(count * HOT_SHARE)
    cold = count - hot
    for n in range(count):
        second = cold // 2 if n < hot else (n - hot) + (1 if n - hot >= cold // 2 else 0)
        now[0] = T0 + dt.timedelta(seconds=second)
        fake.store.insert({"FirstName": f"F{n}", "EmailAddress": f"lead{n}@example.com"})
    return fake


async def _serve(count: int) -> None:
    fake = _seeded(count)
    async with fake.serve() as url:
        print(url, flush=True)
        await asyncio.Event().wait()


def _fake_process(count: int) -> contextlib.AbstractContextManager[str]:
    """The seeded fake, served in a process of its own; its base URL."""
    argv = [sys.executable, "-m", "benchmarks._export", "serve", str(count)]
    return served(argv, "the fake")


def _check(ids_file: Path, expected: list[str]) -> tuple[int, int, int]:
    """(leads given, duplicates, missing) of the ids written against the fake's leads."""
    given = Counter(ids_file.read_text().split())
    duplicates = sum(n - 1 for n in given.values() if n > 1)
    missing = len(set(expected) - set(given))
    return sum(given.values()), duplicates, missing


async def _client_export(url: str, out: TextIO) -> dict[str, Any]:
    """The whole range through ``leads_modified``, traced, each id written to ``out``."""
    client = lsq.LeadSquaredClient(
        DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=url, rate_limit=lsq.RateLimit(1000, 1.0)
    )
    gc.collect()
    tracemalloc.start()
    start_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    started = time.perf_counter()
    async with client:
        export = client.leads_modified(T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=3))
        async for lead in export:
            out.write(lead.lead_id + "\n")
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "pages": export.pages,
        "seconds": took,
        "leads_per_s": export.leads / took if took else 0.0,
        "peak_above_start_mib": (peak - start_bytes) / 2**20,
    }


def _naive_export(url: str, ids_file: Path) -> dict[str, Any]:
    """The baseline: PageIndex 1, 2, ... over the whole range, sorted by ModifiedOn."""
    pages = 0
    body: dict[str, Any] = {
        "Parameter": {"FromDate": "2026-10-31 00:00:00", "ToDate": "2026-11-04 00:00:00"},
        "Columns": {"Include_CSV": "ProspectID,ModifiedOn"},
        "Sorting": {"ColumnName": "ModifiedOn", "Direction": "0"},
    }
    path = "/v2/LeadManagement.svc/Leads.RecentlyModified"
    with (
        httpx2.Client(base_url=url, headers=HEADERS, timeout=60) as http,
        open(ids_file, "w") as out,
    ):
        while True:
            pages += 1
            body["Paging"] = {"PageIndex": pages, "PageSize": PAGE}
            answer = http.post(path, json=body).json()
            for lead in answer["Leads"]:
                values = {p["Attribute"]: p["Value"] for p in lead["LeadPropertyList"]}
                out.write(values["ProspectID"] + "\n")
            if pages * PAGE >= answer["RecordCount"]:
                break
    return {"pages": pages}


async def _one_size(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, _fake_process(count) as url:
        expected = [lead["ProspectID"] for lead in remote_leads(url)]
        ids_file = Path(folder) / "ids.txt"
        with ids_file.open("w") as out:
            client = await _client_export(url, out)
        client["leads"], client["duplicates"], client["missing"] = _check(ids_file, expected)
        naive = await asyncio.to_thread(_naive_export, url, ids_file)
        naive["leads"], naive["duplicates"], naive["missing"] = _check(ids_file, expected)
    target = count / PAGE * 1.5 + 10
    return {
        "leads": count,
        "hot": int(count * HOT_SHARE),
        "target_calls": target,
        "client": client,
        "naive": naive,
    }


async def export(plan: Any) -> dict[str, Any]:
    """Run the export scenario at two sizes (smaller ones with ``--quick``)."""
    from ._scenarios import QUICK

    sizes = QUICK_SIZES if plan is QUICK else SIZES
    out: dict[str, Any] = {"sizes": list(sizes)}
    for count in sizes:
        out[str(count)] = await _one_size(count)
    small, large = (out[str(n)]["client"]["peak_above_start_mib"] for n in sizes)
    out["peak_ratio"] = large / small if small else 0.0
    return out


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, measured, target) lines for the benchmark table."""
    out: list[tuple[str, str, str]] = []
    for count in results["sizes"]:
        size = results[str(count)]
        c, n = size["client"], size["naive"]
        label = f"export {count:,} leads ({size['hot']:,} in one second)"
        out += [
            (
                f"{label}: given / duplicates / missing",
                f"{c['leads']:,} / {c['duplicates']} / {c['missing']}",
                f"{count:,} / 0 / 0",
            ),
            (f"{label}: calls", f"{c['pages']}", f"<= {size['target_calls']:.0f}"),
            (
                f"{label}: leads/s; traced peak above start",
                f"{c['leads_per_s']:,.0f}; {c['peak_above_start_mib']:.1f} MiB",
                "-",
            ),
            (
                f"{label}: baseline PageIndex loop, given / duplicates / missing (calls)",
                f"{n['leads']:,} / {n['duplicates']} / {n['missing']} ({n['pages']})",
                "-",
            ),
        ]
    small, large = results["sizes"]
    out.append(
        (
            f"export: traced peak, {large:,} / {small:,} leads",
            f"{results['peak_ratio']:.2f}",
            "flat (~1)",
        )
    )
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(int(sys.argv[2])))
    else:
        sys.exit(f"usage: {os.path.basename(sys.argv[0])} serve LEADS")
