"""Scenario ``fleet`` (issue 24): ``leadsq-async consume`` replicas on one queue, one account.

Real parts only, as in ``tests/test_consume_fleet.py``: the machine's RabbitMQ and Redis, the
fake LeadSquared served by uvicorn in a process of its own, and three workers started as the
command line (``python -m leadsq_async._cli consume``) sharing the account's budgets through
Redis. 20,000 create messages (``--quick``: 3,000), 1 % of them bad rows; once a third are
settled one worker is killed (SIGKILL) and started again; when the queue is empty every worker
gets SIGTERM and drains.

The target is the account's ceiling: 0.85 of (calls a second x 50 rows). Each run is made at a
ceiling the fake and the workers enforce alike: LeadSquared's default, 25 calls in 5 s (250
rows/s), 2.4 times it (600 rows/s) and five times it (1,250 rows/s); the higher ones need the
workers, the broker, the fake and Redis to handle that many rows a second on this machine's
cores, so they say what the box carries. The baseline, in the same run, is one worker alone at
the default ceiling (a quarter of the messages, no kill): what one replica does with the whole
budget to itself.

Figures per run: rows/s in the steady state (from one window after the first lead, whose
window may send all its calls at once, to the last message settled), the fraction of the
ceiling, whether the budget was the binding constraint (the busiest 5 s window of bulk calls
at the limit, 0 rejections), the workers' CPU per row (the workers that drained: their CPU
from their first message on, over the rows they settled), the fake's (its start-up included),
the machine's CPU busy share over the run (other jobs on the box included), and the checks:
0 duplicates, 0 lost, dead letters = bad rows.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from leadsq_async.testing import remote_leads, remote_summary, serve_subprocess
from leadsq_async.testing._workers import ConsumeWorkers, fleet_messages, fresh_redis_prefix

__all__ = ["fleet", "rows", "table"]

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
WORKERS = 3
ROWS_PER_CALL = 50
WINDOW = 5.0
#: The ceilings run: (label, calls per 5 s window).
CEILINGS = (
    ("default, 25 calls / 5 s", 25),
    ("2.4x, 60 calls / 5 s", 60),
    ("5x, 125 calls / 5 s", 125),
)
MESSAGES = 20_000
QUICK_MESSAGES = 3_000


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot (``/proc/stat``); (0, 0) elsewhere."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0, 0
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return sum(ticks) - idle, sum(ticks)


def _reachable() -> str | None:
    """Why RabbitMQ or Redis cannot be used, or None."""
    import socket
    from urllib.parse import urlsplit

    for url, port in ((AMQP_URL, 5672), (REDIS_URL, 6379)):
        where = urlsplit(url)
        try:
            with socket.create_connection((where.hostname or "127.0.0.1", where.port or port), 1):
                pass
        except OSError as exc:
            return f"{where.hostname}:{where.port or port} does not answer: {exc}"
    return None


class _Broker:
    """One connection for publishing, polling the queue's depth and reading dead letters."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @classmethod
    async def open(cls) -> _Broker:
        import aio_pika

        return cls(await aio_pika.connect(AMQP_URL))

    async def declare(self, queue: str) -> None:
        channel = await self.connection.channel()
        for name in (queue, f"{queue}.dead"):
            await channel.declare_queue(name, durable=True)
        await channel.close()

    async def delete(self, queue: str) -> None:
        channel = await self.connection.channel()
        for name in (queue, f"{queue}.dead"):
            await channel.queue_delete(name)
        await channel.close()

    async def publish(self, queue: str, bodies: list[bytes]) -> None:
        import aio_pika

        channel = await self.connection.channel(publisher_confirms=True)
        for start in range(0, len(bodies), 500):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                        routing_key=queue,
                    )
                    for body in bodies[start : start + 500]
                )
            )
        await channel.close()

    async def depth(self, queue: str) -> int:
        channel = await self.connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count or 0
        await channel.close()
        return int(count)

    async def take_all(self, queue: str) -> list[tuple[bytes, dict[str, Any]]]:
        channel = await self.connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        out = []
        while (message := await declared.get(fail=False, no_ack=True)) is not None:
            out.append((message.body, dict(message.headers or {})))
        await channel.close()
        return out


