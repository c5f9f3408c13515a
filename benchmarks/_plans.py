"""Scenario 7 (issue 13): the published plans, two budgets, learning, spilling, a spent quota.

For each plan the fake runs in a process of its own with that plan's budgets at a scaled window
(``scale=5``: 1 s stands for 5 s). In each run an import streams upserts (bulk priority) while
other tasks send a steady trickle of interactive sign-ups (``upsert_lead``), with the client:

- ``none_general``: ``spill="none"``, told the general limit only (the old routing);
- ``learned_interactive`` / ``learned_all``: told the general limit only, so it learns the bulk
  budget from the service's rejections; ``spill="interactive"`` (default) and ``"all"``;
- ``configured_interactive`` / ``configured_all``: told both budgets.

Sign-ups come ``min(2, spare / 2)`` per window, where ``spare = general - bulk`` calls (lite-a:
one every two windows). Rates are measured from the calls as they leave (``on_call``): each row
counts once, at the call that carried it last, between the first bulk call after the client
last learned a budget from a rejection and the last bulk call before the run stops, so that the
interval holds whole bulk intervals ("after learning"; "whole run" counts from the start). The
true ceiling per window is ``bulk calls × rows per call`` plus, with ``spill="all"``, one row
per spare general call, and with the default the sign-ups' own rate. A sign-up's target p99 is
one general interval of the plan + ``linger`` + the median round trip of the sign-ups' calls.

``spent_quota`` then gives pro-b a small daily quota and spends it mid-import: how long until
every waiting row is answered, and how many calls the client still makes in the (scaled)
minute that follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx2

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, PLANS

from ._server import HEADERS, fake_server, reset, summary

__all__ = ["CONFIGS", "plans", "plot", "rows", "table"]

#: The import's operation and its rows per bulk call (``Lead/Bulk/CreateOrUpdate``).
ROWS_PER_CALL = 25
#: name: (spill, whether the client is told the bulk budget).
Spill = Literal["interactive", "all", "none"]
CONFIGS: dict[str, tuple[Spill, bool]] = {
    "none_general": ("none", False),
    "learned_interactive": ("interactive", False),
    "learned_all": ("all", False),
    "configured_interactive": ("interactive", True),
    "configured_all": ("all", True),
}
LINGER = 0.02  # the client's default
#: What the client logs when one of its background tasks (a lane) died.
CRASHED = "background task failed"
SINGLE = "/v2/LeadManagement.svc/"
BULK = SINGLE + "Lead/Bulk/"
_LOGGER = "leadsq_async"


def _rate(limit: Any) -> lsq.RateLimit:
    return lsq.RateLimit(limit.calls, limit.period)


def _percentile(samples: list[float], q: float) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


#: Which run the current task belongs to: plans run side by side in one event loop, and every
#: client logs to the same logger. The client's tasks inherit it from the run that started them.
_RUN: contextvars.ContextVar[object] = contextvars.ContextVar("benchmark_run")


class _Warnings(logging.Handler):
    """One run's client warnings, timed: when it learned or was rate limited, when it saw the
    quota spent, whether a background task of it died."""

    def __init__(self, run: object) -> None:
        super().__init__(logging.WARNING)
        self.run = run
        self.records: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if _RUN.get(None) is self.run:
            self.records.append((time.perf_counter(), record.getMessage()))

    def times(self, *words: str) -> list[float]:
        return [t for t, text in self.records if any(w in text for w in words)]


@contextlib.contextmanager
def _captured() -> Iterator[_Warnings]:
    """Capture the warnings of the client made inside (hundreds of 429s would otherwise flood
    stderr); make the client inside the block, so that its tasks belong to this run."""
    logger = logging.getLogger(_LOGGER)
    run = object()
    token = _RUN.set(run)
    handler = _Warnings(run)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        _RUN.reset(token)


class _Journal:
    """Every call as it leaves: when, where, and the e-mail addresses of its rows."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str, tuple[str, ...]]] = []

    def __call__(self, event: lsq.CallEvent) -> None:
        emails = tuple(
            str(getattr(op, "fields", {}).get("EmailAddress")) for op in event.operations
        )
        self.calls.append((time.perf_counter(), event.endpoint, emails))

    def last_departure(self) -> dict[str, tuple[float, str]]:
        """Each row's last call (the one that carried it through): when, and the endpoint."""
        last: dict[str, tuple[float, str]] = {}
        for when, endpoint, emails in self.calls:
            for email in emails:
                last[email] = (when, endpoint)
        return last

    def bulk_times(self) -> list[float]:
        return [when for when, endpoint, _ in self.calls if endpoint.startswith("Lead/Bulk/")]


