"""``python -m leadsq_async.testing``: serve the fake until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from ._app import FakeLeadSquared
from ._budgets import QUOTA_MESSAGES, Limit
from ._endpoints import DEMO_ACCESS_KEY, DEMO_SECRET_KEY
from ._faults import FaultPlan
from ._plans import DAY, PLANS
from ._schema import LeadSchema

__all__ = ["add_arguments", "build_fake", "main", "run_from_args"]


_LIMITS = ("rate", "bulk_rate", "daily_quota")
_GIVEN = "_fake_limits_given"


def _rate(text: str) -> Limit | None:
    if text.strip().lower() in ("none", "off", "0"):
        return None
    try:
        return Limit.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _quota(text: str) -> Limit | None:
    if text.strip().lower() in ("none", "off", "0"):
        return None
    try:
        return Limit.parse(text, default_period=DAY)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _schema(text: str) -> LeadSchema:
    try:
        return LeadSchema.load(text)
    except (OSError, ValueError) as exc:
        raise argparse.ArgumentTypeError(
            f"cannot read the lead fields in {text!r}: {exc}"
        ) from None


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def _users(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _Given(argparse.Action):
    """Store the value and note that it was given, so that it overrides ``--plan``'s."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        given: set[str] = getattr(namespace, _GIVEN, set())
        given.add(self.dest)
        setattr(namespace, _GIVEN, given)


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
        "--rate",
        type=_rate,
        action=_Given,
        default=Limit(25, 5.0),
        metavar="CALLS/SECONDS",
        help="the general budget, every call counts (default 25/5; 'none': unlimited)",
    )
    parser.add_argument(
        "--bulk-rate",
        type=_rate,
        action=_Given,
        default=None,
        metavar="CALLS/SECONDS",
        help="the bulk budget the four Lead/Bulk/* APIs must also pass, e.g. 1/5 (default none)",
    )
    parser.add_argument(
        "--bulk-in-general",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="whether a bulk call also takes a slot of the general budget (default: yes)",
    )
    parser.add_argument(
        "--daily-quota",
        type=_quota,
        action=_Given,
        default=None,
        metavar="CALLS[/SECONDS]",
        help="every accepted call counts against CALLS per SECONDS (default 86400) "
        "rolling; e.g. 10000 (default none)",
    )
    parser.add_argument(
        "--quota-message",
        choices=QUOTA_MESSAGES,
        default="window",
        help="a spent quota's rejection names its numbers (window) or names none (opaque)",
    )
    parser.add_argument(
        "--plan",
        choices=sorted(PLANS),
        help="the budgets of a published plan (-a/-b: the two versions of LeadSquared's "
        "rate-limit page); --rate, --bulk-rate, --daily-quota override its values",
    )
    parser.add_argument(
        "--users",
        type=_users,
        default=None,
        metavar="N",
        help="with --plan, the account's users: a version-B quota grows 1000 per user (default 1)",
    )
    parser.add_argument(
        "--scale",
        type=_scale,
        default=1.0,
        metavar="FACTOR",
        help="divide every budget's period by FACTOR (5: 1 s stands for 5 s); call counts stay",
    )
    parser.add_argument(
        "--rate-limit-as-200", action="store_true", help="answer rate-limit rejections as HTTP 200"
    )
    parser.add_argument(
        "--retry-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="send Retry-After on 429 answers (default: no header)",
    )
    parser.add_argument(
        "--row-error-style",
        choices=("exception", "message"),
        default="exception",
        help="failed bulk rows name their error as ExceptionType/ExceptionMessage or ErrorMessage",
    )
    parser.add_argument(
        "--fields",
        type=_schema,
        default=None,
        metavar="FILE",
        help="the account's lead fields (JSON list, LeadsMetaData.Get answer, or one name a "
        "line); writes naming any other attribute are refused (default: any is stored)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for lead ids and faults")
    parser.add_argument(
        "--latency",
        type=_latency,
        default=(0.0, 0.0),
        help="MIN,MAX seconds waited before each lead call is answered",
    )
    for name in (
        "system-error",
        "drop-before",
        "drop-after",
        "rate-limited",
        "rate-limited-as-200",
        "omit-rows",
        "change-case",
    ):
        what = name.replace("-", "_")
        help_text = (
            "share of the rate_limited faults answered as HTTP 200"
            if name == "rate-limited-as-200"
            else f"probability of the {what} fault per lead call (see FaultPlan)"
        )
        parser.add_argument(
            f"--{name}", type=_probability, default=0.0, metavar="P", help=help_text
        )
    return parser


def build_fake(args: argparse.Namespace) -> FakeLeadSquared:
    """The ``FakeLeadSquared`` the parsed arguments describe.

    Raises ``ValueError`` for ``--users`` without ``--plan``.
    """
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
    options: dict[str, Any] = {
        "access_key": args.access_key,
        "secret_key": args.secret_key,
        "bulk_counts_in_general": getattr(args, "bulk_in_general", True),
        "quota_message": getattr(args, "quota_message", "window"),
        "rate_limit_as_200": args.rate_limit_as_200,
        "retry_after": args.retry_after,
        "row_error_style": args.row_error_style,
        "faults": None if plan == FaultPlan() else plan,
        "seed": args.seed,
        "fields": getattr(args, "fields", None),
    }
    limits: dict[str, Limit | None] = {
        "rate_limit": args.rate,
        "bulk_rate_limit": args.bulk_rate,
        "daily_quota": getattr(args, "daily_quota", None),
    }
    scale: float = getattr(args, "scale", 1.0)
    users: int | None = getattr(args, "users", None)
    plan_name: str | None = getattr(args, "plan", None)
    if plan_name is not None:
        given: set[str] = getattr(args, _GIVEN, set())
        for dest, key in zip(_LIMITS, limits, strict=True):
            if dest in given:
                options[key] = limits[key]
        return FakeLeadSquared.from_plan(plan_name, users=users or 1, scale=scale, **options)
    if users is not None:
        raise ValueError("--users goes with --plan")
    for key, limit in limits.items():
        options[key] = None if limit is None else limit.scaled(scale)
    return FakeLeadSquared(**options)


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
    try:
        fake = build_fake(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        print(
            "error: serving the fake needs uvicorn: pip install 'leadsq-async[fake]'",
            file=sys.stderr,
        )
        return 2
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
