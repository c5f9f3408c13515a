"""The argument parser of ``leadsq-async``: every option with its help, default and variable."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import DEFAULT_HOST, RateLimit
from ._options import (
    RATE_HELP,
    Rate,
    delimiter_type,
    encoding_type,
    positive_int,
    rate_type,
    seconds,
)
from ._source import OPS
from ._text import DEFAULT_ENCODING

__all__ = ["build_parser"]

Handler = Callable[[argparse.Namespace], int]

_MAIN_EPILOG = """\
examples:
  leadsq-async demo                      # no account needed: a local fake LeadSquared
  export LSQ_ACCESS_KEY=u$r... LSQ_SECRET_KEY=... LSQ_HOST=api-in21.leadsquared.com
  leadsq-async import leads.csv --op create          # results in leads.results.jsonl
  leadsq-async import leads.csv --op create --resume

exit codes: 0 every row ok, 1 some row not ok, 2 usage error (options, or a problem of the
whole input file: nothing was sent), 3 credentials missing or refused, or the service cannot
be used where it is called (wrong host or base URL, no such API, unreachable; resume later),
4 the daily API quota is spent (resume later), 130 interrupted by Ctrl-C (resumable: the
--resume command is printed; a first Ctrl-C lets the calls in flight finish, a second
exits at once)
"""

_IMPORT_EPILOG = """\
examples:
  export LSQ_ACCESS_KEY=u$r... LSQ_SECRET_KEY=...   # the secret from the environment
  leadsq-async import leads.csv --op create --dry-run     # check every row, send nothing
  leadsq-async import leads.csv --op create               # results: leads.results.jsonl
  leadsq-async import leads.jsonl --op upsert --search-by Phone
  leadsq-async import changes.csv --op update --search-by EmailAddress
  leadsq-async import visits.csv --op activity --event 201
  leadsq-async import leads.csv --op create --resume

environment (an option on the command line wins):
  LSQ_ACCESS_KEY, LSQ_SECRET_KEY   the API keys (prefer the variable for the secret)
  LSQ_HOST or LSQ_BASE_URL         the account's API host, or a full base URL
  LSQ_RATE                         the account's rate limit, as --rate
  LSQ_REDIS_URL                    share the rate limit through Redis, as --redis-url
  LSQ_SCHEMA                       account (default), none, or a saved LeadsMetaData.Get answer

input: CSV with a header row of schema names, or JSON Lines with one object per lead. The
whole file is checked before the first call (its encoding, the delimiter, the columns the
operation needs, empty or repeated column names); a problem there is one message and exit
code 2. Cells are stripped of surrounding spaces (--keep-whitespace keeps them) and empty
cells are not sent. A column mx_KYC.Status (or a JSON object under "mx_KYC") becomes the
custom field set mx_KYC. A create needs a column EmailAddress, Phone, FirstName or LastName;
an upsert EmailAddress, Phone or its --search-by column; an update its search column.
An activity row names its lead by ProspectID (or LeadId), else EmailAddress, else Phone,
and has ActivityEvent (or --event), optional ActivityNote and ActivityDateTime (UTC
YYYY-MM-DD HH:MM:SS, or ISO 8601 with an offset); its other columns are activity fields.

results: one JSON line per input row, written as it finishes:
  {"line": 2, "status": "ok", "lead_id": "...", "error_type": null, "reason": null}
an activity's line also has its activity_id.
status is ok, rejected (the service or the client refused the row, or it did not parse),
not_found (update of a missing lead), unknown_outcome (the row may or may not have been
applied) or error (not applied: rate limit, network, service errors). --resume skips rows
with a final line and sends `error` rows again; unknown_outcome rows only with
--retry-unknown (a create without EmailAddress or Phone may then become a duplicate lead,
an activity is posted twice if it was applied).
The summary covers the whole results file, earlier runs included.
"""

_CONSUME_EPILOG = """\
examples:
  export LSQ_ACCESS_KEY=u$r... LSQ_SECRET_KEY=... LSQ_HOST=api-in21.leadsquared.com
  export LSQ_AMQP_URL=amqp://user:pass@rabbit:5672/ LSQ_REDIS_URL=redis://redis:6379/0
  leadsq-async consume leads.in                       # dead letters to leads.in.dead
  leadsq-async consume leads.in --op create --prefetch 250

messages: one JSON object per message, naming the operation and its fields:
  {"op": "create", "fields": {"EmailAddress": "asha@example.com", "FirstName": "Asha"}}
  {"op": "upsert", "fields": {"Phone": "+91-9876543210"}, "search_by": "Phone"}
  {"op": "activity", "fields": {"EmailAddress": "asha@example.com", "ActivityEvent": 201}}