def _upsert(prefix: str, i: int, priority: lsq.Priority | None = None) -> lsq.UpsertLead:
    fields = {"EmailAddress": f"{prefix}{i}@example.com", "FirstName": f"F{i}", "mx_City": "Pune"}
    return lsq.UpsertLead(fields, priority=priority)


class _SignUps:
    """Interactive sign-ups, one every ``every`` seconds, each in a task of its own."""

    def __init__(self, client: lsq.LeadSquaredClient, every: float, prefix: str) -> None:
        self.client = client
        self.every = every
        self.prefix = prefix
        self.done: list[tuple[str, float, float, BaseException | None]] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def one(self, i: int) -> None:
        email = f"{self.prefix}{i}@example.com"
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            await self.client.upsert_lead({"EmailAddress": email, "FirstName": f"S{i}"})
        except lsq.LeadSquaredError as exc:
            error = exc
        self.done.append((email, started, time.perf_counter(), error))

    async def run(self, until: float) -> None:
        i = 0
        await asyncio.sleep(self.every / 3)
        while time.perf_counter() < until:
            task = asyncio.get_running_loop().create_task(self.one(i))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            i += 1
            await asyncio.sleep(self.every)

    async def settle(self, timeout: float) -> None:  # noqa: ASYNC109 (asyncio.wait's own)
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)


async def _consume(
    client: lsq.LeadSquaredClient, ops: Iterator[lsq.Operation], answered: list[tuple[float, Any]]
) -> None:
    async with contextlib.aclosing(client.stream(ops)) as outcomes:
        async for outcome in outcomes:
            answered.append((time.perf_counter(), outcome))


def _ceilings(name: str, scale: float) -> dict[str, Any]:
    plan = PLANS[name]
    limits = plan.limits(scale=scale)
    general, bulk = _rate(limits["rate_limit"]), _rate(limits["bulk_rate_limit"])
    period = general.period
    assert bulk.period == period
    spare = general.calls - bulk.calls
    signups_per_window = min(2.0, spare / 2)
    every = period / signups_per_window
    bulk_rows = bulk.calls * ROWS_PER_CALL / period
    return {
        "version": plan.version,
        "rate": str(plan.rate_limit),
        "bulk_rate": str(plan.bulk_rate_limit),
        "general": general,
        "bulk": bulk,
        "signup_every_s": every,
        "ceiling_all_rows_per_s": bulk_rows + spare / period,
        "ceiling_default_rows_per_s": bulk_rows + 1 / every,
        "general_interval_ms": general.interval * 1000,
    }


async def _one_run(url: str, plan: dict[str, Any], config: str, seconds: float) -> dict[str, Any]:
    spill, told_bulk = CONFIGS[config]
    general: lsq.RateLimit = plan["general"]
    bulk: lsq.RateLimit = plan["bulk"]
    ceiling_all = plan["ceiling_all_rows_per_s"]
    ceiling = ceiling_all if spill == "all" else plan["ceiling_default_rows_per_s"]
    # In a thread: a blocking call here would stall the plan running beside this one.
    await asyncio.to_thread(reset, url)
    journal = _Journal()
    rows = int(ceiling_all * seconds * 1.3) + 2 * ROWS_PER_CALL
    answered: list[tuple[float, Any]] = []
    with _captured() as warnings:
        client = lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            base_url=url,
            rate_limit=general,
            bulk_rate_limit=bulk if told_bulk else None,
            spill=spill,
            linger=LINGER,
            on_call=journal,
        )
        async with client:  # aclose() below; the second, on leaving, does nothing
            started = time.perf_counter()
            stop = started + seconds
            signups = _SignUps(client, plan["signup_every_s"], "signup")
            importing = asyncio.get_running_loop().create_task(
                _consume(client, (_upsert("import", i) for i in range(rows)), answered)
            )
            trickle = asyncio.get_running_loop().create_task(signups.run(stop))
            await asyncio.sleep(max(0.0, stop - time.perf_counter()))
            importing.cancel()
            await asyncio.gather(importing, trickle, return_exceptions=True)
            await signups.settle(2 * bulk.period + 1)
            stats = client.stats()
            # Short: should a lane of the client have died, its rows would wait for nothing.
            await client.aclose(timeout=1.0)
        ledger = await asyncio.to_thread(summary, url, general.period)
    return _figures(
        plan, spill, ceiling, started, stop, journal, warnings, answered, signups, stats, ledger
    )


