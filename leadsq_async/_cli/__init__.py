"""The ``leadsq-async`` command: ``import``, ``consume``, ``export``, ``demo``, ``fake-server``.

Exit codes: 0 every row ok, 1 some row not ok, 2 usage error (bad arguments, or a problem of
the whole input file: nothing was sent), 3 credentials missing or refused, or the service
cannot be used where it is called (a wrong host or base URL, no such API there, unreachable),
4 the daily quota is spent, 130 interrupted by Ctrl-C (resumable; the ``--resume`` command is
printed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
from typing import Any

from .. import (
    AuthenticationError,
    EndpointNotFoundError,
    ServiceUnavailableError,
    Settings,
    ValidationError,
)
from ._consume import DEFAULT_AMQP_URL, BrokerLost, ConsumeConfig
from ._consume import run as consume
from ._explain import refused_keys, unusable_service
from ._importer import ImportConfig, run
from ._options import ConfigError, UsageError, env_rate, env_schema
from ._parser import build_parser as _build_parser
from ._source import default_results, detect_format

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_NOT_OK, EXIT_USAGE, EXIT_CONFIG, EXIT_QUOTA, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``leadsq-async``."""
    return _build_parser(
        {
            "import": _cmd_import,
            "consume": _cmd_consume,
            "export": _cmd_export,
            "demo": _cmd_demo,
            "fake-server": _cmd_fake,
            "missing-fake": _cmd_missing_fake,
        }
    )


def _die(message: str, code: int) -> int:
    print(f"leadsq-async: error: {message}", file=sys.stderr, flush=True)
    return code


def _import_config(args: argparse.Namespace) -> ImportConfig:
    if args.retry_unknown and not args.resume:
        raise UsageError("--retry-unknown goes with --resume")
    if args.op == "activity" and args.search_by:
        raise UsageError(
            "--search-by does not apply to --op activity: each row names its lead by a "
            "ProspectID, EmailAddress or Phone column"
        )
    if args.event is not None and args.op != "activity":
        raise UsageError("--event goes with --op activity")
    if args.base_url and args.host:
        raise UsageError("give --host or --base-url, not both")
    return ImportConfig(
        path=args.file,
        fmt=detect_format(args.file, args.format),
        op=args.op,
        search_by=args.search_by,
        results=args.results or default_results(args.file),
        **_account(args, keys_required=not args.dry_run),
        resume=args.resume,
        retry_unknown=args.retry_unknown,
        overwrite=args.overwrite,
        max_pending=args.max_pending,
        grace=args.grace,
        plain=args.plain,
        encoding=args.encoding,
        delimiter=args.delimiter,
        strip=not args.keep_whitespace,
        event=args.event,
        resume_command=_resume_command(getattr(args, "argv", None)),
    )


def _names(token: str, option: str, shortest: int) -> bool:
    """Whether ``token`` names ``option`` (argparse takes unambiguous prefixes of it)."""
    return len(token) >= shortest and option.startswith(token)


def _resume_command(argv: list[str] | None) -> str | None:
    """The command line that continues this import: the same options plus ``--resume``.

    The secret key is left out (it must never be printed; the variable gives it) and so is
    ``--overwrite`` (the resume continues the results file).
    """
    if argv is None:
        return None
    words = ["leadsq-async"]
    tokens = iter(argv)
    for token in tokens:
        name, eq, _ = token.partition("=")
        if _names(name, "--secret-key", len("--sec")):
            if not eq:
                next(tokens, None)
            continue
        if not eq and _names(name, "--overwrite", len("--ov")):
            continue
        words.append(token)
    if "--resume" not in words:
        words.append("--resume")
    return shlex.join(words)


def _account(args: argparse.Namespace, *, keys_required: bool = True) -> dict[str, Any]:
    """The account's fields (``_options.AccountFields``) of a command that writes, from its
    options or ``LSQ_*``: one reading for ``import`` and ``consume``."""
    access, secret = _keys(args, required=keys_required)
    return {
        "access_key": access,
        "secret_key": secret,
        "base_url": _base_url(args),
        "rate": env_rate(args.rate, "LSQ_RATE").limit,
        "bulk_rate": env_rate(args.bulk_rate, "LSQ_BULK_RATE").limit if _bulk_given(args) else None,
        "daily_quota": args.daily_quota or _env_int("LSQ_DAILY_QUOTA"),
        "spill": args.spill,
        "redis_url": args.redis_url or os.environ.get("LSQ_REDIS_URL") or None,
        "redis_prefix": args.redis_prefix or os.environ.get("LSQ_REDIS_PREFIX") or "leadsq",
        "schema": env_schema(args.schema, args.no_schema),
    }