op: create, upsert, update or activity (may be left out with --op); fields: the row's columns
as a JSON Lines row of `import`; search_by, event: as --search-by and --event, for that row.

each message is settled once its row's outcome is known: acknowledged when done; refused for
good (by the service or the checks, or not a row) -> published to the dead-letter queue with
headers x-leadsq-error-type, x-leadsq-error-message, x-leadsq-error-field, then acknowledged;
may succeed later (rate limits, service errors) -> returned to the queue after --retry-delay;
quota spent or service unreachable -> returned, and consuming pauses; keys refused or wrong
host -> returned, and the worker stops (exit 3). A create that comes back redelivered is looked
up by its EmailAddress or Phone before it is sent again. Replicas on one account share its
budgets through --redis-url. SIGTERM or Ctrl-C drains (exit 0); a second one exits at once.

environment: LSQ_ACCESS_KEY, LSQ_SECRET_KEY, LSQ_HOST or LSQ_BASE_URL, LSQ_RATE,
LSQ_BULK_RATE, LSQ_DAILY_QUOTA, LSQ_REDIS_URL, LSQ_SCHEMA, LSQ_AMQP_URL (as for import).
"""

_DEMO_EPILOG = """\
examples:
  leadsq-async demo                # 2,000 leads at the real limit (25 calls / 5 s), ~9 s
  leadsq-async demo --rows 200 --results demo.jsonl
"""

_FAKE_EPILOG = """\
examples:
  leadsq-async fake-server --port 8080
  leadsq-async fake-server --port 0 --rate 25/0.25 --system-error 0.05 --drop-after 0.01
  leadsq-async fake-server --port 0 --plan pro-b --scale 5 --rate-limit-as-200
  leadsq-async fake-server --listen 0.0.0.0 --rate none --latency 0.05,0.2

