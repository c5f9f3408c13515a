"""The import pipeline: file rows → operations → the batching client → the results file.

Rows are read lazily and admitted through ``client.submit``, whose backpressure holds at most
``max_pending`` rows in memory; each row's result line is written the moment it finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Literal, TextIO

import attrs

from .. import (
    AuthenticationError,
    CallEvent,
    CreateLead,
    EndpointNotFoundError,
    LeadCreated,
    LeadSquaredClient,
    LeadSquaredError,
    Operation,
    PostActivity,
    QuotaExhaustedError,
    RateLimit,
    Result,
    ServiceUnavailableError,
    Stats,
    UpdateLead,
    UpsertLead,
    rows_per_call,
)
from ._display import Tally, make_display
from ._options import ConfigError, SchemaChoice, UsageError, account_settings
from ._results import (
    Earlier,
    Journal,
    ResultsFile,
    classify,
    journal_path,
    keep_latest,
    prepare_resume,
)
from ._source import InputError, ParseError, Row, Source, build_operation
from ._summary import FIELDS_CALL, render_summary
from ._text import DEFAULT_ENCODING

__all__ = [
    "ROWS_PER_CALL",
    "ConfigError",
    "ImportConfig",
    "ImportReport",
    "NotSent",
    "UsageError",
    "run",
]

#: Rows one call carries, per ``--op`` (the client's own figures).
ROWS_PER_CALL = {
    "create": rows_per_call(CreateLead),
    "upsert": rows_per_call(UpsertLead),
    "update": rows_per_call(UpdateLead),
    "activity": rows_per_call(PostActivity),
}
#: The operations a blind resend could apply twice: their calls are journaled.
JOURNALED = frozenset({"create", "activity"})


@attrs.frozen
class ImportConfig:
    """Everything one import needs."""

    path: Path
    fmt: str
    op: str
    search_by: str | None
    results: Path
    access_key: str = attrs.field(repr=False)
    secret_key: str = attrs.field(repr=False)
    base_url: str
    rate: RateLimit | None  # None: no client-side limit
    bulk_rate: RateLimit | None = None
    daily_quota: int | None = None
    spill: Literal["interactive", "all", "none"] = "interactive"
    resume: bool = False
    retry_unknown: bool = False
    overwrite: bool = False
    max_pending: int | None = None
    grace: float = 30.0
    plain: bool = False
    redis_url: str | None = attrs.field(default=None, repr=False)
    redis_prefix: str = "leadsq"
    encoding: str = DEFAULT_ENCODING
    delimiter: str | None = None
    strip: bool = True
    event: int | None = None  # --event: the activity event code of rows without one
    show_results: bool = True  # name the results file in the summary
    #: Rows are checked against these fields (``--schema``, ``--no-schema``; see ``_options``):
    #: by default the account's, fetched once (when they cannot be had, rows go unchecked).
    schema: SchemaChoice = "account"
    #: The command line that continues this import, printed when Ctrl-C stops it.
    resume_command: str | None = None

    @property
    def source(self) -> Source:
        """The input file as this import reads it."""
        return Source(
            self.path,
            self.fmt,
            op=self.op,
            search_by=self.search_by,
            encoding=self.encoding,
            delimiter=self.delimiter,
            strip=self.strip,
            event=self.event,
        )

    @property
    def ceiling(self) -> float | None:
        """Rows per second at the rate limits, full calls (None: no client-side limit).

        A bulk call spends the bulk budget and the general one, so with a bulk budget the
        bulk calls go at the lower of the two; ``--spill all`` adds a row per spare general
        call (general minus bulk).
        """
        general = None if self.rate is None else self.rate.calls / self.rate.period
        if self.bulk_rate is None:
            return None if general is None else general * ROWS_PER_CALL[self.op]
        bulk = self.bulk_rate.calls / self.bulk_rate.period
        if general is not None:
            bulk = min(bulk, general)
        rows = bulk * ROWS_PER_CALL[self.op]
        if self.spill == "all":
            if general is None:
                return None  # spare general calls are not limited
            rows += general - bulk
        return rows

    @property
    def call_rate(self) -> RateLimit | None:
        """The limit the import's (bulk) calls go at: the bulk budget when one is set."""
        if self.bulk_rate is None:
            return self.rate
        if self.rate is None:
            return self.bulk_rate
        bulk = self.bulk_rate.calls / self.bulk_rate.period
        return self.bulk_rate if bulk <= self.rate.calls / self.rate.period else self.rate


