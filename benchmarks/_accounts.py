"""Scenario 9 (issue 24): many accounts in one process through ``lsq.Accounts``.

Three measurements:

- ``memory``: what an idle account costs. ``accounts`` accounts each make one lookup (a
  ``find_lead``, answered "no lead" by an in-process mock, so no fake keeps state in this
  process) and fall idle; the Python memory traced (``tracemalloc``) above the start, per
  account, for ``Accounts`` and, as the baseline in the same run, for the same number of
  ``LeadSquaredClient`` composed by hand over one shared ``AsyncClient``.
- ``idle_close``: the same accounts, arriving evenly over one ``idle_timeout`` (scaled: seconds
  stand for minutes), make one lookup each; when each is closed, polled every 5 ms, against its
  last call's end + ``idle_timeout`` (lateness; a close before that is early).
- ``hot_and_quiet``: the fake in a process of its own serving ``accounts`` accounts behind one
  host (``FakeAccounts``), each with enterprise-a's budgets at a scaled window. ``hot`` of them
  import creates at once (``stream``) while every other account makes ``quiet_calls`` lookups
  at random moments of the import; a bare ``httpx2`` client sends the same lookup all along
  (the round trip under the same load). Each hot account's rate is measured between its first
  and last bulk call (``on_call``), against its own bulk ceiling (its bulk calls per window ×
  50 rows); a quiet lookup's target p99 is one general interval + ``linger`` + the bare round
  trip's p99.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx2

import leadsq_async as lsq
from leadsq_async.testing import PLANS, FakeAccounts, FakeLeadSquared

from ._server import served

__all__ = ["accounts", "rows", "table"]

PLAN = "enterprise-a"
ROWS_PER_CALL = 50
LOOKUP = "/v2/LeadManagement.svc/Leads.GetByEmailaddress"
MAX_PENDING = 500
BULK_CREATE = "/v2/LeadManagement.svc/Lead/Bulk/Create"
POLL = 0.005
SEED = 24


def _keys(n: int) -> tuple[str, str]:
    return f"bench-access-{n:05d}", f"bench-secret-{n:05d}"


def _rate(limit: Any) -> lsq.RateLimit:
    return lsq.RateLimit(limit.calls, limit.period)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _no_lead(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, json=[])


# -- memory per idle account ------------------------------------------------------------------


async def _memory(count: int) -> dict[str, Any]:
    """Traced bytes per idle account: ``Accounts``, and clients composed by hand."""
    figures: dict[str, Any] = {"count": count}
    for side in ("by_hand", "accounts"):
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(_no_lead))
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        if side == "accounts":
            registry = lsq.Accounts(http_client=http, idle_timeout=None)
            clients = [registry.client(*_keys(n)) for n in range(count)]
        else:
            clients = [lsq.LeadSquaredClient(*_keys(n), http_client=http) for n in range(count)]
        await asyncio.gather(
            *(c.find_lead(email=f"nobody{n}@example.com") for n, c in enumerate(clients))
        )
        await asyncio.sleep(0.05)  # every call ended, every client idle
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        figures[side] = {"kib_per_account": (after - before) / count / 1024}
        if side == "accounts":
            figures[side]["live"] = len(registry)
            await registry.aclose()
        else:
            await asyncio.gather(*(c.aclose() for c in clients))
        await http.aclose()
    return figures


# -- idle accounts closed on time -------------------------------------------------------------


async def _idle_close(count: int, idle_timeout: float) -> dict[str, Any]:
    """Lateness of each idle close against last call's end + ``idle_timeout``."""
    loop = asyncio.get_running_loop()
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(_no_lead))
    ended: dict[int, float] = {}
    closed_at: dict[int, float] = {}
    async with lsq.Accounts(http_client=http, idle_timeout=idle_timeout, clock=loop.time) as reg:
        clients: dict[int, lsq.LeadSquaredClient] = {}

        def ended_of(n: int) -> Callable[[lsq.Event], None]:
            def on_event(event: lsq.Event) -> None:
                if isinstance(event, lsq.CallEnded):
                    ended[n] = loop.time()  # when the account last did something

            return on_event

        async def use(n: int) -> None:
            client = clients[n] = reg.client(*_keys(n), on_event=ended_of(n))
            await client.find_lead(email=f"nobody{n}@example.com")

        async def watch() -> None:
            """Note each close as it happens (from the first wave on)."""
            deadline = loop.time() + 4 * idle_timeout
            while len(closed_at) < count and loop.time() < deadline:
                now = loop.time()
                for n, client in list(clients.items()):
                    if n not in closed_at and client.closed:
                        closed_at[n] = now
                await asyncio.sleep(POLL)

        async def arrive(n: int, start: float) -> None:
            await asyncio.sleep(max(0.0, start + n * idle_timeout / count - loop.time()))
            await use(n)

        watching = asyncio.create_task(watch())
        start = loop.time()
        await asyncio.gather(*(arrive(n, start) for n in range(count)))
        await watching
        live_after = len(reg)
        idle_closed = reg.idle_closed
    await http.aclose()
    late = [(closed_at[n] - ended[n] - idle_timeout) * 1000 for n in closed_at]
    return {
        "accounts": count,
        "idle_timeout_s": idle_timeout,
        "closed": len(closed_at),
        "idle_closed": idle_closed,
        "live_after": live_after,
        "early": sum(1 for ms in late if ms < -1.0),
        "late_p50_ms": _quantile(late, 0.5) if late else None,
        "late_p99_ms": _quantile(late, 0.99) if late else None,
        "late_max_ms": max(late) if late else None,
        "poll_ms": POLL * 1000,
    }


