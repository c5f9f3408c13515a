"""The fleet: three ``leadsq-async consume`` processes on one queue and one account's budgets.

Real parts only: the machine's RabbitMQ and Redis, the fake LeadSquared served by uvicorn in a
process of its own, and the workers started as the command line
(``python -m leadsq_async._cli consume``) sharing the account's budgets through Redis.
1 % of the messages are bad rows (a third each: not a row, refused by the client's checks,
refused by the service as a duplicate of another row's email). Once a third of the rows are
settled one worker is killed (SIGKILL) and started again; when the queue is empty every worker
gets SIGTERM and must drain and exit 0.

The account's limit is ``FLEET_RATE`` (default 50 calls in 5 s, twice LeadSquared's default:
500 rows/s, which the fake and the workers enforce alike and which a loaded two-core machine
carries, so that the printed fraction is the budget's, not the machine's). The size is
``FLEET_MESSAGES`` (default 6,000 in CI, ~20 s; the issue's 20,000 run is
``FLEET_MESSAGES=20000 pytest tests/test_consume_fleet.py -s``). The combined throughput
against the account's ceiling is printed, not asserted (wall clock); ``python -m benchmarks
--only fleet`` measures it at three ceilings.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadsq_async.testing import remote_leads, remote_summary, serve_subprocess
from leadsq_async.testing._workers import BAD, BAD_KINDS, ConsumeWorkers, fleet_messages
from tests.amqp_support import AMQP_URL, depth, fresh_queue_sync, publish, take_all
from tests.redis_support import REDIS_URL, fresh_prefix

pytestmark = [pytest.mark.amqp, pytest.mark.soak]

MESSAGES = int(os.environ.get("FLEET_MESSAGES", "6000"))
WORKERS = 3
#: The fake's limit, and the workers' (the account's): calls per LeadSquared's 5 s window.
RATE = os.environ.get("FLEET_RATE", "50/5")
LIMIT, WINDOW = int(RATE.split("/")[0]), float(RATE.split("/")[1])
ROWS_PER_CALL = 50
CEILING = LIMIT / WINDOW * ROWS_PER_CALL  # rows per second


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh Redis key prefix for the fleet's shared budgets."""
    with fresh_prefix("leadsq-fleet") as name:
        yield name


def _settled(url: str, dead_queue: str) -> tuple[int, int]:
    leads = int(remote_summary(url)["leads"])
    dead, _ = asyncio.run(depth(dead_queue))
    return leads, dead


