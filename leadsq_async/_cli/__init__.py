"""The ``leadsq-async`` command line: ``import``, ``demo`` and ``fake-server``.

Exit codes: 0 every row ok, 1 some row not ok, 2 usage error (bad arguments or files),
3 credentials missing or refused, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from .. import DEFAULT_HOST, RateLimit
from ._importer import ConfigError, ImportConfig, UsageError, run
from ._source import OPS, detect_format

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_NOT_OK, EXIT_USAGE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

_MAIN_EPILOG = """\
examples:
  leadsq-async demo                      # no account needed: a local fake LeadSquared
  export LSQ_ACCESS_KEY=u$r... LSQ_SECRET_KEY=... LSQ_HOST=api-in21.leadsquared.com
  leadsq-async import leads.csv --op create --results results.jsonl
  leadsq-async import leads.csv --op create --results results.jsonl --resume

exit codes: 0 every row ok, 1 some row not ok, 2 usage error, 3 credentials missing or
refused, 130 interrupted (Ctrl-C)
"""

_IMPORT_EPILOG = """\
examples:
  export LSQ_ACCESS_KEY=u$r... LSQ_SECRET_KEY=...   # the secret from the environment
  leadsq-async import leads.csv --op create --results results.jsonl
  leadsq-async import leads.jsonl --op upsert --search-by Phone --results out.jsonl
  leadsq-async import changes.csv --op update --search-by EmailAddress --results out.jsonl
  leadsq-async import leads.csv --op create --results results.jsonl --resume

input: CSV with a header row of schema names (empty cells are not sent), or JSON Lines with
one object per lead. A column mx_KYC.Status (or a JSON object under "mx_KYC") becomes the
custom field set mx_KYC.

results: one JSON line per input row, written as it finishes:
  {"line": 2, "status": "ok", "lead_id": "...", "error_type": null, "reason": null}
status is ok, rejected (the service or the client refused the row, or it did not parse),
not_found (update of a missing lead), unknown_outcome (the row may or may not have been
applied) or error (not applied: rate limit, network, service errors). --resume skips rows
with a final line; `error` rows are sent again, unknown_outcome rows only with
--retry-unknown.
"""

_DEMO_EPILOG = """\
examples:
  leadsq-async demo                # 2,000 leads at the real limit (25 calls / 5 s), ~9 s
  leadsq-async demo --rows 200
"""

_FAKE_EPILOG = """\
examples:
  leadsq-async fake-server --port 8080
  leadsq-async fake-server --port 0 --rate 25/0.25 --system-error 0.05 --drop-after 0.01
  leadsq-async fake-server --port 0 --plan pro-b --scale 5 --rate-limit-as-200
