"""The client's own cost: CPU and rows/s with the limit lifted, and peak memory as rows grow."""

from __future__ import annotations

import asyncio
import functools
import gc
import importlib
import json
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx2

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY

from ._scenarios import _ROOT, BULK, NoLimit, Plan, _body, _client_run, _fields
from ._server import HEADERS, fake_server, reset

IN_FLIGHT = 8
CHUNK = 50
WARM_ROWS = 2000
BASE_URL = "https://api-in21.leadsquared.com"
_JSON = {**HEADERS, "Content-Type": "application/json"}


def speedups() -> dict[str, bool]:
    """Whether the optional speedup (``orjson``) is importable."""
    found = {}
    for name in ("orjson",):
        try:
            importlib.import_module(name)
        except ImportError:
            found[name] = False
        else:
            found[name] = True
    return found


def _collections() -> int:
    return sum(generation["collections"] for generation in gc.get_stats())


async def _measured(rows: int, run: Callable[[], Coroutine[Any, Any, int]]) -> dict[str, Any]:
    """Run ``run`` (which answers the rows that went well); its CPU, wall time and GC passes."""
    collections = _collections()
    cpu = time.process_time()
    started = time.perf_counter()
    ok = await run()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {
        "rows": rows,
        "ok": ok,
        "seconds": elapsed,
        "rows_per_s": rows / elapsed,
        "cpu_us_per_row": cpu / rows * 1e6,
        "gc_per_1000_rows": (_collections() - collections) / rows * 1000,
    }


async def _raw(http: httpx2.AsyncClient, start: int, count: int) -> int:
    """What a hand-written client must do: chunks of 50 built, encoded, posted, answers read.

    ``IN_FLIGHT`` workers take the next chunk in turn; the rows created come back.
    """
    starts = iter(range(start, start + count, CHUNK))
    end = start + count

    async def worker() -> int:
        created = 0
        for first in starts:
            rows = [_fields("create", i) for i in range(first, min(end, first + CHUNK))]
            body = json.dumps(_body("create", rows)).encode()
            response = await http.post(BULK + "Create", content=body)
            response.raise_for_status()
            created += sum(bool(row.get("LeadCreated")) for row in response.json())
        return created

    return sum(await asyncio.gather(*(worker() for _ in range(IN_FLIGHT))))


