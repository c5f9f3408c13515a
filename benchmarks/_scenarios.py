"""The benchmark scenarios; each returns a dict of figures for the table and latest.json."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx2

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, PLANS

from ._server import HEADERS, fake_server, reset, summary

BULK = "/v2/LeadManagement.svc/Lead/Bulk/"
_ROOT = Path(__file__).resolve().parent.parent


@attrs.frozen
class Plan:
    """Sizes of one run: the full run, or --quick."""

    rate: lsq.RateLimit
    creates: int
    upserts: int
    updates: int
    per_lead_seconds: float
    cost_rows: int
    latency_ops: int
    interactive_ops: int
    memory_rows: int
    # The in-process cost scenario's rows per side; the stream memory probe's two runs.
    in_process_rows: int = 200_000
    # Client and raw httpx2 measured in turn this many times; each side's best round is kept
    # (a shared VM's noise only ever makes a round slower).
    cost_rounds: int = 3
    stream_memory_rows: tuple[int, int] = (100_000, 1_000_000)
    # The plans scenario: which plans, at what scale, for how many (real) 5-second windows per
    # run, how many plans at once (each its own server process); then the spent quota's scale,
    # size and variants.
    plan_names: tuple[str, ...] = tuple(PLANS)
    plan_scale: float = 5.0
    plan_windows: float = 7.0
    plan_parallel: int = 1
    quota_scale: float = 5.0
    quota_calls: int = 30
    quota_variants: tuple[str, ...] = ("learned", "configured", "opaque", "opaque_none")
    # The refused-calls scenario: which plans, at what scale, how many creates per import.
    refused_plans: tuple[str, ...] = tuple(PLANS)
    refused_scale: float = 5.0
    refused_rows: int = 1000
    # The accounts scenario: how many accounts, how many of them import (each how many rows)
    # while the others make this many lookups; the fake's scale; the idle timeout (seconds).
    accounts: int = 1000
    accounts_hot: int = 10
    accounts_hot_rows: int = 1000
    accounts_quiet_calls: int = 2
    accounts_scale: float = 5.0
    accounts_idle_timeout: float = 5.0


FULL = Plan(
    lsq.RateLimit(25, 5.0), 5000, 2500, 2500, 20.0, 200_000, 200, 50, 100_000, plan_parallel=2
)
QUICK = Plan(
    lsq.RateLimit(25, 1.0),
    1000,
    500,
    500,
    2.0,
    10_000,
    50,
    12,
    20_000,
    in_process_rows=20_000,
    cost_rounds=1,
    stream_memory_rows=(10_000, 50_000),
    plan_names=("lite-a", "pro-b"),
    plan_scale=10.0,
    plan_windows=4.0,
    plan_parallel=2,
    quota_scale=20.0,
    quota_variants=("learned",),
    refused_plans=("enterprise-a", "pro-b"),
    refused_scale=20.0,
    refused_rows=400,
    accounts=100,
    accounts_hot=3,
    accounts_hot_rows=400,
    accounts_quiet_calls=1,
    accounts_idle_timeout=0.5,
)


class NoLimit:
    """A limiter that grants at once: the limit lifted, to measure the client's own cost."""

    rate = lsq.RateLimit(10**9, 1.0)

    async def acquire(self) -> None:
        """Grant at once."""

    def delay(self) -> float:
        """Never a wait."""
        return 0.0

    def pause(self, seconds: float) -> None:
        """Ignore pauses."""

    def adopt(self, rate: lsq.RateLimit) -> None:
        """Ignore announced limits."""


def _fields(op: str, i: int) -> dict[str, Any]:
    base = {"EmailAddress": f"lead{i}@example.com", "FirstName": f"F{i}", "mx_City": "Pune"}
    if op == "update":
        base["mx_City"] = "Goa"
    return base


def _operation(op: str, i: int) -> lsq.Operation:
    fields = _fields(op, i)
    if op == "create":
        return lsq.CreateLead(fields)
    if op == "upsert":
        return lsq.UpsertLead(fields)
    return lsq.UpdateLead(fields)