def _figures(
    plan: dict[str, Any],
    spill: str,
    ceiling: float,
    started: float,
    stop: float,
    journal: _Journal,
    warnings: _Warnings,
    answered: list[tuple[float, Any]],
    signups: _SignUps,
    stats: lsq.Stats,
    ledger: dict[str, Any],
) -> dict[str, Any]:
    # Learned: the last rejection that taught a budget. A later one is not learning: its cost
    # stays in the rate measured after it.
    learned_at = max(
        (t for t in warnings.times("announced a lower rate limit") if t < stop), default=started
    )
    bulk_times = [t for t in journal.bulk_times() if learned_at < t < stop]
    last = journal.last_departure()
    out: dict[str, Any] = {"spill": spill, "ceiling_rows_per_s": ceiling}
    if len(bulk_times) >= 2:
        t_a, t_b = bulk_times[0], bulk_times[-1]
        inside = [email for email, (t, _) in last.items() if t_a <= t < t_b]
        signed = sum(email.startswith("signup") for email in inside)
        rate = len(inside) / (t_b - t_a)
        out.update(
            steady_from_s=t_a - started,
            steady_seconds=t_b - t_a,
            rows_per_s=rate,
            import_rows_per_s=(len(inside) - signed) / (t_b - t_a),
            signup_rows_per_s=signed / (t_b - t_a),
            fraction_of_ceiling=rate / ceiling,
        )
    else:
        t_a, t_b = stop, stop
        out.update(steady_from_s=None, rows_per_s=None, fraction_of_ceiling=None)
    # The whole run, learning included, up to the same last bulk call.
    end = t_b if t_b > started else stop
    whole = sum(1 for t, _ in last.values() if started <= t < end)
    out["whole_run_fraction"] = whole / (end - started) / ceiling
    ok_rows = sum(1 for _, o in answered if o.ok) + sum(1 for s in signups.done if s[3] is None)
    failed = sum(1 for _, o in answered if not o.ok) + sum(1 for s in signups.done if s[3])
    out["rows_ok"], out["rows_failed"] = ok_rows, failed
    out["calls"] = stats.calls
    out["calls_per_row"] = stats.calls / ok_rows if ok_rows else None
    out["client_429s"] = stats.rate_limited
    budgets = ledger.get("budgets", {})
    out["rejected"] = {name: b["rejected"] for name, b in budgets.items()}
    out["max_calls_in_window"] = {name: b["max_calls_in_window"] for name, b in budgets.items()}
    out["endpoints"] = ledger.get("endpoints", {})
    out["learned_bulk_rate"] = str(stats.bulk_rate_limit) if stats.bulk_rate_limit else None
    out["lane_crashed"] = bool(warnings.times(CRASHED))
    # Sign-ups: latency, and how each travelled (alone, or riding a bulk call).
    all_ms, steady_ms, rtt_ms = [], [], []
    alone = 0
    for email, begun, ended, error in signups.done:
        if error is not None:
            continue
        ms = (ended - begun) * 1000
        all_ms.append(ms)
        if t_a <= begun < t_b:
            steady_ms.append(ms)
        departed = last.get(email)
        if departed is not None:
            rtt_ms.append((ended - departed[0]) * 1000)
            alone += not departed[1].startswith("Lead/Bulk/")
    rtt = statistics.median(rtt_ms) if rtt_ms else 0.0
    samples = steady_ms or all_ms
    out["signup"] = {
        "count": len(signups.done),
        "alone": alone,
        "samples": len(samples),
        "p50_ms": statistics.median(samples) if samples else None,
        "p99_ms": _percentile(samples, 0.99),
        "p99_all_ms": _percentile(all_ms, 0.99),
        "rtt_p50_ms": rtt,
        "target_p99_ms": plan["general_interval_ms"] + LINGER * 1000 + rtt,
    }
    return out


