"""``python -m leadsq_async.testing``: serve the fake until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import math
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from ._app import FakeLeadSquared
from ._budgets import QUOTA_MESSAGES, Limit
from ._endpoints import DEMO_ACCESS_KEY, DEMO_SECRET_KEY
from ._faults import FaultPlan
from ._plans import DAY, PLANS
from ._schema import LeadSchema

__all__ = ["add_arguments", "bind_error", "build_fake", "main", "run_from_args"]


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
        if not sep:
            raise ValueError
        low, high = float(lo), float(hi)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"latency must be MIN,MAX seconds (e.g. 0.05,0.2; 1,1 for exactly 1 s), got {text!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
        raise argparse.ArgumentTypeError(f"latency needs 0 <= MIN <= MAX, got {text!r}")
    return (low, high)


class _Deprecated(argparse.Action):
    """``--host``: the old name of ``--listen``; still works, with a warning."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print("warning: --host is deprecated here; use --listen", file=sys.stderr)
        setattr(namespace, self.dest, values)


#: What each fault option does, for its help.
_FAULTS = {
    "system-error": "answer a system error (HTTP 500 JSON, or 502/503 HTML) and change nothing",
    "drop-before": "drop the connection before processing (nothing is applied)",
    "drop-after": "apply the change, then drop the connection (the client cannot know)",
    "rate-limited": "reject the call as rate-limited whatever the window holds",
    "rate-limited-as-200": "the share of the --rate-limited rejections answered as HTTP 200",
    "omit-rows": "leave one row out of a successful bulk answer (the change is applied)",
    "change-case": "echo identifiers in another letter case (or padded)",
}


def add_arguments(
    parser: argparse.ArgumentParser,
    *,
    rate_type: Callable[[str], Limit | None] | None = None,
) -> argparse.ArgumentParser:
    """Add the fake server's options to ``parser`` (for reuse by another CLI).

    ``rate_type`` reads ``--rate`` and ``--bulk-rate`` (default: ``CALLS/SECONDS`` or
    ``none``); a command line with a grammar of its own passes its parser here.
    """
    rate = rate_type or _rate
    parser.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="interface to listen on (default 127.0.0.1; 0.0.0.0 for every interface)",
    )
    parser.add_argument("--host", dest="listen", action=_Deprecated, help=argparse.SUPPRESS)
    parser.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default 8080; 0: a free port)"
    )
    parser.add_argument(
        "--access-key",
        default=DEMO_ACCESS_KEY,
        metavar="KEY",
        help="access key to accept (default: the public demo key)",
    )
    parser.add_argument(
        "--secret-key",
        default=DEMO_SECRET_KEY,
        metavar="KEY",
        help="secret key to accept (default: the public demo key; never printed)",
    )
    parser.add_argument(
        "--rate",
        type=rate,
        action=_Given,
        default=Limit(25, 5.0),
        metavar="CALLS/SECONDS",
        help="the general budget, every call counts (default 25/5; none: unlimited)",
    )
    parser.add_argument(
        "--bulk-rate",
        type=rate,
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
        help="a spent quota's rejection names its numbers (window, the default) or names none "
        "(opaque)",
    )
    parser.add_argument(
        "--plan",
        choices=sorted(PLANS),
        help="the budgets of a published plan (-a/-b: the two versions of LeadSquared's "
        "rate-limit page); --rate, --bulk-rate, --daily-quota override its values "
        "(default: no plan)",
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
        help="divide every budget's period by FACTOR (5: 1 s stands for 5 s); call counts "
        "stay (default 1)",
    )
    parser.add_argument(
        "--rate-limit-as-200",
        action="store_true",
        help="answer rate-limit rejections as HTTP 200 with an error body (default: HTTP 429)",
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
        help="failed bulk rows name their error as ExceptionType/ExceptionMessage (default) "
        "or ErrorMessage",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed for lead ids and fault draws (default 0)"
    )
    parser.add_argument(
        "--fields",
        type=_schema,
        default=None,
        metavar="FILE",
        help="the account's lead fields (JSON list, LeadsMetaData.Get answer, or one name a "
        "line); writes naming any other attribute, or a value its field refuses, are refused "
        "(default: any is stored, and LeadsMetaData.Get answers 404: no field list)",
    )
    parser.add_argument(
        "--bad-value-refuses",
        choices=("row", "call"),
        default="row",
        help="with --fields, a value its field refuses fails its row alone (row, the default) "
        "or the whole bulk call (call)",
    )
    parser.add_argument(
        "--modified-page-limit",
        type=int,
        default=5000,
        metavar="N",
        help="the largest page Leads.RecentlyModified and Leads.Get answer (default 5000)",
    )
    parser.add_argument(
        "--modified-to-exclusive",
        action="store_true",
        help="Leads.RecentlyModified's ToDate leaves out its own second (default: includes it)",
    )
    parser.add_argument(
        "--latency",
        type=_latency,
        default=(0.0, 0.0),
        metavar="MIN,MAX",
        help="seconds waited before each lead call is answered, drawn between MIN and MAX "
        "(default 0,0; one number is refused: write 1,1 for exactly 1 s)",
    )
    for name, what in _FAULTS.items():
        parser.add_argument(
            f"--{name}",
            type=_probability,
            default=0.0,
            metavar="P",
            help=f"{what}: {'a share' if name.endswith('200') else 'probability per lead call'}"
            ", 0 to 1 (default 0)",
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
        "bad_value_refuses": getattr(args, "bad_value_refuses", "row"),
        "modified_page_limit": getattr(args, "modified_page_limit", 5000),
        "modified_to_inclusive": not getattr(args, "modified_to_exclusive", False),
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
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve_until_signalled(fake, args.listen, args.port, out or sys.stdout))
    except OSError as exc:
        print(f"error: {bind_error(exc, args.listen, args.port)}", file=sys.stderr)
        return 2
    return 0


def bind_error(exc: OSError, host: str, port: int) -> str:
    """What went wrong listening on ``host:port``, naming the port."""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use on {host}; pick another with --port (0: a free one)"
    if exc.errno == errno.EACCES:
        return f"no permission to listen on port {port} (below 1024?); pick another with --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: not an address of this machine (--listen)"
    return f"cannot listen on {host} port {port}: {exc.strerror or exc}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m leadsq_async.testing``."""
    parser = argparse.ArgumentParser(
        prog="python -m leadsq_async.testing",
        description="Serve a fake LeadSquared lead API for tests and benchmarks.",
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