_PATH = {"create": "Create", "upsert": "CreateOrUpdate", "update": "UpdateV2"}
_SIZE = {"create": 50, "upsert": 25, "update": 25}


def _body(op: str, rows: list[dict[str, Any]]) -> object:
    pairs = [[{"Attribute": k, "Value": v} for k, v in row.items()] for row in rows]
    if op == "update":
        return {
            "SearchByKey": "EmailAddress",
            "LeadPropertiesList": [{"Fields": p} for p in pairs],
        }
    return pairs


async def _client_run(url: str, op: str, count: int, **options: Any) -> dict[str, Any]:
    async with lsq.LeadSquaredClient(
        DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=url, **options
    ) as client:
        started = time.perf_counter()
        ok = 0
        async for outcome in client.stream(_operation(op, i) for i in range(count)):
            ok += outcome.ok
        elapsed = time.perf_counter() - started
        stats = client.stats()
    return {
        "rows": count,
        "ok": ok,
        "seconds": elapsed,
        "rows_per_s": count / elapsed,
        "mean_rows_per_call": stats.mean_rows_per_call,
        "client_429s": stats.rate_limited,
    }


async def _per_lead_baseline(
    url: str, op: str, rate: lsq.RateLimit, seconds: float, offset: int
) -> dict[str, Any]:
    """One HTTP call per lead with httpx2 and the same limiter, for ``seconds``."""
    limiter = lsq.TokenBucketLimiter(rate)
    done = 0
    async with httpx2.AsyncClient(base_url=url, headers=HEADERS) as http:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            await limiter.acquire()
            row = _fields(op, offset + done)
            response = await http.post(BULK + _PATH[op], json=_body(op, [row]))
            response.raise_for_status()
            done += 1
        elapsed = time.perf_counter() - started
    return {"rows": done, "seconds": elapsed, "rows_per_s": done / elapsed}


async def _chunk_and_sleep_baseline(
    url: str, op: str, count: int, rate: lsq.RateLimit
) -> dict[str, Any]:
    """A hand-written loop: chunks of 50/25, one call at a time, a fixed sleep between calls."""
    size = _SIZE[op]
    pause = rate.period / rate.calls * 1.05  # tuned by hand to stay under the limit
    rejected = 0
    async with httpx2.AsyncClient(base_url=url, headers=HEADERS) as http:
        started = time.perf_counter()
        for start in range(0, count, size):
            rows = [_fields(op, i) for i in range(start, min(count, start + size))]
            response = await http.post(BULK + _PATH[op], json=_body(op, rows))
            rejected += response.status_code == 429
            await asyncio.sleep(pause)
        elapsed = time.perf_counter() - started
    return {"rows": count, "seconds": elapsed, "rows_per_s": count / elapsed, "429s": rejected}


async def saturation(plan: Plan) -> dict[str, Any]:
    """Scenario 1: rows/s against the ceiling at the limit, beside two baselines."""
    rate = plan.rate
    out: dict[str, Any] = {"rate": str(rate)}
    with fake_server(str(rate)) as url:
        for op, count in (
            ("create", plan.creates),
            ("upsert", plan.upserts),
            ("update", plan.updates),
        ):
            ceiling = rate.calls / rate.period * _SIZE[op]
            reset(url)
            if op != "create":  # upserts and updates act on existing leads
                await _client_run(url, "create", count, rate_limit=rate)
                await asyncio.sleep(rate.period)
            reset_calls = summary(url, rate.period)["calls"]
            figures = await _client_run(url, op, count, rate_limit=rate)
            ledger = summary(url, rate.period)
            figures["fraction_of_ceiling"] = figures["rows_per_s"] / ceiling
            figures["server_429s"] = ledger["rate_limited"]
            figures["max_calls_in_window"] = ledger["max_calls_in_window"]
            figures["calls"] = ledger["calls"] - reset_calls
            await asyncio.sleep(rate.period)
            per_lead = await _per_lead_baseline(url, op, rate, plan.per_lead_seconds, 10**7)
            per_lead["fraction_of_ceiling"] = per_lead["rows_per_s"] / ceiling
            await asyncio.sleep(rate.period)
            chunked = await _chunk_and_sleep_baseline(url, op, count, rate)
            chunked["fraction_of_ceiling"] = chunked["rows_per_s"] / ceiling
            out[op] = {
                "ceiling_rows_per_s": ceiling,
                "client": figures,
                "per_lead_httpx": per_lead,
                "chunk_and_sleep": chunked,
            }
            await asyncio.sleep(rate.period)
    return out


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _timed(ops: int, one: Callable[[int], Awaitable[object]]) -> dict[str, float]:
    samples = []
    for i in range(ops):
        started = time.perf_counter()
        await one(i)
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": _percentile(samples, 0.99),
    }


