"""One worker process for the shared-limit tests: push creates at a fake LeadSquared, report.

``python tests/redis_worker.py URL --index N [--skew S] [...]`` opens its HTTP connections,
prints ``ready``, then for every line ``run LIMITER START END [NAME=VALUE ...]`` on stdin
(LIMITER ``redis`` or ``local``; START and END monotonic seconds of the machine's clock) builds a
fresh ``LeadSquaredClient``, submits creates with distinct emails from START until END, closes it
and prints one JSON line with what it saw. The NAME=VALUE pairs override the command line's
``--rate``, ``--bulk-rate``, ``--daily-quota``, ``--reserve`` and ``--margin`` for that run
(``none`` for no value). It exits at the end of stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import sys
import time

_real_monotonic = time.monotonic


def _skew(seconds: float) -> None:
    """Offset this process's clocks by ``seconds``, before anything reads them."""
    real_time, real_monotonic = time.time, time.monotonic
    time.time = lambda: real_time() + seconds
    time.monotonic = lambda: real_monotonic() + seconds


async def _one_run(
    args: argparse.Namespace, http: object, limiter_kind: str, start_at: float, end_at: float
) -> dict[str, object]:
    """One client with a Redis or an in-process limiter, pushing creates from start to end."""
    import httpx2

    import leadsq_async as lsq
    from leadsq_async._budgets.redis import RedisLimiter
    from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY

    assert isinstance(http, httpx2.AsyncClient)
    rate = lsq.RateLimit.parse(args.rate)
    bulk_rate = lsq.RateLimit.parse(args.bulk_rate) if args.bulk_rate else None
    limiter: lsq.Limiter
    redis_limiter: RedisLimiter | None = None
    if limiter_kind == "redis":
        redis_limiter = RedisLimiter(
            args.redis_url,
            DEMO_ACCESS_KEY,
            rate,
            bulk_rate=bulk_rate,
            daily_quota=args.daily_quota,
            quota_reserve=args.reserve,
            prefix=args.prefix,
            burst=args.burst,
            margin=args.margin,
        )
        limiter = redis_limiter
        bulk_rate = None  # the RedisLimiter holds it
    else:
        limiter = lsq.TokenBucketLimiter(rate)
    client = lsq.LeadSquaredClient(
        DEMO_ACCESS_KEY,
        DEMO_SECRET_KEY,
        base_url=args.url,
        http_client=http,
        limiter=limiter,
        bulk_rate_limit=bulk_rate,
        daily_quota=None if redis_limiter is not None else args.daily_quota,
        linger=0.005,
        max_pending=250,
        backoff=0.05,
        backoff_max=0.5,
    )
    counts: dict[str, int] = {"submitted": 0, "ok": 0}

    def done(future: asyncio.Future[object]) -> None:
        if future.cancelled():
            name = "cancelled"
        elif future.exception() is not None:
            name = type(future.exception()).__name__
        else:
            name = "ok"
        counts[name] = counts.get(name, 0) + 1

    async with client:
        while (delay := start_at - _real_monotonic()) > 0:
            await asyncio.sleep(delay)
        n = 0
        while _real_monotonic() < end_at:
            n += 1
            email = f"w{args.index}-{limiter_kind}-{n}@example.com"
            counts["submitted"] += 1
            try:
                future = await asyncio.wait_for(
                    client.submit(lsq.CreateLead({"EmailAddress": email, "FirstName": "W"})),
                    timeout=max(0.001, end_at - _real_monotonic()),
                )
            except TimeoutError:
                counts["submitted"] -= 1
                break
            except lsq.LeadSquaredError as error:  # refused at once (a spent quota)
                name = type(error).__name__
                counts[name] = counts.get(name, 0) + 1
                await asyncio.sleep(0.005)
                continue
            future.add_done_callback(done)
        report = await client.aclose(timeout=0.5)
        stats = client.stats()
    if redis_limiter is not None:
        await redis_limiter.aclose()
    return {
        "index": args.index,
        "limiter": limiter_kind,
        "counts": counts,
        "client_rate_limited": stats.rate_limited,
        "abandoned": report.abandoned,
        "calls": {name: e.calls for name, e in stats.endpoints.items()},
        "rate_limit": str(stats.rate_limit),
        "bulk_rate_limit": None if stats.bulk_rate_limit is None else str(stats.bulk_rate_limit),
        "quota_used": stats.quota_used,
        "quota_left": stats.quota_left,
    }


def _with_options(args: argparse.Namespace, pairs: list[str]) -> argparse.Namespace:
    """``args`` with the run's NAME=VALUE overrides (``none``: no value)."""
    run = argparse.Namespace(**vars(args))
    for pair in pairs:
        name, _, value = pair.partition("=")
        name = name.replace("-", "_")
        current = getattr(args, name)
        kind = float if isinstance(current, float) else int if name == "daily_quota" else str
        setattr(run, name, None if value == "none" else kind(value))
    return run


async def _watchdog(deadline: float) -> None:
    """Print every task's stack if the run is still going at ``deadline``."""
    await asyncio.sleep(max(0.0, deadline - _real_monotonic()))
    print("worker run stuck; tasks:", file=sys.stderr)
    for task in asyncio.all_tasks():
        task.print_stack(file=sys.stderr)


async def _serve(args: argparse.Namespace) -> None:
    """Import, warm the connections, say ready, then run every command read from stdin."""
    import httpx2

    import leadsq_async._budgets.redis  # noqa: F401  (imported now, not during the first run)
    from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY

    admin = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}
    loop = asyncio.get_running_loop()
    async with httpx2.AsyncClient() as http:
        # Open the connections a long-running worker would already hold, so that TCP set-up
        # at the start does not delay some calls past the limiter's margin.
        await asyncio.gather(
            *(http.get(f"{args.url}/_fake/summary", headers=admin) for _ in range(8))
        )
        print("ready", flush=True)
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            _, kind, start, end, *pairs = line.split()
            # A worker that hangs dumps its stacks and exits instead of stalling the test.
            faulthandler.dump_traceback_later(float(end) - _real_monotonic() + 20, exit=True)
            watchdog = asyncio.create_task(_watchdog(float(end) + 10))
            run = _with_options(args, pairs)
            report = await _one_run(run, http, kind, float(start), float(end))
            watchdog.cancel()
            faulthandler.cancel_dump_traceback_later()
            print(json.dumps(report), flush=True)


def main() -> None:
    """Parse the arguments, apply the clock skew, serve the commands."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--prefix", default="leadsq-test")
    parser.add_argument("--rate", default="25/1")
    parser.add_argument("--bulk-rate", default=None)
    parser.add_argument("--daily-quota", type=int, default=None)
    parser.add_argument("--reserve", type=float, default=0.0)
    parser.add_argument("--margin", type=float, default=0.02)
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--skew", type=float, default=0.0)
    args = parser.parse_args()
    if args.skew:
        _skew(args.skew)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
