"""The client's own cost: CPU and rows/s with the limit lifted, and peak memory as rows grow."""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from ._scenarios import BULK, NoLimit, Plan, _body, _client_run, _fields
from ._server import HEADERS, fake_server, reset

IN_FLIGHT = 8
CHUNK = 50
WARM_ROWS = 2000
_JSON = {**HEADERS, "Content-Type": "application/json"}


def speedups() -> dict[str, bool]:
    """Whether the optional speedups (``sniffio``, ``orjson``) are importable."""
    found = {}
    for name in ("sniffio", "orjson"):
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


async def _raw(http: httpx.AsyncClient, start: int, count: int) -> int:
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


async def client_cost(plan: Plan) -> dict[str, Any]:
    """Scenario 2: the limit lifted, the fake served; client rows/s and CPU per row against httpx.

    Both sides build each row's fields, encode the JSON, post it and read the answer inside the
    timed region, after a warm-up of their own.
    """
    count = plan.cost_rows
    with fake_server("none") as url:
        options: dict[str, Any] = {"limiter": NoLimit(), "max_in_flight": IN_FLIGHT}
        await _client_run(url, "create", WARM_ROWS, **options)
        reset(url)
        collections = _collections()
        cpu = time.process_time()
        figures = await _client_run(url, "create", count, **options)
        figures["cpu_us_per_row"] = (time.process_time() - cpu) / count * 1e6
        figures["gc_per_1000_rows"] = (_collections() - collections) / count * 1000
        reset(url)

        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        async with httpx.AsyncClient(base_url=url, headers=_JSON, limits=limits) as http:
            await _raw(http, 10**8, WARM_ROWS)
            baseline = await _measured(count, lambda: _raw(http, 0, count))
    return {
        **speedups(),
        "client": figures,
        "raw_httpx": baseline,
        "ratio": figures["rows_per_s"] / baseline["rows_per_s"],
    }