def _best(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the least CPU per row, with every round's figure beside it."""
    best = dict(min(rounds, key=lambda r: r["cpu_us_per_row"]))
    best["rounds_cpu_us_per_row"] = [round(r["cpu_us_per_row"], 2) for r in rounds]
    best["best_rows_per_s"] = max(r["rows_per_s"] for r in rounds)
    return best


async def client_cost(plan: Plan) -> dict[str, Any]:
    """Scenario 2: the limit lifted, the fake served; client rows/s and CPU per row against httpx2.

    Both sides build each row's fields, encode the JSON, post it and read the answer inside the
    timed region, after a warm-up of their own; they take turns ``plan.cost_rounds`` times
    (the store emptied before each turn) and each keeps its best round.
    """
    count = plan.cost_rows
    clients: list[dict[str, Any]] = []
    raws: list[dict[str, Any]] = []
    with fake_server("none") as url:
        options: dict[str, Any] = {"limiter": NoLimit(), "max_in_flight": IN_FLIGHT}
        limits = httpx2.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        async with httpx2.AsyncClient(base_url=url, headers=_JSON, limits=limits) as http:
            await _client_run(url, "create", WARM_ROWS, **options)
            await _raw(http, 10**8, WARM_ROWS)
            for _ in range(plan.cost_rounds):
                reset(url)
                collections = _collections()
                cpu = time.process_time()
                figures = await _client_run(url, "create", count, **options)
                figures["cpu_us_per_row"] = (time.process_time() - cpu) / count * 1e6
                figures["gc_per_1000_rows"] = (_collections() - collections) / count * 1000
                clients.append(figures)
                reset(url)
                raws.append(await _measured(count, lambda: _raw(http, 0, count)))
    client, baseline = _best(clients), _best(raws)
    return {
        **speedups(),
        "raw_json": "json",  # the hand-written side encodes and reads with the json module
        "client": client,
        "raw_httpx": baseline,
        "ratio": client["best_rows_per_s"] / baseline["best_rows_per_s"],
    }


class InstantTransport(httpx2.AsyncBaseTransport):
    """``Lead/Bulk/Create`` answered in-process at once: every row created, a fresh LeadId each.

    No server, no sockets: what is left is the client's own cost (and this transport's, the
    same for whichever client drives it).
    """

    def __init__(self) -> None:
        self.calls = 0
        self._next = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Read the JSON list of rows; answer one created lead per row."""
        if not request.url.path.endswith(BULK + "Create"):
            return httpx2.Response(404, json={"Status": "Error", "ExceptionMessage": "not here"})
        rows = json.loads(await request.aread())
        first = self._next
        self._next += len(rows)
        self.calls += 1
        answer = [
            {
                "RowNumber": n,
                "LeadId": f"00000000-0000-4000-8000-{first + n:012x}",
                "LeadCreated": True,
            }
            for n in range(1, len(rows) + 1)
        ]
        return httpx2.Response(
            200,
            headers={"Content-Type": "application/json"},
            content=json.dumps(answer).encode(),
        )


def in_process_client() -> tuple[httpx2.AsyncClient, lsq.LeadSquaredClient]:
    """A client over a fresh ``InstantTransport``, the limit lifted, and its ``http_client``."""
    http = httpx2.AsyncClient(transport=InstantTransport(), base_url=BASE_URL)
    return http, lsq.LeadSquaredClient(
        DEMO_ACCESS_KEY,
        DEMO_SECRET_KEY,
        base_url=BASE_URL,
        limiter=NoLimit(),
        max_in_flight=IN_FLIGHT,
        http_client=http,
    )


async def stream_creates(client: lsq.LeadSquaredClient, start: int, count: int) -> int:
    """Stream ``count`` creates through ``client``; the outcomes that went well."""
    ok = 0
    ops = (lsq.CreateLead(_fields("create", i)) for i in range(start, start + count))
    async for outcome in client.stream(ops):
        ok += outcome.ok
    return ok


async def in_process(plan: Plan) -> dict[str, Any]:
    """CPU µs per row, rows/s and GC passes over an in-process transport: client against raw.

    The two take turns ``plan.cost_rounds`` times; each keeps its best round.
    """
    count = plan.in_process_rows
    http, client = in_process_client()
    clients: list[dict[str, Any]] = []
    raws: list[dict[str, Any]] = []
    calls = 0
    async with (
        http,
        client,
        httpx2.AsyncClient(transport=InstantTransport(), base_url=BASE_URL, headers=_JSON) as raw,
    ):
        await stream_creates(client, 10**8, WARM_ROWS)
        await _raw(raw, 10**8, WARM_ROWS)
        for turn in range(plan.cost_rounds):
            before = client.stats().calls
            first = turn * count
            clients.append(
                await _measured(count, functools.partial(stream_creates, client, first, count))
            )
            calls += client.stats().calls - before
            raws.append(await _measured(count, functools.partial(_raw, raw, first, count)))
    if any(r["ok"] != count for r in clients + raws):
        raise RuntimeError("rows went wrong: not every row was created")
    figures, baseline = _best(clients), _best(raws)
    figures["calls"] = calls
    figures["mean_rows_per_call"] = count * plan.cost_rounds / calls if calls else 0.0
    return {
        **speedups(),
        "raw_json": "json",
        "client": figures,
        "raw_httpx": baseline,
        "cpu_ratio": figures["cpu_us_per_row"] / baseline["cpu_us_per_row"],
        "rows_per_s_ratio": figures["best_rows_per_s"] / baseline["best_rows_per_s"],
    }


def _status_kib(*names: str) -> list[int]:
    found = dict.fromkeys(names, 0)
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in found:
                found[name] = int(value.split()[0])
    return [found[name] for name in names]


def _reset_peak() -> None:
    """Reset this process's ``VmHWM`` to its present RSS (Linux 4.0 and later)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


async def _memory_probe(rows: int) -> dict[str, Any]:
    """Warm up, reset the peak, stream ``rows`` creates; the peak RSS above the warmed-up RSS.

    The peak is the process's ``VmHWM``, reset after the warm-up (``clear_refs`` 5).
    ``ru_maxrss`` is kept for reference only: a child started with vfork and exec inherits its
    parent's peak in it, so it reads the benchmark runner's peak when that is higher.
    """
    import resource

    http, client = in_process_client()
    async with http, client:
        await stream_creates(client, 10**8, WARM_ROWS)
        gc.collect()
        _reset_peak()
        (base,) = _status_kib("VmRSS")
        started = time.perf_counter()
        ok = await stream_creates(client, 0, rows)
        elapsed = time.perf_counter() - started
        peak, end = _status_kib("VmHWM", "VmRSS")
    return {
        "rows": rows,
        "ok": ok,
        "seconds": elapsed,
        "rss_after_warm_up_kib": base,
        "peak_kib": peak,
        "peak_above_warm_up_kib": peak - base,
        "rss_at_end_kib": end,
        "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def probe_main(rows: int) -> None:
    """The subprocess's side of ``stream_memory``: one run, one JSON line."""
    print(json.dumps(asyncio.run(_memory_probe(rows))))


async def stream_memory(plan: Plan) -> dict[str, Any]:
    """Peak RSS while ``stream()`` sends N creates, a fresh process per N, one after the other."""
    import subprocess

    out: dict[str, Any] = {}
    for rows in plan.stream_memory_rows:
        code = f"from benchmarks._cost import probe_main; probe_main({rows})"
        probe = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, cwd=_ROOT, stdout=subprocess.PIPE
        )
        text, _ = await probe.communicate()
        if probe.returncode:
            raise RuntimeError(f"the stream memory probe failed with exit code {probe.returncode}")
        result = json.loads(text.decode().strip().splitlines()[-1])
        if result["ok"] != rows:
            raise RuntimeError(f"{rows - result['ok']} of {rows} rows went wrong")
        out[str(rows)] = result
    small, large = (out[str(rows)] for rows in plan.stream_memory_rows)
    out["rows"] = list(plan.stream_memory_rows)
    out["peak_ratio"] = large["peak_above_warm_up_kib"] / max(1, small["peak_above_warm_up_kib"])
    # Flat: the larger run's peak within 1 MiB of the smaller's (a ratio of two peaks near zero,
    # as they are once rows no longer pile up, says nothing).
    out["peak_growth_kib"] = large["peak_kib"] - small["peak_kib"]
    return out
