"""``leadsq-async export``: the leads modified in a range into a JSON Lines or CSV file.

Beside the output, ``FILE.checkpoint.json`` keeps where the export stands: the client's
``ExportCheckpoint`` and how many bytes of the output it covers, written (atomically) after
every page once that page's leads are flushed to the file. ``--resume`` cuts the output back
to those bytes and goes on from the checkpoint, so an export killed at any moment resumes to
the same file an uninterrupted one writes. A finished export leaves its ``next_since``
there: ``--since last`` starts the next export into the same file where this one ended.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TextIO

import attrs

from .. import (
    AuthenticationError,
    EndpointNotFoundError,
    ExportCheckpoint,
    Lead,
    LeadSquaredClient,
    LeadSquaredError,
    QuotaExhaustedError,
    RateLimit,
    ServiceUnavailableError,
    Settings,
    ValidationError,
)
from ._options import NO_LIMIT, UsageError
from ._text import utc_time

__all__ = ["ExportConfig", "parse_when", "run_export", "state_path"]

_STATE_VERSION = 1
_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


@attrs.frozen
class ExportConfig:
    """What ``export`` was asked to do (options and environment resolved)."""

    to: Path
    since: str | None  # a time, "last", or None with --resume
    until: str | None
    columns: tuple[str, ...] | None
    resume: bool
    overwrite: bool
    access_key: str
    secret_key: str
    base_url: str
    rate: RateLimit | None
    page_size: int
    plain: bool


def parse_when(text: str, option: str) -> dt.datetime:
    """A time on the command line: ISO 8601, or ``YYYY-MM-DD[ HH:MM:SS]``; UTC unless an
    offset is given."""
    try:
        return utc_time(text.strip())
    except ValueError:
        raise UsageError(
            f"{option}: {text!r} is not a time (YYYY-MM-DD HH:MM:SS in UTC, or ISO 8601)"
        ) from None


def state_path(to: Path) -> Path:
    """Where the export into ``to`` keeps its checkpoint."""
    return to.with_name(to.name + ".checkpoint.json")


def _format(to: Path) -> str:
    fmt = _FORMATS.get(to.suffix.lower())
    if fmt is None:
        raise UsageError(f"--to {to}: the file must end in .jsonl or .csv")
    return fmt


@attrs.frozen
class _State:
    checkpoint: ExportCheckpoint
    columns: tuple[str, ...]
    offset: int  # bytes of the output this checkpoint covers
    leads: int
    pages: int

    def dump(self, path: Path) -> None:
        data = {
            "version": _STATE_VERSION,
            "checkpoint": json.loads(self.checkpoint.to_json()),
            "columns": list(self.columns),
            "offset": self.offset,
            "leads": self.leads,
            "pages": self.pages,
            "finished": self.checkpoint.done,
            "next_since": self.checkpoint.next_since.isoformat(),
        }
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> _State:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != _STATE_VERSION:
                raise ValueError("unknown version")
            checkpoint = ExportCheckpoint.from_json(json.dumps(data["checkpoint"]))
            columns = tuple(str(c) for c in data["columns"])
            return cls(checkpoint, columns, int(data["offset"]), int(data["leads"]), 0)
        except FileNotFoundError:
            raise UsageError(
                f"{path} does not exist: nothing was exported into this file"
            ) from None
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise UsageError(f"{path} is not an export checkpoint ({error})") from None


class _Writer:
    """The output file: one lead a line (JSON Lines), or a CSV row under one header."""

    def __init__(self, out: IO[str], fmt: str, columns: Sequence[str], header: bool) -> None:
        self._out = out
        self._fmt = fmt
        self._columns = list(columns)
        self._csv = csv.writer(out) if fmt == "csv" else None
        if header and self._csv is not None:
            self._csv.writerow(self._columns)

    def write(self, lead: Lead) -> None:
        if self._csv is not None:
            self._csv.writerow([lead.get(c) or "" for c in self._columns])
        else:
            self._out.write(json.dumps(dict(lead.fields), ensure_ascii=False) + "\n")


def _progress(err: TextIO, leads: int, pages: int, started: float, final: bool) -> None:
    elapsed = max(time.monotonic() - started, 1e-9)
    word = "exported" if final else "exporting:"
    err.write(f"{word} {leads} leads, {pages} pages, {leads / elapsed:.0f} leads/s\n")
    err.flush()


def _start(cfg: ExportConfig, fmt: str) -> tuple[_State, bool]:
    """The state to start from, and whether the output file is appended to."""
    path = state_path(cfg.to)
    if cfg.resume:
        if cfg.since is not None or cfg.until is not None or cfg.columns is not None:
            raise UsageError(
                "--resume continues the export as it was begun: drop --since, --until and --columns"
            )
        state = _State.load(path)
        return state, True
    if cfg.since == "last":
        previous = _State.load(path)
        if not previous.checkpoint.done:
            raise UsageError(f"the export into {cfg.to} did not finish: run it again with --resume")
        columns = previous.columns if cfg.columns is None else _with_id(cfg.columns)
        if fmt == "csv" and columns != previous.columns:
            raise UsageError("--since last appends to the CSV file: keep its columns")
        until = parse_when(cfg.until, "--until") if cfg.until else None
        start = _checkpoint(previous.checkpoint.next_since, until)
        offset = cfg.to.stat().st_size if cfg.to.exists() else 0
        return _State(start, columns, offset, 0, 0), True
    if cfg.since is None:
        raise UsageError("give --since (a time, or last), or --resume")
    if cfg.to.exists() and not cfg.overwrite:
        raise UsageError(f"{cfg.to} exists: --overwrite, --resume, or --since last to append")
    since = parse_when(cfg.since, "--since")
    until = parse_when(cfg.until, "--until") if cfg.until else None
    columns = _with_id(cfg.columns or _DEFAULT_COLUMNS)
    return _State(_checkpoint(since, until), columns, 0, 0, 0), False


_DEFAULT_COLUMNS = Settings("-", "-").lead_columns


def _with_id(columns: Sequence[str]) -> tuple[str, ...]:
    """The columns written: ``ProspectID`` first unless named."""
    if any(c.casefold() == "prospectid" for c in columns):
        return tuple(columns)
    return ("ProspectID", *columns)


def _checkpoint(since: dt.datetime, until: dt.datetime | None) -> ExportCheckpoint:
    """A fresh checkpoint, ``until`` defaulting (and capped) as the client does."""
    latest = dt.datetime.now(dt.UTC).replace(microsecond=0)
    latest -= dt.timedelta(milliseconds=1)
    end = latest if until is None else min(until, latest)
    try:
        return ExportCheckpoint.start(since, end)
    except ValidationError as error:
        raise UsageError(f"--{error.field}: {error.rule}") from None


def run_export(cfg: ExportConfig, err: TextIO | None = None) -> int:
    """Run the export; the exit code (0 done, 1, 3 or 4 stopped by the service: resume)."""
    err = sys.stderr if err is None else err
    fmt = _format(cfg.to)
    state, append = _start(cfg, fmt)
    if state.checkpoint.done and cfg.resume:
        err.write(f"the export into {cfg.to} is complete: {state.leads} leads\n")
        return 0
    mode = "r+" if append and cfg.to.exists() else "w"
    with open(cfg.to, mode, encoding="utf-8", newline="") as out:
        out.seek(state.offset)
        out.truncate()  # what a killed run wrote past its last checkpoint goes
        writer = _Writer(out, fmt, state.columns, header=state.offset == 0)
        if state.offset == 0:
            out.flush()
            state = attrs.evolve(state, offset=out.tell())
            state.dump(state_path(cfg.to))
        return asyncio.run(_export(cfg, state, out, writer, err))


async def _export(
    cfg: ExportConfig, state: _State, out: IO[str], writer: _Writer, err: TextIO
) -> int:
    path = state_path(cfg.to)
    settings = Settings(
        cfg.access_key, cfg.secret_key, base_url=cfg.base_url, rate_limit=cfg.rate or NO_LIMIT
    )
    client = LeadSquaredClient.from_settings(settings)
    started = time.monotonic()
    leads, pages = state.leads, 0
    try:
        async with client:
            export = client.leads_modified(
                columns=state.columns, resume_from=state.checkpoint, page_size=cfg.page_size
            )
            shown = started
            async for lead in export:
                writer.write(lead)
                leads += 1
                if not export.ready:  # the page is written: keep where it ends
                    out.flush()
                    pages = export.pages
                    state = _State(export.checkpoint, state.columns, out.tell(), leads, pages)
                    state.dump(path)
                    if cfg.plain or time.monotonic() - shown >= 1.0:
                        shown = time.monotonic()
                        _progress(err, leads, pages, started, final=False)
            out.flush()
            pages = export.pages
            state = _State(export.checkpoint, state.columns, out.tell(), leads, pages)
            state.dump(path)
    except AuthenticationError as error:
        err.write(f"leadsq-async: error: the keys were refused: {error}\n")
        return 3
    except (EndpointNotFoundError, ServiceUnavailableError) as error:
        err.write(f"leadsq-async: error: {error}; run the same command with --resume later\n")
        return 3
    except QuotaExhaustedError as error:
        err.write(f"leadsq-async: error: {error}; run the same command with --resume later\n")
        return 4
    except LeadSquaredError as error:
        err.write(f"leadsq-async: error: {error}; run the same command with --resume\n")
        return 1
    _progress(err, leads, pages, started, final=True)
    err.write(
        f"into {cfg.to} (checkpoint {path.name}); the next export starts at "
        f"{state.checkpoint.next_since.isoformat()}: --since last\n"
    )
    return 0