@pytest.mark.timeout(240)
def test_three_workers_one_budget_a_killed_one_nothing_lost_nothing_doubled(
    prefix: str, tmp_path: Path
) -> None:
    """Every message settled: leads + dead letters = messages, no duplicate lead, no 429."""
    bodies, bad = fleet_messages(MESSAGES)
    good = MESSAGES - bad
    with serve_subprocess(RATE) as url, fresh_queue_sync("leadsq-fleet") as queue:
        asyncio.run(publish(queue, bodies))
        fleet = ConsumeWorkers(
            url,
            queue,
            rate=RATE,
            amqp_url=AMQP_URL,
            redis_url=REDIS_URL,
            redis_prefix=prefix,
            directory=tmp_path,
        )
        started = time.monotonic()
        for _ in range(WORKERS):
            fleet.start()
        killed_at = 0
        first: float | None = None  # when the first lead was seen: the workers are running
        samples: list[tuple[float, int]] = []  # (time, leads settled) from the first lead on
        deadline = started + 200
        while time.monotonic() < deadline:
            time.sleep(0.1)
            leads, dead = _settled(url, f"{queue}.dead")
            if first is None and leads:
                first = time.monotonic()
            if first is not None:
                samples.append((time.monotonic(), leads))
            if not killed_at and leads + dead >= MESSAGES // 3:
                fleet.kill(0)
                killed_at = leads + dead
                fleet.start()  # worker 0 comes back (as worker 3)
            if leads + dead >= MESSAGES and asyncio.run(depth(queue))[0] == 0:
                break
        ended = time.monotonic()
        elapsed = ended - (first or started)
        fleet.wait_ready(WORKERS)  # the restarted worker, so that SIGTERM finds it listening
        codes = fleet.drain()
        ready, _ = asyncio.run(depth(queue))
        dead_letters = asyncio.run(take_all(f"{queue}.dead"))
        summary = remote_summary(url)  # the busiest 5 s window
        emails = [str(lead.get("EmailAddress", "")).lower() for lead in remote_leads(url)]
    reports = fleet.reports()
    looked_up = sum(r["counts"].get("looked_up", 0) for r in reports)
    dead_types: dict[str, int] = {}
    distinct: dict[bytes, dict[str, Any]] = {}
    repeats = []
    for body, headers in dead_letters:
        if body in distinct:
            repeats.append(headers)
            continue
        distinct[body] = headers
        kind = str(headers["x-leadsq-error-type"])
        dead_types[kind] = dead_types.get(kind, 0) + 1
    # Steady state: from one window after the first lead (the first window's calls may all
    # leave at once, a burst no later window allows) to the last message settled.
    steady = next(((t, n) for t, n in samples if first and t >= first + WINDOW), None)
    throughput = (good - steady[1]) / (ended - steady[0]) if steady else good / elapsed
    bulk = summary["budgets"].get("bulk") or summary["budgets"].get("general") or {}
    ack_frames = sum(r["counts"].get("ack_frames", 0) for r in reports)
    settled_by_reports = sum(
        r["counts"].get(k, 0) for r in reports for k in ("done", "dead_lettered")
    )
    figures = {
        "messages": MESSAGES,
        "bad_rows": bad,
        "seconds": round(elapsed, 2),  # from the first lead to the last message settled
        "rows_per_second": round(throughput, 1),  # steady state
        "ceiling_rows_per_second": CEILING,
        "limit": RATE,
        "fraction_of_ceiling": round(throughput / CEILING, 3),
        "killed_after_settled": killed_at,
        "redelivered_creates_looked_up": looked_up,
        "dead_letters": dead_types,
        "dead_letter_repeats": len(repeats),
        "duplicates": summary["duplicates"],
        "rate_limited": summary["rate_limited"],
        "max_bulk_calls_in_window": bulk.get("max_calls_in_window"),
        "max_calls_in_window": summary["max_calls_in_window"],
        "calls": summary["calls"],
        "ack_frames": ack_frames,
        "settled_by_drained_workers": settled_by_reports,
        "cpu_ms_per_row": round(
            1000 * sum(r.get("cpu_seconds", 0) for r in reports) / max(1, settled_by_reports), 3
        ),
    }
    print(f"\nconsume fleet: {figures}")
    assert killed_at
    assert codes == [0] * WORKERS, [fleet.log(i) for i in range(len(fleet.processes))]
    assert ready == 0  # nothing left, nothing returned by the drain
    # Each bad row dead-lettered, nothing else. A dead letter the killed worker published but
    # had not yet recorded (its confirm in flight) is published again by the worker that gets
    # the message back, marked redelivered: at least once, never lost.
    assert len(distinct) == bad
    assert len(repeats) < bad  # only those the killed worker had in hand
    assert all(h.get("x-leadsq-redelivered") == "true" for h in repeats)
    expected: dict[str, int] = {}
    for i in range(MESSAGES):
        if i % 300 in BAD_KINDS:
            expected[BAD_KINDS[i % 300]] = expected.get(BAD_KINDS[i % 300], 0) + 1
    assert dead_types == expected
    assert summary["duplicates"] == 0
    assert len(emails) == len(set(emails)) == good  # 0 lost, 0 doubled
    assert set(emails) == {f"lead{i}@example.com" for i in range(MESSAGES) if i % 300 not in BAD}
    assert summary["rate_limited"] == 0  # the budget was known: nothing to learn
    # The ledger's busiest window counts every call received, including the one each worker
    # makes as it starts; it has shown one over the limit with no call refused by the fake's
    # admission. No rejection is the verdict; the window is the figure.
    assert bulk["max_calls_in_window"] <= LIMIT + 1
    # Acknowledged in batches: far fewer ack frames than messages (one per call's run of tags).
    assert ack_frames * 2 < settled_by_reports