def _serve(stack: contextlib.ExitStack, name: str, scale: float) -> str:
    """Start the fake with plan ``name``'s budgets in a process of its own; give its URL."""
    rate = str(PLANS[name].rate_limit)
    return stack.enter_context(fake_server(rate, "--plan", name, "--scale", f"{scale:g}"))


def _warm(url: str) -> None:
    """One bulk and one single-lead call, then a reset: a cold server answers its first call
    late, and a late first call makes the next one look early to the service's window."""
    row = [{"Attribute": "EmailAddress", "Value": "warm@example.com"}]
    with httpx2.Client(base_url=url, headers=HEADERS) as http:
        http.post(BULK + "CreateOrUpdate", json=[row]).raise_for_status()
        http.post(SINGLE + "Lead.CreateOrUpdate", json=row).raise_for_status()
    reset(url)


async def _plan(name: str, url: str, scale: float, seconds: float) -> dict[str, Any]:
    await asyncio.to_thread(_warm, url)
    plan = _ceilings(name, scale)
    out: dict[str, Any] = {k: v for k, v in plan.items() if k not in ("general", "bulk")}
    out["scaled_rate"] = str(plan["general"])
    out["scaled_bulk_rate"] = str(plan["bulk"])
    for config in CONFIGS:
        out[config] = await _one_run(url, plan, config, seconds)
    return out


async def _spent_quota(variant: str, scale: float, quota: int) -> dict[str, Any]:
    """pro-b with a daily quota of ``quota`` calls, spent mid-import.

    ``variant``: ``learned`` (the client is told the two budgets, not the quota; the service
    names the quota when it is spent), ``configured`` (``daily_quota=`` too), ``opaque`` (as
    ``learned``, but the service words the spent quota without numbers), ``opaque_none`` (as
    ``opaque`` with ``spill="none"``: no row goes alone on a single-lead road).
    """
    name = "pro-b"
    plan = _ceilings(name, scale)
    general: lsq.RateLimit = plan["general"]
    bulk: lsq.RateLimit = plan["bulk"]
    minute = 60 / scale
    opaque = variant.startswith("opaque")
    options = ["--plan", name, "--scale", f"{scale:g}", "--daily-quota", str(quota)]
    if opaque:
        options += ["--quota-message", "opaque"]
    journal = _Journal()
    answered: list[tuple[float, Any]] = []
    rows = quota * ROWS_PER_CALL * 3
    out: dict[str, Any] = {
        "plan": name,
        "scale": scale,
        "daily_quota": quota,
        "minute_s": minute,
        "client_told_quota": variant == "configured",
        "quota_message": "opaque" if opaque else "window",
        "spill": "none" if variant == "opaque_none" else "interactive",
    }
    with fake_server(str(PLANS[name].rate_limit), *options) as url, _captured() as warnings:
        _warm(url)
        client = lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            base_url=url,
            rate_limit=general,
            bulk_rate_limit=bulk,
            daily_quota=quota if variant == "configured" else None,
            spill="none" if variant == "opaque_none" else "interactive",
            linger=LINGER,
            on_call=journal,
        )
        async with client:  # aclose() below; the second, on leaving, does nothing
            started = time.perf_counter()
            # Long enough to spend the quota at the bulk budget, with room to spare.
            give_up = started + 3 * quota * bulk.interval + 5 * bulk.period
            signups = _SignUps(client, plan["signup_every_s"], "signup")
            importing = asyncio.get_running_loop().create_task(
                _consume(client, (_upsert("import", i) for i in range(rows)), answered)
            )
            trickle = asyncio.get_running_loop().create_task(signups.run(give_up + minute))
            spent = None
            while spent is None and time.perf_counter() < give_up:
                await asyncio.sleep(0.005)
                spent = _spent_at(journal, warnings, quota, opaque)
            if spent is not None:
                waiting = set(signups.tasks)
                await asyncio.wait([importing, *waiting], timeout=minute)
                ends = [end for _, begun, end, _ in signups.done if begun <= spent]
                if answered:
                    ends.append(answered[-1][0])
                all_answered = importing.done() and all(t.done() for t in waiting)
                await asyncio.sleep(max(0.0, spent + minute - time.perf_counter()))
                out["spent_after_s"] = spent - started
                out["all_answered_after_s"] = max(0.0, max(ends) - spent) if all_answered else None
                out["calls_in_next_minute"] = sum(
                    1 for t, _, _ in journal.calls if spent < t <= spent + minute
                )
            trickle.cancel()
            importing.cancel()
            await asyncio.gather(importing, trickle, return_exceptions=True)
            for task in list(signups.tasks):
                task.cancel()
            await client.aclose(timeout=0.5)
        ledger = summary(url)
    errors: dict[str, int] = {}
    outcomes = [o.error for _, o in answered] + [s[3] for s in signups.done]
    for error in outcomes:
        if error is not None:
            errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
    out["rows_ok"] = sum(error is None for error in outcomes)
    out["import_rows_unanswered"] = rows - len(answered)
    out["errors"] = errors
    out["lane_crashed"] = bool(warnings.times(CRASHED))
    out["service_calls"] = ledger["calls"]
    out["rejected"] = {n: b["rejected"] for n, b in ledger.get("budgets", {}).items()}
    return out