# -- 10 hot accounts and many quiet ones ------------------------------------------------------


def _serve_main(count: int, scale: float) -> None:
    """In the server process: serve ``count`` fake accounts behind one host; print the URL."""

    async def main() -> None:
        fakes = FakeAccounts(
            FakeLeadSquared.from_plan(PLAN, scale=scale, access_key=a, secret_key=s)
            for a, s in map(_keys, range(count))
        )
        async with fakes.serve() as url:
            print(url, flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())


def _server(count: int, scale: float) -> AbstractContextManager[str]:
    code = f"from benchmarks._accounts import _serve_main; _serve_main({count}, {scale!r})"
    return served([sys.executable, "-c", code], "the fake accounts")


async def _creates(count: int, tag: int) -> AsyncIterator[lsq.Operation]:
    for n in range(count):
        yield lsq.CreateLead({"EmailAddress": f"hot{tag}-{n}@example.com"})


async def _bare(url: str, stop: asyncio.Event, keys: tuple[str, str], every: float) -> list[float]:
    """Round trips of the same lookup by bare httpx2, one every ``every`` s until ``stop``."""
    headers = {"x-LSQ-AccessKey": keys[0], "x-LSQ-SecretKey": keys[1]}
    took: list[float] = []
    async with httpx2.AsyncClient(base_url=url, headers=headers) as http:
        while not stop.is_set():
            started = time.perf_counter()
            answer = await http.get(LOOKUP, params={"emailaddress": "bare@example.com"})
            took.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
            await asyncio.sleep(every)
    return took


async def _warm(url: str, keys: tuple[str, str]) -> None:
    """One bulk call and one lookup, then a reset (on the bare client's account): a cold
    server answers its first calls late, and a late first call makes the next one look early
    to the service's window."""
    headers = {"x-LSQ-AccessKey": keys[0], "x-LSQ-SecretKey": keys[1]}
    row = [{"Attribute": "EmailAddress", "Value": "warm@example.com"}]
    async with httpx2.AsyncClient(base_url=url, headers=headers) as http:
        (await http.post(BULK_CREATE, json=[row])).raise_for_status()
        (await http.get(LOOKUP, params={"emailaddress": "warm@example.com"})).raise_for_status()
        (await http.post("/_fake/reset")).raise_for_status()


async def _summaries(url: str, count: int) -> list[dict[str, Any]]:
    """The fake's summary of each of the first ``count`` accounts."""
    async with httpx2.AsyncClient(base_url=url) as http:
        found = []
        for access, secret in map(_keys, range(count)):
            headers = {"x-LSQ-AccessKey": access, "x-LSQ-SecretKey": secret}
            found.append((await http.get("/_fake/summary", headers=headers)).json())
    return found


