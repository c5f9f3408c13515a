"""The live progress display (rich on a terminal, plain lines otherwise) and what it counts.

Rates are measured over the time calls ran (from the first call carrying rows leaving to the
last answer: the one fetch of the account's fields before it is not counted), are never shown
before that has lasted a second, and never above the ceiling.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, TextIO

import attrs

from .. import Stats

__all__ = ["Display", "Tally", "fmt_rate", "make_display", "progress_line", "progress_text"]

_PLAIN_EVERY = 2.0
#: Calls must have run this long before a rate is shown.
MIN_SPAN = 1.0
_BAR_MIN = 10


@attrs.define
class Tally:
    """What the import has done so far (and, after ``--resume``, what earlier runs did)."""

    total: int = 0
    skipped: int = 0
    statuses: Counter[str] = attrs.field(factory=Counter)
    error_types: Counter[str] = attrs.field(factory=Counter)
    started: float = attrs.field(factory=time.monotonic)
    ceiling: float | None = None
    #: Statuses and error types of the rows earlier runs answered (the ones skipped now).
    earlier: Counter[str] = attrs.field(factory=Counter)
    earlier_types: Counter[str] = attrs.field(factory=Counter)
    first_call: float | None = None
    last_answer: float | None = None
    answered_by_calls: int = 0
    finished: bool = False

    @property
    def done(self) -> int:
        """Rows answered in this run."""
        return sum(self.statuses.values())

    @property
    def failures(self) -> int:
        """Rows answered in this run with another status than ok."""
        return self.done - self.statuses["ok"]

    def call_started(self) -> None:
        """A call is leaving (the first one starts the rate's clock)."""
        if self.first_call is None:
            self.first_call = time.monotonic()

    def answered(self, by_call: bool) -> None:
        """A row was answered; ``by_call`` when the service (not the file or client) did."""
        if by_call:
            self.answered_by_calls += 1
            self.last_answer = time.monotonic()

    def span(self, now: float | None = None) -> float:
        """Seconds from the first call to the last answer (or to now, while running)."""
        if self.first_call is None:
            return 0.0
        end = self.last_answer if self.finished else now or time.monotonic()
        return max((end or self.first_call) - self.first_call, 0.0)

    def rate(self, now: float | None = None) -> float | None:
        """Rows answered by calls per second, at most the ceiling; None until measurable."""
        span = self.span(now)
        if span < MIN_SPAN:
            return None
        rate = self.answered_by_calls / span
        return rate if self.ceiling is None else min(rate, self.ceiling)

    def eta(self) -> float | None:
        """Seconds left at the current rate, if known."""
        rate = self.rate()
        left = self.total - self.skipped - self.done
        if left <= 0:
            return 0.0
        return left / rate if rate else None

    def whole_file(self) -> tuple[Counter[str], Counter[str]]:
        """Statuses and error types over the results file: earlier runs and this one."""
        return self.earlier + self.statuses, self.earlier_types + self.error_types


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds + 0.5)
    return f"{seconds // 60}:{seconds % 60:02d}"


def fmt_rate(rate: float | None) -> str:
    """A rate for humans: ``?`` while it is not measured yet."""
    return "?" if rate is None else f"{rate:.0f}"


def _ceiling(tally: Tally) -> str:
    return "no" if tally.ceiling is None else f"{tally.ceiling:.0f}"


def _done_pct(tally: Tally) -> tuple[int, float]:
    done = tally.skipped + tally.done
    return done, 100.0 * done / tally.total if tally.total else 100.0


def progress_text(tally: Tally, stats: Stats) -> str:
    """One line: rows done of total, rows/s against the ceiling, ETA, calls, 429s, retries."""
    done, pct = _done_pct(tally)
    return (
        f"{done}/{tally.total} rows ({pct:.0f}%), {fmt_rate(tally.rate())} rows/s of "
        f"{_ceiling(tally)} ceiling, ETA {_fmt_eta(tally.eta())}, {stats.calls} calls, "
        f"{stats.rate_limited} 429s, {stats.retries} retries, {tally.failures} not ok"
    )


def progress_line(tally: Tally, stats: Stats, width: int) -> tuple[str, int, str]:
    """The rich line in ``width`` columns: (label, bar width, figures).

    Done/total, percentage, rows/s, ETA and not-ok count always show; the ceiling, 429s,
    retries and calls come next as room allows, then the label, and the bar takes what is
    left (none under 10 columns): decoration goes first.
    """
    done, pct = _done_pct(tally)
    rate = fmt_rate(tally.rate())
    head = f"{done}/{tally.total} {pct:.0f}%"
    tail = [f"ETA {_fmt_eta(tally.eta())}", f"{tally.failures} not ok"]

    def text(ceiling: bool, extras: list[str]) -> str:
        rows_s = f"{rate}/{_ceiling(tally)} rows/s" if ceiling else f"{rate} rows/s"
        return " · ".join([head, rows_s, *tail, *extras])

    ceiling = len(text(True, [])) <= width
    kept: list[str] = []
    for extra in (f"{stats.rate_limited} 429s", f"{stats.retries} retries", f"{stats.calls} calls"):
        if len(text(ceiling, [*kept, extra])) <= width:
            kept.append(extra)
    line = text(ceiling, kept)
    label = "importing "
    room = width - len(line) - 1
    if room - len(label) < _BAR_MIN:
        label = ""
    bar = room - len(label)
    return label, bar if bar >= _BAR_MIN else 0, line


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


class _Line:
    """A renderable that lays the progress line out in the console's width."""

    def __init__(self, tally: Tally, stats: Stats | None) -> None:
        self.tally = tally
        self.stats = stats

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        from rich.text import Text

        stats = self.stats or Stats({}, 0, 0, 0, 0, 0.0)
        label, bar, figures = progress_line(self.tally, stats, options.max_width)
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(label)
        if bar:
            _, pct = _done_pct(self.tally)
            filled = round(bar * min(pct, 100.0) / 100.0)
            line.append("━" * filled, style="bar.complete")
            line.append("━" * (bar - filled), style="bar.back")
            line.append(" ")
        line.append(figures)
        yield line


class RichDisplay(Display):
    """A live line with the same figures on a terminal, laid out for its width."""

    def __init__(self, out: TextIO, *, width: int | None = None) -> None:
        super().__init__(out)
        from rich.console import Console
        from rich.live import Live

        self._line = _Line(Tally(), None)
        console = Console(file=out, width=width)
        self._live = Live(self._line, console=console, auto_refresh=False, transient=False)

    def start(self, tally: Tally) -> None:
        """Show the line."""
        self._line.tally = tally
        self._live.start(refresh=True)

    def update(self, tally: Tally, stats: Stats) -> None:
        """Redraw the line."""
        self._line.tally, self._line.stats = tally, stats
        self._live.refresh()

    def stop(self, tally: Tally, stats: Stats) -> None:
        """Leave the final line on screen."""
        self.update(tally, stats)
        self._live.stop()


def make_display(out: TextIO, *, plain: bool) -> Display:
    """A rich display on a terminal (when rich is installed), plain lines otherwise."""
    if not plain and out.isatty():
        try:
            return RichDisplay(out)
        except ImportError:  # the cli extra is not installed
            pass
    return Display(out)