async def idle_latency(plan: Plan) -> dict[str, Any]:
    """Scenario 3: one operation at a time, nothing else queued, against a bare httpx2 call."""
    out: dict[str, Any] = {}
    with fake_server("none") as url:
        async with httpx2.AsyncClient(base_url=url, headers=HEADERS) as http:

            async def bare(i: int) -> None:
                body = _body("create", [_fields("create", 10**7 + i)])
                (await http.post(BULK + "Create", json=body)).raise_for_status()

            await bare(-1)  # warm the connection
            out["bare_httpx"] = await _timed(plan.latency_ops, bare)
            for linger in (0.005, 0.02):
                # The round trip after the same idle gap: the server and CPU cool down in it.

                samples = []
                for i in range(plan.latency_ops):
                    await asyncio.sleep(linger)  # not timed: only the call after it is
                    started = time.perf_counter()
                    await bare(int(linger * 1e9) + 10**6 + i)
                    samples.append((time.perf_counter() - started) * 1000)
                out[f"bare_after_{linger * 1000:g}ms_idle"] = {
                    "p50_ms": statistics.median(samples),
                    "p99_ms": _percentile(samples, 0.99),
                }
        for linger in (0.0, 0.005, 0.02):
            async with lsq.LeadSquaredClient(
                DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=url, limiter=NoLimit(), linger=linger
            ) as client:
                base = int(linger * 1e9)

                async def one(
                    i: int, client: lsq.LeadSquaredClient = client, base: int = base
                ) -> None:
                    await client.create_lead(_fields("create", base + i))

                await one(-1)
                out[f"linger_{linger * 1000:g}ms"] = await _timed(plan.latency_ops, one)
    return out


async def limiters(plan: Plan) -> dict[str, Any]:
    """Scenario 6: the default bucket against the exact sliding window, at the limit."""
    rate = plan.rate
    out: dict[str, Any] = {}
    count = plan.creates
    ceiling = rate.calls / rate.period * 50
    with fake_server(str(rate)) as url:
        for name, limiter in (
            ("token_bucket", lsq.TokenBucketLimiter(rate)),
            ("sliding_window", lsq.SlidingWindowLimiter(rate)),
        ):
            reset(url)
            await asyncio.sleep(rate.period)
            deadline = time.perf_counter() + 0.01 * rate.period
            burst = 0
            while (remaining := deadline - time.perf_counter()) > 0:
                try:
                    await asyncio.wait_for(limiter.acquire(), timeout=remaining)
                except TimeoutError:
                    break
                burst += 1
            await asyncio.sleep(rate.period * 1.1)
            figures = await _client_run(url, "create", count, limiter=limiter)
            ledger = summary(url, rate.period)
            out[name] = {
                "fraction_of_ceiling": figures["rows_per_s"] / ceiling,
                "burst_from_idle": burst,
                "server_429s": ledger["rate_limited"],
                "max_calls_in_window": ledger["max_calls_in_window"],
            }
    return out