class NotSent(Exception):
    """A row Ctrl-C kept from being sent; ``--resume`` sends it."""


class _LibraryWording(logging.Filter):
    """Keeps the library's log lines that speak of its API out of the command's output.

    ``aclose(timeout=30) expired; abandoning unsent rows`` means nothing to the command's
    user; the command says what happened to the rows in its own words.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "aclose(" not in record.getMessage()


@attrs.define
class ImportReport:
    """How an import ended."""

    tally: Tally
    stats: Stats
    elapsed: float
    interrupted: bool = False
    auth_failed: AuthenticationError | None = None
    quota_spent: QuotaExhaustedError | None = None
    #: The service cannot be used where the import calls it: no such API there, or unreachable.
    unusable: EndpointNotFoundError | ServiceUnavailableError | None = None
    skipped_not_ok: int = 0
    recovered_in_flight: int = 0

    @property
    def exit_code(self) -> int:
        """0 every row ok, 1 some row not ok, 3 keys refused or the service unusable at that URL,
        4 quota spent, 130 interrupted."""
        if self.auth_failed is not None or self.unusable is not None:
            return 3
        if self.interrupted:
            return 130
        if self.quota_spent is not None:
            return 4
        all_rows_answered = self.tally.skipped + self.tally.done == self.tally.total
        if all_rows_answered and self.tally.failures == 0 and self.skipped_not_ok == 0:
            return 0
        return 1


def _open_results(cfg: ImportConfig) -> Earlier:
    exists = cfg.results.exists() and cfg.results.stat().st_size > 0
    if cfg.resume:
        return prepare_resume(cfg.results, retry_unknown=cfg.retry_unknown)
    if exists and not cfg.overwrite:
        raise UsageError(
            f"{cfg.results} already exists; pass --resume to continue that import "
            "or --overwrite to start over"
        )
    return Earlier()


def check_source(source: Source, each: Callable[[Row], None] | None = None) -> int:
    """The pre-pass over the whole file: its row count, or ``UsageError`` for its problems."""
    try:
        return source.scan(each).rows
    except InputError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{source.path}: {exc.strerror or exc}") from None


def has_unique_field(fields: Mapping[str, object]) -> bool:
    """Whether a row's fields hold an EmailAddress or Phone (names compared without case)."""
    return any(
        name.casefold() in ("emailaddress", "phone") and isinstance(value, str) and value.strip()
        for name, value in fields.items()
    )