"""


def _rate(text: str) -> RateLimit:
    try:
        return RateLimit.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _version() -> str:
    from .. import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``leadsq-async``."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="leadsq-async",
        description="Bulk-import leads into LeadSquared under the account's rate limit, "
        "or try it against a local fake.",
        epilog=_MAIN_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"leadsq-async {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    imp = commands.add_parser(
        "import",
        help="import a CSV or JSON Lines file of leads",
        description="Import leads from a CSV or JSON Lines file, one results line per row.",
        epilog=_IMPORT_EPILOG,
        formatter_class=formatter,
    )
    imp.add_argument("file", type=Path, metavar="FILE", help="CSV or JSON Lines file")
    imp.add_argument("--op", choices=OPS, required=True, help="what to do with each row")
    imp.add_argument(
        "--search-by",
        metavar="ATTR",
        help="attribute that finds the lead (upsert: the service's default; update: EmailAddress)",
    )
    imp.add_argument(
        "--results", type=Path, required=True, metavar="PATH", help="results JSON Lines file"
    )
    imp.add_argument("--resume", action="store_true", help="skip rows already answered")
    imp.add_argument(
        "--retry-unknown",
        action="store_true",
        help="with --resume, also resend rows whose outcome was unknown (may duplicate)",
    )
    imp.add_argument("--overwrite", action="store_true", help="replace an existing results file")
    imp.add_argument(
        "--format", choices=("csv", "jsonl"), help="input format (default: from the suffix)"
    )
    imp.add_argument(
        "--rate",
        type=_rate,
        default=RateLimit(),
        metavar="CALLS/SECONDS",
        help="the account's rate limit (default 25/5)",
    )
    imp.add_argument("--host", help=f"API host (env LSQ_HOST, default {DEFAULT_HOST})")
    imp.add_argument("--base-url", help="full base URL instead of --host (env LSQ_BASE_URL)")
    imp.add_argument("--access-key", help="access key (env LSQ_ACCESS_KEY)")
    imp.add_argument(
        "--secret-key",
        help="secret key; prefer env LSQ_SECRET_KEY (a flag shows in the process list)",
    )
    imp.add_argument(
        "--max-pending",
        type=_positive_int,
        metavar="N",
        help="rows queued at most (default: 10 calls' worth)",
    )
    imp.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on Ctrl-C, how long to wait for calls in flight (default 30)",
    )
    imp.add_argument("--plain", action="store_true", help="plain progress lines, even on a tty")
    imp.add_argument(
        "--redis-url",
        help="share the rate limit with other processes through this Redis "
        "(env LSQ_REDIS_URL; needs the redis extra)",
    )
    imp.set_defaults(handler=_cmd_import)

    demo = commands.add_parser(
        "demo",
        help="import generated leads into a local fake LeadSquared (no account needed)",
        description="Serve the fake LeadSquared on loopback, generate realistic leads "
        "(a few duplicates and bad rows included) and import them like `import` does.",
        epilog=_DEMO_EPILOG,
        formatter_class=formatter,
    )
    demo.add_argument("--rows", type=_positive_int, default=2000, help="leads to generate")
    demo.add_argument(
        "--rate",
        type=_rate,
        default=RateLimit(),
        metavar="CALLS/SECONDS",
        help="the fake's limit (default 25/5, LeadSquared's default)",
    )
    demo.add_argument("--results", type=Path, metavar="PATH", help="keep the results file here")
    demo.add_argument("--plain", action="store_true", help="plain progress lines, even on a tty")
    demo.set_defaults(handler=_cmd_demo)

    fake = commands.add_parser(
        "fake-server",
        help="serve the fake LeadSquared standalone",
        description="Serve the fake LeadSquared lead API until Ctrl-C; prints its URL and keys.",
        epilog=_FAKE_EPILOG,
        formatter_class=formatter,
    )
    try:
        from ..testing import add_arguments
    except ImportError:  # the fake extra is not installed
        fake.set_defaults(handler=_cmd_missing_fake)
    else:
        add_arguments(fake)
        fake.set_defaults(handler=_cmd_fake)
    return parser


def _die(message: str, code: int) -> int:
    print(f"leadsq-async: error: {message}", file=sys.stderr, flush=True)
    return code


def _import_config(args: argparse.Namespace) -> ImportConfig:
    access = args.access_key or os.environ.get("LSQ_ACCESS_KEY", "")
    secret = args.secret_key or os.environ.get("LSQ_SECRET_KEY", "")
    if not access.strip():
        raise ConfigError("no access key: set LSQ_ACCESS_KEY (or pass --access-key)")
    if not secret.strip():
        raise ConfigError("no secret key: set LSQ_SECRET_KEY")
    base_url = args.base_url or os.environ.get("LSQ_BASE_URL")
    host = args.host or os.environ.get("LSQ_HOST")
    if args.base_url and args.host:
        raise UsageError("give --host or --base-url, not both")
    if not base_url:
        base_url = f"https://{host or DEFAULT_HOST}"
    if not base_url.startswith(("https://", "http://")):
        raise ConfigError(f"the base URL must start with https://, got {base_url!r}")
    if args.retry_unknown and not args.resume:
        raise UsageError("--retry-unknown goes with --resume")
    return ImportConfig(
        path=args.file,
        fmt=detect_format(args.file, args.format),
        op=args.op,
        search_by=args.search_by,
        results=args.results,
        access_key=access,
        secret_key=secret,
        base_url=base_url,
        rate=args.rate,
        resume=args.resume,
        retry_unknown=args.retry_unknown,
        overwrite=args.overwrite,
        max_pending=args.max_pending,
        grace=args.grace,
        plain=args.plain,
        redis_url=args.redis_url or os.environ.get("LSQ_REDIS_URL") or None,
    )


def _cmd_import(args: argparse.Namespace) -> int:
    config = _import_config(args)
    report = asyncio.run(run(config))
    if report.auth_failed:
        return _die(
            "the service refused the access key or secret key (HTTP 401); "
            "check LSQ_ACCESS_KEY and LSQ_SECRET_KEY",
            EXIT_CONFIG,
        )
    return report.exit_code


def _serving_missing() -> bool:
    """True when uvicorn, which serves the fake for ``demo`` and ``fake-server``, is absent."""
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        return True
    return False


def _cmd_demo(args: argparse.Namespace) -> int:
    if _serving_missing():
        return _cmd_missing_fake(args)
    from ._demo import run_demo

    return run_demo(args)


def _cmd_fake(args: argparse.Namespace) -> int:
    if _serving_missing():
        return _cmd_missing_fake(args)
    from ._demo import run_fake_server

    return run_fake_server(args)


def _cmd_missing_fake(args: argparse.Namespace) -> int:
    return _die(
        f"`{args.command}` serves a local fake LeadSquared and needs uvicorn: "
        "pip install 'leadsq-async[cli]'",
        EXIT_USAGE,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``leadsq-async`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except UsageError as exc:
        return _die(str(exc), EXIT_USAGE)
    except ConfigError as exc:
        return _die(str(exc), EXIT_CONFIG)
    except KeyboardInterrupt:
        print("leadsq-async: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        return _die(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "), EXIT_USAGE)
    return code