async def _run(calls: int, messages: int, workers: int, kill: bool) -> dict[str, Any]:
    """One fleet run at ``calls`` per 5 s; its figures."""
    rate = f"{calls}/{WINDOW:g}"
    ceiling = calls / WINDOW * ROWS_PER_CALL
    bodies, bad = fleet_messages(messages)
    good = messages - bad
    queue = f"leadsq-bench-fleet-{uuid.uuid4().hex[:12]}"
    broker = await _Broker.open()
    try:
        await broker.declare(queue)
        with (
            serve_subprocess(rate) as url,
            fresh_redis_prefix(REDIS_URL, "leadsq-bench-fleet") as prefix,
            tempfile.TemporaryDirectory() as tmp,
        ):
            await broker.publish(queue, bodies)
            fleet = ConsumeWorkers(
                url,
                queue,
                rate=rate,
                amqp_url=AMQP_URL,
                redis_url=REDIS_URL,
                redis_prefix=prefix,
                directory=Path(tmp),
            )
            cpu_before = _children_cpu()
            for _ in range(workers):
                fleet.start()
            started = time.monotonic()
            first: float | None = None
            machine_first = (0, 0)
            killed_at = 0
            settled = 0
            samples: list[tuple[float, int]] = []  # (time, leads) from the first lead on
            while time.monotonic() < started + max(600.0, 4 * good / ceiling):
                await asyncio.sleep(0.25)
                leads = int(remote_summary(url)["leads"])
                if first is None and leads:
                    first, machine_first = time.monotonic(), _machine_cpu()
                if first is not None:
                    samples.append((time.monotonic(), leads))
                if kill and not killed_at and leads >= good // 3:
                    fleet.kill(0)
                    killed_at = leads
                    fleet.start()
                if leads >= good and await broker.depth(queue) == 0:
                    settled = leads
                    break
            ended, machine_last = time.monotonic(), _machine_cpu()
            while kill and not fleet.ready(workers) and time.monotonic() < ended + 20:
                await asyncio.sleep(0.05)  # so that SIGTERM finds the restarted one listening
            codes = fleet.drain()
            workers_cpu = _children_cpu() - cpu_before
            summary = remote_summary(url)
            emails = [str(lead.get("EmailAddress", "")).lower() for lead in remote_leads(url)]
            dead = await broker.take_all(f"{queue}.dead")
            reports = fleet.reports()
            fake_before = _children_cpu()
        fake_cpu = _children_cpu() - fake_before  # the fake was waited for on leaving
        await broker.delete(queue)
    finally:
        await broker.connection.close()
    seconds = ended - (first or started)
    # The workers that drained: their CPU in ``consume`` (no start-up) over the rows they settled.
    run_cpu = sum(float(r.get("cpu_seconds", 0.0)) for r in reports)
    run_rows = sum(r["counts"].get(k, 0) for r in reports for k in ("done", "dead_lettered"))
    busy = machine_last[0] - machine_first[0]
    total = machine_last[1] - machine_first[1]
    # The bulk calls' budget (creates are bulk calls; the general budget counts them too).
    budgets = summary.get("budgets", {})
    budget = budgets.get("bulk") or budgets.get("general") or {}
    max_calls = int(budget.get("max_calls_in_window", summary["max_calls_in_window"]))
    rejected = int(summary["rate_limited"])
    row_calls = sum(int(e["calls"]) for e in summary.get("endpoints", {}).values())
    overall = settled / seconds if seconds > 0 else 0.0
    # Steady state: from one window after the first lead (the first window's calls may all
    # leave at once, a burst no later window allows) to the last row.
    steady_from = next(((t, n) for t, n in samples if first and t >= first + WINDOW), None)
    if steady_from is not None and ended > steady_from[0]:
        rows_per_s = (settled - steady_from[1]) / (ended - steady_from[0])
    else:
        rows_per_s = overall
    return {
        "rate": rate,
        "ceiling_rows_per_s": ceiling,
        "workers": workers,
        "messages": messages,
        "bad_rows": bad,
        "killed_after_leads": killed_at,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows_per_s, 1),
        "fraction_of_ceiling": round(rows_per_s / ceiling, 3),
        "rows_per_s_with_first_window": round(overall, 1),
        "budgets": budgets,
        "calls": summary["calls"],
        # The calls that carried rows (the fake also counts one start-up call per worker).
        "row_calls": row_calls,
        "mean_rows_per_call": round(good / max(1, row_calls), 2),
        "max_calls_in_window": max_calls,
        "limit_calls": calls,
        "max_calls_in_window_all": summary["max_calls_in_window"],
        "rate_limited": rejected,
        "budget_bound": max_calls >= 0.9 * calls and rejected == 0,
        "workers_cpu_s_total": round(workers_cpu, 2),  # start-ups and the killed one included
        "workers_cpu_ms_per_row": round(1000 * run_cpu / run_rows, 3) if run_rows else None,
        "fake_cpu_ms_per_row": round(fake_cpu / messages * 1000, 3),
        "machine_cpu_busy": round(busy / total, 3) if total else None,
        "exit_codes": codes,
        "duplicates": summary["duplicates"] + len(emails) - len(set(emails)),
        "lost": good - len(set(emails)),
        "dead_letters_distinct": len({body for body, _ in dead}),
        "dead_letter_repeats": len(dead) - len({body for body, _ in dead}),
        "looked_up": sum(r["counts"].get("looked_up", 0) for r in reports),
    }