async def run(
    cfg: ImportConfig,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    on_ready: Callable[[], None] | None = None,
) -> ImportReport:
    """Run one import; print progress to ``err`` and the summary to ``out``."""
    out = out or sys.stdout
    err = err or sys.stderr
    source = cfg.source
    if not cfg.path.is_file():
        raise UsageError(f"{cfg.path}: no such file")
    total = check_source(source)  # the whole file, before the results file is touched
    earlier = _open_results(cfg)
    state = earlier.state
    counts = {"skipped": 0, "not_ok": 0}

    def reconciles(row: Row) -> bool:
        # A create an earlier run left unknown, with a unique field: look it up, then create
        # it only if it is not there (no lead can be created twice that way).
        return (
            cfg.op == "create"
            and not cfg.retry_unknown
            and state.get(row.line) == "unknown_outcome"
            and row.fields is not None
            and has_unique_field(row.fields)
        )

    def count(row: Row) -> None:
        if reconciles(row):
            earlier.taken_back(row.line)
        elif state.done(row.line, cfg.retry_unknown):
            counts["skipped"] += 1
            counts["not_ok"] += state.get(row.line) != "ok"

    if cfg.resume:
        check_source(source, count)
    else:
        journal_path(cfg.results).unlink(missing_ok=True)
    tally = Tally(
        total=total,
        skipped=counts["skipped"],
        ceiling=cfg.ceiling,
        earlier=earlier.statuses,
        earlier_types=earlier.error_types,
    )
    skipped_not_ok = counts["not_ok"]
    recovered = earlier.in_flight
    per_call = ROWS_PER_CALL[cfg.op]
    results = ResultsFile(cfg.results, append=cfg.resume)
    journal = Journal(journal_path(cfg.results)) if cfg.op in JOURNALED else None
    # The line of each submitted operation until it is answered, to journal it when its call
    # is about to leave (the client names a call's operations in its on_call event).
    lines_of: dict[int, int] = {}

    # Rows submitted whose call has not left yet: what the first Ctrl-C withdraws.
    unsent: dict[int, tuple[Operation, asyncio.Future[Result]]] = {}
    # Rows the first Ctrl-C withdrew (answered ``NotSent`` once the calls in flight ended).
    withdrawn: dict[int, tuple[Operation, int]] = {}

    def note_sent(event: CallEvent) -> None:
        if event.endpoint == FIELDS_CALL:
            return  # carries no row: neither the rate's clock nor the journal counts it
        tally.call_started()
        lines: list[int] = []
        for op in event.operations:
            key = id(op)
            unsent.pop(key, None)
            held = withdrawn.get(key)
            if held is not None and held[0] is op:
                # Its call was formed before the Ctrl-C and leaves now: it is sent after all,
                # and its answer will not be read; the journal keeps it for --resume.
                del withdrawn[key]
                lines.append(held[1])
                orphans.append(held[1])
            elif key in lines_of:
                lines.append(lines_of[key])
        if journal is not None:  # every call of the import carries its one kind of row
            journal.sent(lines)

    settings = account_settings(cfg, max_pending=cfg.max_pending or per_call * 10)
    client = LeadSquaredClient.from_settings(settings, on_call=note_sent)
    stop = asyncio.Event()
    flags = {"interrupted": False}
    auth: list[AuthenticationError] = []
    quota: list[QuotaExhaustedError] = []
    unusable: list[EndpointNotFoundError | ServiceUnavailableError] = []
    orphans: list[int] = []

    def quota_spent(error: BaseException | None) -> None:
        # Nothing more can go until the quota comes back, or the service can be reached (or
        # found) where it is called: stop reading; resume later.
        if isinstance(error, QuotaExhaustedError):
            if not quota:
                quota.append(error)
            stop.set()
        if isinstance(error, (EndpointNotFoundError, ServiceUnavailableError)):
            if not unusable:
                unusable.append(error)
            stop.set()

    def finish(
        line: int, result: Result | None, error: BaseException | None, by_call: bool = False
    ) -> None:
        outcome = classify(result, error)
        results.write(line, outcome)
        tally.answered(by_call)
        tally.statuses[outcome["status"]] += 1
        if outcome["error_type"]:
            tally.error_types[outcome["error_type"]] += 1

    def on_done(line: int, op: Operation, future: asyncio.Future[Result]) -> None:
        lines_of.pop(id(op), None)
        unsent.pop(id(op), None)
        if future.cancelled():
            return
        error = future.exception()
        if isinstance(error, AuthenticationError):
            if not auth:
                auth.append(error)
            stop.set()
            return
        quota_spent(error)
        finish(line, None if error is not None else future.result(), error, by_call=True)

    looking: set[asyncio.Task[LeadCreated]] = set()
    answered_again: list[int] = []

    def on_found(line: int, task: asyncio.Task[LeadCreated]) -> None:
        looking.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        quota_spent(error)
        answered_again.append(line)
        finish(line, None if error is not None else task.result(), error, by_call=True)

    async def produce() -> None:
        for number, row in enumerate(source.rows()):
            if stop.is_set():
                return
            if number % 200 == 0:
                await asyncio.sleep(0)  # let signals and answers in, even while skipping
            if reconciles(row) and row.fields is not None:
                found = loop.create_task(client.create_lead(row.fields, look_up_first=True))
                looking.add(found)
                found.add_done_callback(partial(on_found, row.line))
                continue
            if state.done(row.line, cfg.retry_unknown):
                continue
            if row.error is not None or row.fields is None:
                finish(row.line, None, row.error or ParseError("empty row"))
                continue
            try:
                op = build_operation(cfg.op, row.fields, cfg.search_by, cfg.event)
            except ParseError as exc:
                finish(row.line, None, exc)
                continue
            try:
                future = await client.submit(op)
            except LeadSquaredError as exc:
                quota_spent(exc)
                finish(row.line, None, exc)
                continue
            lines_of[id(op)] = row.line
            unsent[id(op)] = (op, future)
            future.add_done_callback(partial(on_done, row.line, op))

    def withdraw_unsent() -> None:
        # Cancelling a row's future before its call is formed withdraws the row.
        for key, (op, future) in list(unsent.items()):
            if future.cancel():
                withdrawn[key] = (op, lines_of[key])
        unsent.clear()
        for task in looking:  # lookups of earlier unknown rows: --resume does them again
            task.cancel()

    def stop_at_once() -> None:
        # The results and the journal are on disk, line by line: --resume reads them as they
        # are (rows in the journal with no answer are settled as unknown outcomes).
        with contextlib.suppress(Exception):
            display.stop(tally, client.stats())
        results.sync()
        if journal is not None:
            journal.sync()
        print(
            "interrupted again: stopped at once; calls in flight may have been applied "
            "(--resume settles them)",
            file=err,
        )
        if cfg.resume_command:
            print(resume_hint(cfg), file=err)
        err.flush()
        with contextlib.suppress(Exception):
            out.flush()
        os._exit(130)

    def on_sigint() -> None:
        if flags["interrupted"]:
            stop_at_once()
        flags["interrupted"] = True
        print(
            "interrupted: no new calls are sent; finishing the calls in flight "
            "(Ctrl-C again stops at once)",
            file=err,
            flush=True,
        )
        stop.set()
        withdraw_unsent()

    loop = asyncio.get_running_loop()
    handled = False
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        handled = True
    display = make_display(err, plain=cfg.plain)
    started = time.monotonic()
    tally.started = started
    display.start(tally)
    if on_ready is not None:
        on_ready()
    if recovered:
        print(
            f"resume: {recovered} rows were in flight when the last run stopped; "
            "reported as unknown_outcome" + (" and sent again" if cfg.retry_unknown else ""),
            file=err,
            flush=True,
        )
    producer = loop.create_task(produce())
    stopper = loop.create_task(stop.wait())
    library, muted = logging.getLogger("leadsq_async"), _LibraryWording()
    library.addFilter(muted)
    try:
        while not (producer.done() or stop.is_set()):
            await asyncio.wait({producer, stopper}, timeout=0.25)
            display.update(tally, client.stats())
        if stop.is_set():
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
        else:
            producer.result()
        if flags["interrupted"]:
            withdraw_unsent()  # rows the producer queued before it saw the Ctrl-C
        while looking and not stop.is_set():  # earlier unknown rows being looked up
            await asyncio.wait(looking | {stopper}, timeout=0.25)
            display.update(tally, client.stats())
        grace = cfg.grace if stop.is_set() else 360.0
        closing = loop.create_task(client.aclose(timeout=grace))
        closing_since = time.monotonic()
        while not closing.done():
            await asyncio.wait({closing}, timeout=0.25)
            display.update(tally, client.stats())
        closing.result()
        if time.monotonic() - closing_since >= grace:
            print(
                f"the calls in flight were not answered within {grace:g} s (--grace): "
                "their rows may have been applied; --resume settles them",
                file=err,
                flush=True,
            )
        for _, line in withdrawn.values():
            finish(line, None, NotSent("not sent: the import was interrupted; --resume sends it"))
        withdrawn.clear()
    finally:
        stopper.cancel()
        if not producer.done():
            producer.cancel()
        await client.aclose(timeout=1.0)
        library.removeFilter(muted)
        for task in looking:
            task.cancel()
        await asyncio.gather(*looking, return_exceptions=True)
        if handled:
            loop.remove_signal_handler(signal.SIGINT)
        elapsed = time.monotonic() - started
        tally.finished = True
        stats = client.stats()
        display.stop(tally, stats)
        results.close()
        if answered_again:
            keep_latest(cfg.results)  # an earlier unknown line was answered again
        if journal is not None:
            journal.close(remove=not auth and not lines_of and not orphans)
    report = ImportReport(
        tally,
        stats,
        elapsed,
        interrupted=flags["interrupted"],
        auth_failed=auth[0] if auth else None,
        quota_spent=quota[0] if quota else None,
        unusable=unusable[0] if unusable else None,
        skipped_not_ok=skipped_not_ok,
        recovered_in_flight=recovered,
    )
    if report.auth_failed is None:
        render_summary(
            tally,
            stats,
            elapsed,
            out=out,
            rich=not cfg.plain,
            op=cfg.op,
            results=cfg.results if cfg.show_results else None,
        )
    if report.interrupted and report.auth_failed is None and cfg.resume_command:
        print(resume_hint(cfg), file=err, flush=True)
    return report


def resume_hint(cfg: ImportConfig) -> str:
    """How to continue an interrupted import (the ``demo`` has no command to repeat)."""
    if cfg.resume_command is None:
        return ""
    return f"continue the import with:\n  {cfg.resume_command}"