def _keys(args: argparse.Namespace, *, required: bool = True) -> tuple[str, str]:
    """The access and secret keys, from the options or ``LSQ_*``; missing ones refused."""
    access = args.access_key or os.environ.get("LSQ_ACCESS_KEY", "")
    secret = args.secret_key or os.environ.get("LSQ_SECRET_KEY", "")
    if required:
        if not access.strip():
            raise ConfigError("no access key: set LSQ_ACCESS_KEY (or pass --access-key)")
        if not secret.strip():
            raise ConfigError("no secret key: set LSQ_SECRET_KEY")
    return access, secret


def _base_url(args: argparse.Namespace) -> str:
    """The base URL the options or the environment name, checked as the client checks it."""
    if args.base_url:
        given, name, host = args.base_url, "--base-url", False
    elif args.host:
        given, name, host = args.host, "--host", True
    elif os.environ.get("LSQ_BASE_URL", "").strip():
        given, name, host = os.environ["LSQ_BASE_URL"], "LSQ_BASE_URL", False
    elif os.environ.get("LSQ_HOST", "").strip():
        given, name, host = os.environ["LSQ_HOST"], "LSQ_HOST", True
    else:
        return Settings.resolve_url()
    try:
        return Settings.resolve_url(host=given) if host else Settings.resolve_url(base_url=given)
    except ValidationError as error:
        raise ConfigError(f"{name}: {error.rule}") from None


def _cmd_import(args: argparse.Namespace) -> int:
    config = _import_config(args)
    if args.dry_run:
        from ._dryrun import dry_run

        return dry_run(config, out=sys.stdout)
    report = asyncio.run(run(config))
    if report.auth_failed is not None:
        keys = (config.access_key, config.secret_key, config.base_url)
        return _die(refused_keys(report.auth_failed, *keys), EXIT_CONFIG)
    if report.unusable is not None:
        return _die(unusable_service(report.unusable), EXIT_CONFIG)
    if report.quota_spent is not None:
        resets = report.quota_spent.resets_in
        when = f"in about {resets / 60:.0f} min" if resets else "at a time it did not say"
        return _die(
            f"the account's daily API quota is spent (it comes back {when}); nothing more was "
            "sent. Run the same command with --resume once it is back.",
            EXIT_QUOTA,
        )
    return report.exit_code


def _consume_config(args: argparse.Namespace) -> ConsumeConfig:
    if args.base_url and args.host:
        raise UsageError("give --host or --base-url, not both")
    if args.op == "activity" and args.search_by:
        raise UsageError("--search-by does not apply to --op activity")
    return ConsumeConfig(
        queue=args.queue,
        **_account(args),
        amqp_url=args.amqp_url or os.environ.get("LSQ_AMQP_URL") or DEFAULT_AMQP_URL,
        dead_letter_queue=args.dead_letter_queue,
        op=args.op,
        search_by=args.search_by,
        event=args.event,
        max_pending=args.max_pending,
        prefetch=args.prefetch,
        retry_delay=args.retry_delay,
        quota_pause=args.quota_pause,
        grace=args.grace,
    )


def _cmd_consume(args: argparse.Namespace) -> int:
    config = _consume_config(args)
    try:
        report = asyncio.run(consume(config))
    except BrokerLost as exc:
        return _die(str(exc), EXIT_CONFIG)
    if args.report is not None:
        args.report.write_text(json.dumps(report.as_dict()), encoding="utf-8")
    stopped = report.stopped_by
    if isinstance(stopped, AuthenticationError):
        keys = (config.access_key, config.secret_key, config.base_url)
        return _die(refused_keys(stopped, *keys), EXIT_CONFIG)
    if isinstance(stopped, (EndpointNotFoundError, ServiceUnavailableError)):
        return _die(unusable_service(stopped), EXIT_CONFIG)
    if stopped is not None:
        return _die(str(stopped), EXIT_CONFIG)
    return report.exit_code


def _cmd_export(args: argparse.Namespace) -> int:
    from ._export import ExportConfig, run_export

    if args.base_url and args.host:
        raise UsageError("give --host or --base-url, not both")
    if args.page_size > 5000:
        raise UsageError("--page-size: at most 5000 (the service's limit)")
    access, secret = _keys(args)
    columns = None
    if args.columns is not None:
        columns = tuple(c.strip() for c in args.columns.split(",") if c.strip())
        if not columns:
            raise UsageError("--columns: name at least one field")
    config = ExportConfig(
        to=args.to,
        since=args.since,
        until=args.until,
        columns=columns,
        resume=args.resume,
        overwrite=args.overwrite,
        access_key=access,
        secret_key=secret,
        base_url=_base_url(args),
        rate=env_rate(args.rate, "LSQ_RATE").limit,
        page_size=args.page_size,
        plain=args.plain,
    )
    try:
        return run_export(config)
    except ValidationError as error:
        raise UsageError(str(error)) from None


def _bulk_given(args: argparse.Namespace) -> bool:
    return args.bulk_rate is not None or bool(os.environ.get("LSQ_BULK_RATE", "").strip())


def _env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name} must be a whole number of calls, got {text!r}") from None
    if value < 1:
        raise UsageError(f"{name} must be at least 1, got {value}")
    return value


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
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the --resume command
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
