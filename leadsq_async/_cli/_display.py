"""The live progress display (rich on a terminal, plain lines otherwise) and the summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any, TextIO

import attrs

from .. import Stats

__all__ = ["Display", "Tally", "make_display", "render_summary"]

_PLAIN_EVERY = 2.0


@attrs.define
class Tally:
    """What the import has done so far."""

    total: int = 0
    skipped: int = 0
    statuses: Counter[str] = attrs.field(factory=Counter)
    error_types: Counter[str] = attrs.field(factory=Counter)
    started: float = attrs.field(factory=time.monotonic)
    ceiling: float = 0.0

    @property
    def done(self) -> int:
        """Rows answered in this run."""
        return sum(self.statuses.values())

    @property
    def failures(self) -> int:
        """Rows answered in this run with another status than ok."""
        return self.done - self.statuses["ok"]

    def rate(self) -> float:
        """Rows answered per second in this run."""
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds left at the current rate, if known."""
        rate = self.rate()
        left = self.total - self.skipped - self.done
        return left / rate if rate > 0 else None


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds + 0.5)
    return f"{seconds // 60}:{seconds % 60:02d}"


def progress_text(tally: Tally, stats: Stats) -> str:
    """One line: rows done of total, rows/s against the ceiling, ETA, calls, 429s, retries."""
    done = tally.skipped + tally.done
    pct = 100.0 * done / tally.total if tally.total else 100.0
    return (
        f"{done}/{tally.total} rows ({pct:.0f}%), {tally.rate():.0f} rows/s of "
        f"{tally.ceiling:.0f} ceiling, ETA {_fmt_eta(tally.eta())}, {stats.calls} calls, "
        f"{stats.rate_limited} 429s, {stats.retries} retries, {tally.failures} not ok"
    )


class Display:
    """Plain progress: a line on stderr every couple of seconds."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._last = 0.0

    def start(self, tally: Tally) -> None:
        """The import begins."""
        self._last = time.monotonic()

    def update(self, tally: Tally, stats: Stats) -> None:
        """Called often; prints at most every couple of seconds."""
        now = time.monotonic()
        if now - self._last >= _PLAIN_EVERY:
            self._last = now
            print("progress: " + progress_text(tally, stats), file=self.out, flush=True)

    def stop(self, tally: Tally, stats: Stats) -> None:
        """The import ended."""
        print("progress: " + progress_text(tally, stats), file=self.out, flush=True)


class RichDisplay(Display):
    """A rich progress bar with the same figures, on a terminal."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=Console(file=out),
            transient=False,
        )
        self._task: Any = None

    def start(self, tally: Tally) -> None:
        """Show the bar."""
        self._task = self._progress.add_task(
            "import", total=tally.total, completed=tally.skipped, info=""
        )
        self._progress.start()

    def _info(self, tally: Tally, stats: Stats) -> str:
        return (
            f"{tally.rate():.0f}/{tally.ceiling:.0f} rows/s · ETA {_fmt_eta(tally.eta())} · "
            f"{stats.calls} calls · {stats.rate_limited} 429s · {stats.retries} retries · "
            f"{tally.failures} not ok"
        )

    def update(self, tally: Tally, stats: Stats) -> None:
        """Refresh the bar."""
        self._progress.update(
            self._task, completed=tally.skipped + tally.done, info=self._info(tally, stats)
        )

    def stop(self, tally: Tally, stats: Stats) -> None:
        """Leave the final bar on screen."""
        self.update(tally, stats)
        self._progress.stop()


def make_display(out: TextIO, *, plain: bool) -> Display:
    """A rich display on a terminal (when rich is installed), plain lines otherwise."""
    if not plain and out.isatty():
        try:
            return RichDisplay(out)
        except ImportError:  # the cli extra is not installed
            pass
    return Display(out)


def render_summary(tally: Tally, stats: Stats, elapsed: float, *, out: TextIO, rich: bool) -> None:
    """Print the summary: rows by status and by error type, calls and throughput."""
    rate = tally.done / elapsed if elapsed > 0 else 0.0
    status_rows = [(name, tally.statuses[name]) for name in sorted(tally.statuses)]
    type_rows = sorted(tally.error_types.items())
    lines = [
        f"rows in file: {tally.total}, skipped (already answered): {tally.skipped}, "
        f"answered now: {tally.done} in {elapsed:.1f}s",
        f"calls: {stats.calls} ({stats.mean_rows_per_call:.1f} rows per call), "
        f"429s: {stats.rate_limited}, retries: {stats.retries}, "
        f"{rate:.0f} rows/s of a {tally.ceiling:.0f} rows/s ceiling",
    ]
    if rich and out.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            console = Console(file=out)
            table = Table(title="import summary")
            table.add_column("status")
            table.add_column("rows", justify="right")
            for name, count in status_rows:
                table.add_row(name, str(count))
            console.print(table)
            if type_rows:
                types = Table(title="by error type")
                types.add_column("error type")
                types.add_column("rows", justify="right")
                for name, count in type_rows:
                    types.add_row(name, str(count))
                console.print(types)
            for line in lines:
                console.print(line, highlight=False, markup=False)
            return
    print("summary by status:", file=out)
    for name, count in status_rows or [("(none)", 0)]:
        print(f"  {name:<16} {count:>8}", file=out)
    if type_rows:
        print("summary by error type:", file=out)
        for name, count in type_rows:
            print(f"  {name:<24} {count:>8}", file=out)
    for line in lines:
        print(line, file=out)
    out.flush()


def stderr() -> TextIO:
    """The stream progress goes to."""
    return sys.stderr