async def _hot_and_quiet(
    count: int, hot: int, rows: int, quiet_calls: int, scale: float
) -> dict[str, Any]:
    pauses: list[float] = []
    begun: list[float] = []

    def full_collections(phase: str, info: dict[str, Any]) -> None:
        """Time each full (generation 2) collection: it holds every account's calls."""
        if info["generation"] == 2:
            if phase == "start":
                begun.append(time.perf_counter())
            elif begun:
                pauses.append((time.perf_counter() - begun.pop()) * 1000)

    gc.callbacks.append(full_collections)
    try:
        return await _hot_and_quiet_run(count, hot, rows, quiet_calls, scale, pauses)
    finally:
        gc.callbacks.remove(full_collections)


async def _hot_and_quiet_run(
    count: int, hot: int, rows: int, quiet_calls: int, scale: float, pauses: list[float]
) -> dict[str, Any]:
    limits = PLANS[PLAN].limits(scale=scale)
    general, bulk = _rate(limits["rate_limit"]), _rate(limits["bulk_rate_limit"])
    ceiling = bulk.calls / bulk.period * ROWS_PER_CALL
    linger = 0.02
    # The last account is the bare client's: its budget is its own.
    quiet = list(range(hot, count - 1))
    with _server(count, scale) as url:
        await _warm(url, _keys(count - 1))
        await asyncio.sleep(bulk.period)  # the warm-up's call out of the window
        # A few calls' worth of rows queued per account (not the default 10,000): a thousand
        # accounts' queues stay small, and an import's intake comes in small bursts.
        async with lsq.Accounts(
            rate_limit=general, bulk_rate_limit=bulk, linger=linger, max_pending=MAX_PENDING
        ) as reg:
            stop = asyncio.Event()
            every = max(0.02, 1.5 * general.period / general.calls)  # within its budget
            bare = asyncio.create_task(_bare(url, stop, _keys(count - 1), every))
            await asyncio.sleep(0.2)
            calls: dict[int, list[tuple[float, int]]] = {n: [] for n in range(hot)}

            def on_call_of(n: int) -> Callable[[lsq.CallEvent], None]:
                def on_call(event: lsq.CallEvent) -> None:
                    if event.endpoint.startswith("Lead/Bulk"):
                        calls[n].append((time.perf_counter(), event.rows))

                return on_call

            async def importing(n: int) -> int:
                client = reg.client(*_keys(n), base_url=url, on_call=on_call_of(n))
                return sum([1 async for o in client.stream(_creates(rows, n)) if o.ok])

            span = (rows / ROWS_PER_CALL - 1) / (bulk.calls / bulk.period)
            rng = random.Random(SEED)
            moments = sorted((rng.uniform(0, span), n) for n in quiet for _ in range(quiet_calls))
            waits: list[float] = []
            errors: list[str] = []

            async def lookup(n: int, at: float, start: float) -> None:
                await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
                started = time.perf_counter()
                try:
                    client = reg.client(*_keys(n), base_url=url)
                    await client.find_lead(email=f"quiet{n}@example.com")
                except lsq.LeadSquaredError as error:
                    errors.append(type(error).__name__)
                waits.append((time.perf_counter() - started) * 1000)
                timeline.append((at, waits[-1]))

            timeline: list[tuple[float, float]] = []
            # The lookups' tasks are made first (making two thousand tasks takes the loop a
            # while), so that the imports' first grants are not held up by it.
            start = time.perf_counter() + 0.5
            lookups = [asyncio.create_task(lookup(n, at, start)) for at, n in moments]
            await asyncio.sleep(max(0.0, start - time.perf_counter()))
            imports = []
            for n in range(hot):  # the imports start spread over one bulk interval
                imports.append(asyncio.create_task(importing(n)))
                await asyncio.sleep(bulk.period / bulk.calls / hot)
            await asyncio.gather(*lookups)
            ok = await asyncio.gather(*imports)
            stop.set()
            round_trips = await bare
            peak_live = len(reg)
            stats = reg.stats()
            hot_rate_limited = [
                stats[reg.account_id(_keys(n)[0], base_url=url)].rate_limited for n in range(hot)
            ]
        summaries = await _summaries(url, count - 1)
    fractions = []
    for n in range(hot):
        sent = calls[n]
        carried = sum(r for _, r in sent[1:])
        fractions.append(carried / (sent[-1][0] - sent[0][0]) / ceiling)
    rejected = sum(b.get("rejected", 0) for s in summaries for b in s.get("budgets", {}).values())
    rtt_p99 = _quantile(round_trips, 0.99)
    interval_ms = general.period / general.calls * 1000
    return {
        "accounts": count,
        "hot": hot,
        "rows_per_hot": rows,
        "hot_ok": sum(ok),
        "max_pending": MAX_PENDING,
        "scale": scale,
        "general": str(general),
        "bulk": str(bulk),
        "ceiling_rows_per_s": ceiling,
        "hot_fraction_min": min(fractions),
        "hot_fraction_mean": statistics.fmean(fractions),
        "quiet_calls": len(waits),
        "quiet_errors": len(errors),
        "quiet_p50_ms": _quantile(waits, 0.5),
        "quiet_p99_ms": _quantile(waits, 0.99),
        "quiet_max_ms": max(waits),
        "bare_rtt_p50_ms": _quantile(round_trips, 0.5),
        "bare_rtt_p99_ms": rtt_p99,
        "general_interval_ms": interval_ms,
        "linger_ms": linger * 1000,
        "quiet_target_ms": interval_ms + linger * 1000 + rtt_p99,
        "rejected_calls": rejected,
        "full_gc_passes": len(pauses),
        "full_gc_max_ms": max(pauses, default=0.0),
        "slowest_lookups": sorted(timeline, key=lambda t: -t[1])[:20],
        "hot_rate_limited": hot_rate_limited,
        "live_accounts": peak_live,
        "stats_accounts": len(stats),
    }


