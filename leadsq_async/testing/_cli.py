"""``python -m leadsq_async.testing``: serve the fake until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TextIO

from ._app import FakeLeadSquared
from ._budgets import Limit
from ._endpoints import DEMO_ACCESS_KEY, DEMO_SECRET_KEY
from ._faults import FaultPlan

__all__ = ["add_arguments", "build_fake", "main", "run_from_args"]


def _rate(text: str) -> Limit | None:
    if text.strip().lower() in ("none", "off", "0"):
        return None
    try:
        return Limit.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text!r}")
    return value


def _latency(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(",")
    try:
        low = float(lo)
        high = float(hi) if sep else low
    except ValueError:
        raise argparse.ArgumentTypeError(f"latency must look like MIN,MAX, got {text!r}") from None
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError(f"latency needs 0 <= MIN <= MAX, got {text!r}")
    return (low, high)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the fake server's options to ``parser`` (for reuse by another CLI)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port (0: a free port)")
    parser.add_argument("--access-key", default=DEMO_ACCESS_KEY, help="access key to accept")
    parser.add_argument(
        "--secret-key", default=DEMO_SECRET_KEY, help="secret key to accept (never printed)"
    )
    parser.add_argument(
        "--rate", type=_rate, default=Limit(25, 5.0), help="CALLS/SECONDS, or 'none'"
    )
    parser.add_argument("--bulk-rate", type=_rate, default=None, help="bulk CALLS/SECONDS")
    parser.add_argument(
        "--rate-limit-as-200", action="store_true", help="answer rate-limit rejections as HTTP 200"
    )
    parser.add_argument("--retry-after", type=float, default=None, help="Retry-After seconds")
    parser.add_argument("--row-error-style", choices=("exception", "message"), default="exception")
    parser.add_argument("--seed", type=int, default=0, help="seed for lead ids and faults")
    parser.add_argument("--latency", type=_latency, default=(0.0, 0.0), help="MIN,MAX seconds")
    for name in (
        "system-error",
        "drop-before",
        "drop-after",
        "rate-limited",
        "rate-limited-as-200",
        "omit-rows",
        "change-case",
    ):
        parser.add_argument(f"--{name}", type=_probability, default=0.0, metavar="P")
    return parser


def build_fake(args: argparse.Namespace) -> FakeLeadSquared:
    """The ``FakeLeadSquared`` the parsed arguments describe."""
    plan = FaultPlan(
        latency=args.latency,
        system_error=args.system_error,
        drop_before=args.drop_before,
        drop_after=args.drop_after,
        rate_limited=args.rate_limited,
        rate_limited_as_200=args.rate_limited_as_200,
        omit_rows=args.omit_rows,
        change_case=args.change_case,
    )
    return FakeLeadSquared(
        args.access_key,
        args.secret_key,
        rate_limit=args.rate,
        bulk_rate_limit=args.bulk_rate,
        rate_limit_as_200=args.rate_limit_as_200,
        retry_after=args.retry_after,
        row_error_style=args.row_error_style,
        faults=None if plan == FaultPlan() else plan,
        seed=args.seed,
    )


async def _serve_until_signalled(fake: FakeLeadSquared, host: str, port: int, out: TextIO) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows / threads
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        async with fake.serve(host, port) as url:
            print(url, file=out, flush=True)
            await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def run_from_args(args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Serve the fake the arguments describe until SIGINT/SIGTERM; return the exit code."""
    fake = build_fake(args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_signalled(fake, args.host, args.port, out or sys.stdout))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m leadsq_async.testing``."""
    parser = argparse.ArgumentParser(
        prog="python -m leadsq_async.testing",
        description="Serve a fake LeadSquared lead API for tests and benchmarks.",
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