def _spent_at(journal: _Journal, warnings: _Warnings, quota: int, opaque: bool) -> float | None:
    """When the client learned that the quota is spent: the service said so, naming it, or
    (``opaque``) only as a rejection, the first once ``quota`` calls had left; or the client's
    own count said so."""
    if not opaque:
        return min(warnings.times("quota"), default=None)
    if len(journal.calls) < quota:
        return None
    after = journal.calls[quota - 1][0]
    return min((t for t in warnings.times("rate limited", "quota") if t > after), default=None)


async def plans(bench: Any) -> dict[str, Any]:
    """Scenario 7: every plan, five client set-ups, and the spent quota."""
    scale: float = bench.plan_scale
    seconds = bench.plan_windows * 5 / scale
    out: dict[str, Any] = {
        "scale": scale,
        "seconds_per_run": seconds,
        "operation": "upsert",
        "rows_per_call": ROWS_PER_CALL,
        "linger_ms": LINGER * 1000,
        "plans": {},
    }
    names = list(bench.plan_names)
    step = max(1, bench.plan_parallel)
    for i in range(0, len(names), step):
        group = names[i : i + step]
        with contextlib.ExitStack() as stack:
            # Every server of the group is up before any run starts: starting one blocks.
            urls = [_serve(stack, n, scale) for n in group]
            runs = (_plan(n, url, scale, seconds) for n, url in zip(group, urls, strict=True))
            done = await asyncio.gather(*runs)
        out["plans"].update(zip(group, done, strict=True))
    out["spent_quota"] = {
        variant: await _spent_quota(variant, bench.quota_scale, bench.quota_calls)
        for variant in bench.quota_variants
    }
    return out


# -- reporting ---------------------------------------------------------------------------------