async def fleet(plan: Any) -> dict[str, Any]:
    """The fleet at each ceiling, and one worker alone at the highest (the baseline)."""
    why = _reachable()
    if why is not None:
        return {"skipped": why}
    quick = plan.rate.period < WINDOW  # the quick plan's windows are scaled
    messages = QUICK_MESSAGES if quick else MESSAGES
    runs = {}
    for label, calls in CEILINGS:
        print(f"  fleet: {WORKERS} workers, {label} ...", file=sys.stderr, flush=True)
        runs[label] = await _run(calls, messages, WORKERS, kill=True)
    label, calls = CEILINGS[0]
    print(f"  fleet: one worker alone, {label} ...", file=sys.stderr, flush=True)
    baseline = await _run(calls, max(2000, messages // 4), 1, kill=False)
    return {"messages": messages, "runs": runs, "baseline": {label: baseline}}


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, measured, target) lines for the benchmark table."""
    if "skipped" in results:
        return [("fleet", f"skipped: {results['skipped']}", "-")]
    out: list[tuple[str, str, str]] = []
    sides = [(f"{WORKERS} workers", k, r) for k, r in results["runs"].items()]
    sides += [("1 worker (baseline)", k, r) for k, r in results["baseline"].items()]
    for who, label, r in sides:
        name = f"fleet {who}, {r['messages']:,} msgs, {label}"
        out += [
            (
                f"{name}: rows/s (fraction of {r['ceiling_rows_per_s']:,.0f})",
                f"{r['rows_per_s']:,.0f} ({r['fraction_of_ceiling']:.3f})",
                ">= 0.85",
            ),
            (
                f"{name}: busiest window / 429s",
                f"{r['max_calls_in_window']} / {r['rate_limited']}",
                f"<= {r['limit_calls']} / 0",
            ),
            (
                f"{name}: duplicates / lost / dead letters",
                f"{r['duplicates']} / {r['lost']} / {r['dead_letters_distinct']}",
                f"0 / 0 / {r['bad_rows']}",
            ),
        ]
    return out


def table(results: dict[str, Any]) -> str:
    """The fleet's figures as a Markdown table (the docs' "Queue workers" table)."""
    if "skipped" in results:
        return f"fleet skipped: {results['skipped']}"
    head = (
        "| run | ceiling (rows/s) | rows/s | fraction | busiest 5 s window | 429s "
        "| budget bound | worker CPU ms/row | fake CPU ms/row | box CPU busy |\n"
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"
    )
    lines = [head]
    sides = [(f"{WORKERS} workers, kill", r) for r in results["runs"].values()]
    sides += [("1 worker (baseline)", r) for r in results["baseline"].values()]
    for who, r in sides:
        busy = "-" if r["machine_cpu_busy"] is None else f"{r['machine_cpu_busy']:.0%}"
        cpu = r["workers_cpu_ms_per_row"]
        per_row = "-" if cpu is None else f"{cpu:.3f}"
        lines.append(
            f"| {who}, {r['messages']:,} msgs | {r['ceiling_rows_per_s']:,.0f} "
            f"| {r['rows_per_s']:,.0f} | {r['fraction_of_ceiling']:.2f} "
            f"| {r['max_calls_in_window']} of {r['limit_calls']} | {r['rate_limited']} "
            f"| {'yes' if r['budget_bound'] else 'no'} | {per_row} "
            f"| {r['fake_cpu_ms_per_row']:.3f} | {busy} |"
        )
    return "\n".join(lines)