async def interactive_under_load(plan: Plan) -> dict[str, Any]:
    """Scenario 4: single creates spaced apart while an import saturates the limit."""
    rate = plan.rate
    spacing = rate.period / 10  # 0.5 s at the real limit
    ceiling = rate.calls / rate.period * 50
    out: dict[str, Any] = {"rate": str(rate), "spacing_s": spacing}
    for mode, priority in (("priorities", None), ("all_bulk", lsq.Priority.BULK)):
        with fake_server(str(rate)) as url:
            async with lsq.LeadSquaredClient(
                DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=url, rate_limit=rate
            ) as client:
                bulk_rows = int(ceiling * spacing * (plan.interactive_ops + 4))

                async def load(client: lsq.LeadSquaredClient, rows: int) -> tuple[int, float]:
                    started = time.perf_counter()
                    ops = (lsq.CreateLead(_fields("create", i)) for i in range(rows))
                    ok = sum([o.ok async for o in client.stream(ops)])
                    return ok, time.perf_counter() - started

                importing = asyncio.create_task(load(client, bulk_rows))
                await asyncio.sleep(2 * rate.period / rate.calls)  # let the backlog build
                samples = []
                for i in range(plan.interactive_ops):
                    op = lsq.CreateLead(_fields("create", 10**8 + i), priority=priority)
                    started = time.perf_counter()
                    await (await client.submit(op))
                    samples.append((time.perf_counter() - started) * 1000)
                    await asyncio.sleep(spacing)
                ok, seconds = await importing
            ledger = summary(url, rate.period)
        grant_ms = rate.period / rate.calls * 1000
        out[mode] = {
            "p50_ms": statistics.median(samples),
            "p99_ms": _percentile(samples, 0.99),
            "import_rows": ok,
            "import_fraction_of_ceiling": ok / seconds / ceiling,
            "server_429s": ledger["rate_limited"],
            "two_grant_intervals_ms": 2 * grant_ms,
        }
    return out


_MEMORY_PROBE = """
import asyncio, gc, json, sys, httpx2
import leadsq_async as lsq

def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0

ROWS = int(sys.argv[1])
def fields(i):
    return {"EmailAddress": f"lead{i}@example.com", "FirstName": f"F{i}", "mx_City": "Pune"}

async def main():
    gc.collect()
    start = rss()
    kept = [fields(i) for i in range(ROWS)]
    gc.collect()
    own = rss() - start
    del kept
    gc.collect()
    start = rss()
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(lambda r: httpx2.Response(500)))
    client = lsq.LeadSquaredClient("k", "s", base_url="https://x", http_client=http,
                                   rate_limit=lsq.RateLimit(1, 60.0), max_pending=ROWS + 1,
                                   linger=3600)
    futures = [await client.submit(lsq.CreateLead(fields(i))) for i in range(ROWS)]
    gc.collect()
    waiting = rss() - start
    assert client.stats().pending == ROWS
    await client.aclose(timeout=0)
    for f in futures:
        f.exception()
    await http.aclose()
    print(json.dumps({"rows": ROWS, "fields_bytes_per_row": own / ROWS,
                      "waiting_bytes_per_row": waiting / ROWS,
                      "beyond_fields_bytes_per_row": (waiting - own) / ROWS}))

asyncio.run(main())
"""


async def memory(plan: Plan) -> dict[str, Any]:
    """Scenario 5: resident memory per row admitted and waiting (a limit of 1 call a minute)."""
    import subprocess
    import sys

    probe = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _MEMORY_PROBE, str(plan.memory_rows), stdout=subprocess.PIPE
    )
    out, _ = await probe.communicate()
    if probe.returncode:
        raise RuntimeError(f"the memory probe failed with exit code {probe.returncode}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def soak(plan: Plan) -> dict[str, Any]:
    """The long fault soak: the reliability test at SOAK_SCALE=5 (20,000 rows), its summary."""
    import os
    import subprocess
    import sys

    root = _ROOT
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "tests/test_reliability_soak.py",
        "-m",
        "soak",
        "-q",
        "-s",
        "-p",
        "no:cacheprovider",
        cwd=root,
        env={**os.environ, "SOAK_SCALE": "1" if plan is QUICK else "5"},
        stdout=subprocess.PIPE,
    )
    out, _ = await probe.communicate()
    text = out.decode()
    lines = [line for line in text.splitlines() if line.startswith("SOAK ")]
    return {"passed": probe.returncode == 0, "summary": lines[-1] if lines else text[-500:]}