async def accounts(plan: Any) -> dict[str, Any]:
    """Memory per idle account, idle closes on time, hot and quiet accounts side by side."""
    count = plan.accounts
    memory = await _memory(count)
    gc.collect()  # each part starts clean: the last one's closed clients are not its garbage
    idle = await _idle_close(count, plan.accounts_idle_timeout)
    gc.collect()
    return {
        "memory": memory,
        "idle_close": idle,
        "hot_and_quiet": await _hot_and_quiet(
            count,
            plan.accounts_hot,
            plan.accounts_hot_rows,
            plan.accounts_quiet_calls,
            plan.accounts_scale,
        ),
    }


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The scenario's lines of the main table: (figure, measured, target)."""
    memory, idle, load = results["memory"], results["idle_close"], results["hot_and_quiet"]
    return [
        (
            f"accounts: KiB per idle account ({memory['count']:,}), Accounts / by hand",
            f"{memory['accounts']['kib_per_account']:.1f} / "
            f"{memory['by_hand']['kib_per_account']:.1f}",
            "<= 64",
        ),
        (
            f"accounts: idle closes ({idle['idle_timeout_s']:g} s), closed / early / late p99 ms",
            f"{idle['closed']}/{idle['accounts']} / {idle['early']} / {idle['late_p99_ms']:.1f}",
            f"all / 0 / <= {idle['idle_timeout_s'] * 10:g} (1 %)",
        ),
        (
            f"accounts: {load['hot']} hot, fraction of own bulk ceiling (min / mean)",
            f"{load['hot_fraction_min']:.3f} / {load['hot_fraction_mean']:.3f}",
            ">= 0.85",
        ),
        (
            f"accounts: {load['accounts'] - load['hot'] - 1} quiet, p50 / p99 ms",
            f"{load['quiet_p50_ms']:.1f} / {load['quiet_p99_ms']:.1f}",
            f"p99 <= {load['quiet_target_ms']:.1f}",
        ),
    ]


def table(results: dict[str, Any]) -> str:
    """The scenario's own table, in Markdown."""
    lines = ["| figure | measured | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows(results)]
    load = results["hot_and_quiet"]
    lines.append(
        f"| accounts: calls rejected by the fake / quiet errors | "
        f"{load['rejected_calls']} / {load['quiet_errors']} | 0 / 0 |"
    )
    lines.append(
        f"| accounts: full GC passes during the run / longest ms | "
        f"{load['full_gc_passes']} / {load['full_gc_max_ms']:.0f} | - |"
    )
    lines.append(
        f"| accounts: bare round trip p50 / p99 ms | "
        f"{load['bare_rtt_p50_ms']:.1f} / {load['bare_rtt_p99_ms']:.1f} | - |"
    )
    return "\n".join(lines)