def _f(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def table(results: dict[str, Any]) -> str:
    """One line per plan and client set-up, then one per spent-quota variant (for the docs).

    Rows are counted per window of the plan (its 5 s, whatever the scale); latencies are those
    of the scaled run (a wait for a grant is ``scale`` times longer at the real limits, the
    round trip is not).
    """
    window = 5 / results["scale"]  # the plans' periods, scaled
    lines = [
        "| plan | client | rows per window after learning (ceiling) | fraction of ceiling: "
        "after learning / whole run | sign-ups alone | sign-up p50 / p99 ms (target) | "
        "429s general / bulk | calls per row |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, plan in results["plans"].items():
        for config in CONFIGS:
            r = plan[config]
            s = r["signup"]
            rej = r["rejected"]
            per_window = None if r["rows_per_s"] is None else r["rows_per_s"] * window
            crashed = " (a lane died)" if r.get("lane_crashed") else ""
            lines.append(
                f"| {name} | {config}{crashed} | {_f(per_window, '.1f')} "
                f"({r['ceiling_rows_per_s'] * window:.1f}) | {_f(r['fraction_of_ceiling'])} / "
                f"{_f(r['whole_run_fraction'])} | {s['alone']}/{s['count']} | "
                f"{_f(s['p50_ms'], '.0f')} / {_f(s['p99_ms'], '.0f')} "
                f"({s['target_p99_ms']:.0f}) | {rej.get('general', 0)} / {rej.get('bulk', 0)} | "
                f"{_f(r['calls_per_row'])} |"
            )
    quota = results.get("spent_quota")
    if quota:
        lines += [
            "",
            "| spent quota (pro-b, scaled) | client told the quota | the service's words | "
            "s until every waiting row is answered (<= 1) | calls in the next scaled minute "
            "(<= 3) | 429s quota / general / bulk | a lane died |",
            "|---|---|---|---|---|---|---|",
        ]
        for variant, q in quota.items():
            rej = q["rejected"]
            answered = q.get("all_answered_after_s")
            lines.append(
                f"| {variant} (spill {q['spill']}) | {'yes' if q['client_told_quota'] else 'no'} "
                f"| {q['quota_message']} | "
                f"{_f(answered) if answered is not None else 'not within the minute'} | "
                f"{q.get('calls_in_next_minute', '-')} | {rej.get('quota', 0)} / "
                f"{rej.get('general', 0)} / {rej.get('bulk', 0)} | "
                f"{'yes' if q['lane_crashed'] else 'no'} |"
            )
    return "\n".join(lines)


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, measured, target) lines for the benchmark table."""
    out: list[tuple[str, str, str]] = []
    for name, plan in results["plans"].items():
        for config in CONFIGS:
            r = plan[config]
            s = r["signup"]
            rej = r["rejected"]
            told = CONFIGS[config][1]
            if config == "none_general":
                target = "-"
            else:
                budget = "0 / 0" if told else "0 / <= 1"
                target = f">= 0.9; p99 <= {s['target_p99_ms']:.0f}; {budget}"
            out.append(
                (
                    f"plan {name} {config}: fraction; sign-up p50 / p99 ms; "
                    "429s general / bulk; calls per row",
                    f"{_f(r['fraction_of_ceiling'])}; {_f(s['p50_ms'], '.0f')} / "
                    f"{_f(s['p99_ms'], '.0f')}; {rej.get('general', 0)} / "
                    f"{rej.get('bulk', 0)}; {_f(r['calls_per_row'])}",
                    target,
                )
            )
    for variant, q in results.get("spent_quota", {}).items():
        out.append(
            (
                f"spent quota ({variant}): s until every waiting row is answered; "
                f"calls in the next {q['minute_s']:g} s (a scaled minute)",
                f"{_f(q.get('all_answered_after_s'))}; {q.get('calls_in_next_minute', '-')}",
                "<= 1; <= 3",
            )
        )
    return out


def plot(results: dict[str, Any], path: Path) -> bool:
    """Fraction of the true ceiling after learning, per plan and client set-up."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(results["plans"])
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(CONFIGS)
    for k, config in enumerate(CONFIGS):
        values = [results["plans"][n][config]["fraction_of_ceiling"] or 0.0 for n in names]
        offsets = [i + (k - (len(CONFIGS) - 1) / 2) * width for i in range(len(names))]
        ax.bar(offsets, values, width, label=config.replace("_", " "))
    ax.axhline(0.9, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("fraction of the true ceiling")
    ax.set_title(f"Plans at scale {results['scale']:g}: rows/s after learning")
    ax.set_ylim(0, 1.1)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