The fake reads no LSQ_* variable: it accepts the demo keys unless given others.
"""


def _version() -> str:
    from .. import __version__

    return __version__


def _add_account_options(command: Any, *, writes: bool = True) -> None:
    """The account's options (limits, host, keys), shared by ``import``, ``consume`` and
    ``export``; ``writes=False`` leaves out what only writes spend (bulk budget, quota, spill,
    budgets shared through Redis)."""
    command.add_argument(
        "--rate",
        type=rate_type,
        default=None,
        metavar="CALLS/SECONDS",
        help=f"the account's rate limit: {RATE_HELP} for no client-side limit "
        "(env LSQ_RATE, default 25/5)",
    )
    if writes:
        _add_write_limits(command)
    command.add_argument(
        "--host",
        metavar="HOST",
        help=f"the account's API host (env LSQ_HOST, default {DEFAULT_HOST})",
    )
    command.add_argument(
        "--base-url", metavar="URL", help="full base URL instead of --host (env LSQ_BASE_URL)"
    )
    command.add_argument("--access-key", metavar="KEY", help="access key (env LSQ_ACCESS_KEY)")
    command.add_argument(
        "--secret-key",
        metavar="KEY",
        help="secret key; prefer env LSQ_SECRET_KEY (a flag shows in the process list)",
    )


def _add_write_limits(command: Any) -> None:
    command.add_argument(
        "--bulk-rate",
        type=rate_type,
        default=None,
        metavar="CALLS/SECONDS",
        help="the account's separate budget for bulk APIs, e.g. 1/5 (env LSQ_BULK_RATE; "
        "default: learned from the service)",
    )
    command.add_argument(
        "--daily-quota",
        type=positive_int,
        default=None,
        metavar="CALLS",
        help="the account's daily call quota (env LSQ_DAILY_QUOTA; default: learned from the "
        "service)",
    )
    command.add_argument(
        "--spill",
        choices=("interactive", "all", "none"),
        default="interactive",
        help="all: imported rows also take spare general calls one by one when the bulk "
        "budget is the bottleneck (faster, but spends the daily quota); interactive "
        "(default) or none: every imported row rides a bulk call",
    )
    command.add_argument(
        "--redis-url",
        metavar="URL",
        help="share the account's budgets with other processes through this Redis "
        "(env LSQ_REDIS_URL; needs the redis extra; default: no sharing)",
    )
    command.add_argument(
        "--redis-prefix",
        metavar="PREFIX",
        help="the Redis key prefix of the shared budgets (env LSQ_REDIS_PREFIX, default leadsq)",
    )


def _add_import(commands: Any, handler: Handler) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
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
        metavar="COLUMN",
        help="the column that finds the lead (upsert default: EmailAddress, then Phone; "
        "update default: EmailAddress; not for --op activity)",
    )
    imp.add_argument(
        "--event",
        type=positive_int,
        metavar="CODE",
        help="--op activity: the event code of rows without an ActivityEvent column",
    )
    imp.add_argument(
        "--results",
        type=Path,
        metavar="PATH",
        help="results JSON Lines file (default: beside FILE, leads.csv -> leads.results.jsonl)",
    )
    imp.add_argument(
        "--resume", action="store_true", help="continue an import: skip rows already answered"
    )
    imp.add_argument(
        "--retry-unknown",
        action="store_true",
        help="with --resume, also resend rows whose outcome was unknown (a create without "
        "EmailAddress or Phone may become a duplicate lead)",
    )
    imp.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing results file (default: refuse)",
    )
    imp.add_argument(
        "--dry-run",
        action="store_true",
        help="check the file and every row as the client would, send nothing, write no "
        "results; needs no keys",
    )
    schema = imp.add_mutually_exclusive_group()
    schema.add_argument(
        "--schema",
        type=Path,
        metavar="account|FILE",
        help="check rows at the call against the account's lead fields (account, the default: "
        "one LeadsMetaData.Get call) or those of a saved answer (env LSQ_SCHEMA: account, a "
        "file, or none)",
    )
    schema.add_argument(
        "--no-schema",
        action="store_true",
        help="do not check rows against the account's lead fields",
    )
    imp.add_argument(
        "--format",
        choices=("csv", "jsonl"),
        help="input format (default: from the suffix; .jsonl, .ndjson, .json are JSON Lines)",
    )
    imp.add_argument(
        "--encoding",
        type=encoding_type,
        default=DEFAULT_ENCODING,
        metavar="NAME",
        help=f"the file's text encoding (default {DEFAULT_ENCODING}: UTF-8 with or without a "
        "BOM; e.g. cp1252, latin-1, utf-16)",
    )
    imp.add_argument(
        "--delimiter",
        type=delimiter_type,
        metavar="CHAR",
        help="CSV delimiter: , ; tab or | (default: the one that splits the header line most)",
    )
    imp.add_argument(
        "--keep-whitespace",
        action="store_true",
        help="send CSV cells as they are (default: strip surrounding spaces)",
    )
    _add_account_options(imp)
    imp.add_argument(
        "--max-pending",
        type=positive_int,
        metavar="N",
        help="rows queued at most (default: 10 calls' worth)",
    )
    imp.add_argument(
        "--grace",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="on Ctrl-C, how long to wait for calls in flight (default 30)",
    )
    imp.add_argument(
        "--plain", action="store_true", help="plain progress lines, even on a terminal"
    )
    imp.set_defaults(handler=handler)


def _add_consume(commands: Any, handler: Handler) -> None:
    consume = commands.add_parser(
        "consume",
        help="write the row messages of a RabbitMQ queue (a worker; needs the amqp extra)",
        description="Consume row messages from a RabbitMQ queue and write each through the "
        "batching client; acknowledge each once its row is settled, dead-letter refused rows.",
        epilog=_CONSUME_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    consume.add_argument(
        "queue", metavar="QUEUE", help="the queue to consume (declared if missing)"
    )
    consume.add_argument(
        "--amqp-url",
        metavar="URL",
        help="the RabbitMQ to read (env LSQ_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/; "
        "prefer the variable for a password)",
    )
    consume.add_argument(
        "--dead-letter-queue",
        metavar="NAME",
        help="where refused rows go, with their error in the headers (default: QUEUE.dead)",
    )
    consume.add_argument("--op", choices=OPS, help="the operation of messages that do not name one")
    consume.add_argument(
        "--search-by", metavar="COLUMN", help="the default search column, as for import"
    )
    consume.add_argument(
        "--event",
        type=positive_int,
        metavar="CODE",
        help="the activity event code of activity messages without one",
    )
    consume.add_argument(
        "--prefetch",
        type=positive_int,
        metavar="N",
        help="unacknowledged messages held at most (default: --max-pending)",
    )
    consume.add_argument(
        "--retry-delay",
        type=seconds,
        default=1.0,
        metavar="SECONDS",
        help="how long a row that may succeed later waits before its message is returned "
        "(default 1)",
    )
    consume.add_argument(
        "--quota-pause",
        type=seconds,
        default=300.0,
        metavar="SECONDS",
        help="how long to pause when the quota is spent and the service does not say for how "
        "long (default 300)",
    )
    schema = consume.add_mutually_exclusive_group()
    schema.add_argument(
        "--schema",
        type=Path,
        metavar="account|FILE",
        help="check rows against the account's lead fields, as for import (env LSQ_SCHEMA)",
    )
    schema.add_argument(
        "--no-schema", action="store_true", help="do not check rows against the account's fields"
    )
    _add_account_options(consume)
    consume.add_argument(
        "--max-pending",
        type=positive_int,
        metavar="N",
        help="rows the client queues at most (default: 10 calls' worth)",
    )
    consume.add_argument(
        "--grace",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, how long to wait for the rows in hand (default 30)",
    )
    consume.add_argument(
        "--report", type=Path, metavar="PATH", help="also write the summary as JSON to PATH"
    )
    consume.set_defaults(handler=handler)


_EXPORT_EPILOG = """\
examples:
  leadsq-async export --since 2026-11-01 --to leads.jsonl       # until now
  leadsq-async export --since "2026-11-01 00:00:00" --until 2026-11-02 --to day.csv
  leadsq-async export --to leads.jsonl --resume      # after an interruption
  leadsq-async export --to leads.jsonl --since last  # nightly: from where the last one ended

Times are UTC unless they carry an offset. Every lead last modified in [--since, --until]
comes once; a lead modified while the export runs comes now or in the next export. Beside
FILE, FILE.checkpoint.json keeps where the export stands (written after every page).
"""


def _add_export(commands: Any, handler: Handler) -> None:
    exp = commands.add_parser(
        "export",
        help="write the leads modified in a date range to a JSON Lines or CSV file",
        description="Read every lead last modified in a range (Leads.RecentlyModified) "
        "into FILE, resumably.",
        epilog=_EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    exp.add_argument(
        "--to", type=Path, required=True, metavar="FILE", help="output: .jsonl or .csv"
    )
    exp.add_argument(
        "--since",
        metavar="TIME",
        help="first modification time (UTC unless an offset is given), or 'last': where the "
        "previous export into FILE ended",
    )
    exp.add_argument("--until", metavar="TIME", help="last modification time (default: now)")
    exp.add_argument(
        "--columns",
        metavar="A,B,...",
        help="the fields to write (default: the client's lead columns)",
    )
    exp.add_argument(
        "--resume", action="store_true", help="go on with an interrupted export into FILE"
    )
    exp.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    exp.add_argument(
        "--page-size",
        type=positive_int,
        default=5000,
        metavar="N",
        help="leads a call asks for (at most 5000, the service's limit)",
    )
    _add_account_options(exp, writes=False)
    exp.add_argument("--plain", action="store_true", help="a progress line after every page")
    exp.set_defaults(handler=handler)


def _add_demo(commands: Any, handler: Handler) -> None:
    demo = commands.add_parser(
        "demo",
        help="import generated leads into a local fake LeadSquared (no account needed)",
        description="Serve the fake LeadSquared on loopback, generate realistic leads "
        "(a few duplicates and bad rows included) and import them like `import` does.",
        epilog=_DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--rows",
        type=positive_int,
        default=2000,
        metavar="N",
        help="leads to generate (default 2000)",
    )
    demo.add_argument(
        "--rate",
        type=rate_type,
        default=Rate(RateLimit()),
        metavar="CALLS/SECONDS",
        help=f"the fake's limit, and the importer's: {RATE_HELP} (default 25/5, "
        "LeadSquared's default)",
    )
    demo.add_argument(
        "--results",
        type=Path,
        metavar="PATH",
        help="keep the results file here (default: a temporary file, removed)",
    )
    demo.add_argument(
        "--plain", action="store_true", help="plain progress lines, even on a terminal"
    )
    demo.set_defaults(handler=handler)


def _fake_rate(text: str) -> Any:
    from ..testing import Limit

    limit = rate_type(text).limit
    return None if limit is None else Limit(limit.calls, limit.period)


def _add_fake(commands: Any, handler: Handler, missing: Handler) -> None:
    fake = commands.add_parser(
        "fake-server",
        help="serve the fake LeadSquared standalone",
        description="Serve the fake LeadSquared lead API until Ctrl-C; prints its URL and keys.",
        epilog=_FAKE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    try:
        from ..testing import add_arguments
    except ImportError:  # the fake extra is not installed
        fake.set_defaults(handler=missing)
    else:
        add_arguments(fake, rate_type=_fake_rate)
        fake.set_defaults(handler=handler)


def build_parser(handlers: dict[str, Handler]) -> argparse.ArgumentParser:
    """The parser; ``handlers`` maps each command (and ``missing-fake``) to its function."""
    parser = argparse.ArgumentParser(
        prog="leadsq-async",
        description="Bulk-import leads into LeadSquared under the account's rate limit, "
        "or try it against a local fake.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"leadsq-async {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _add_import(commands, handlers["import"])
    _add_consume(commands, handlers["consume"])
    _add_export(commands, handlers["export"])
    _add_demo(commands, handlers["demo"])
    _add_fake(commands, handlers["fake-server"], handlers["missing-fake"])
    return parser
