"""The results file (one JSON line per input row) and what ``--resume`` reads back from it.

Each row's line is written and flushed as the row finishes. For creates and activities,
which must never be sent twice, a side journal (``RESULTS.sent``) records each row's line
number just before the HTTP call carrying it leaves; a row in the journal with no line in the
results file was in flight when the run died, so ``--resume`` reports it as
``unknown_outcome`` instead of resending it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import attrs

from .. import (
    ActivityPosted,
    LeadCreated,
    LeadNotFoundError,
    LeadRejectedError,
    LeadUpdated,
    LeadUpserted,
    OutcomeUnknownError,
    Result,
    ValidationError,
)
from ._source import ParseError

__all__ = [
    "FINAL",
    "STATUSES",
    "Earlier",
    "Journal",
    "ResultsFile",
    "ResumeState",
    "classify",
    "journal_path",
    "keep_latest",
    "prepare_resume",
]

#: Every status a results line may carry.
STATUSES = ("ok", "rejected", "not_found", "unknown_outcome", "error")
#: Statuses that end a row for ``--resume`` (``unknown_outcome`` too, unless retried).
FINAL = frozenset({"ok", "rejected", "not_found", "unknown_outcome"})
_CODE = {name: code for code, name in enumerate(STATUSES, start=1)}


def classify(result: Result | None, error: BaseException | None) -> dict[str, Any]:
    """The status, LeadId, error type and reason of one finished row."""
    if error is None:
        lead_id = None
        if isinstance(result, (LeadCreated, LeadUpserted, LeadUpdated)):
            lead_id = result.lead_id
        line: dict[str, Any] = {
            "status": "ok",
            "lead_id": lead_id,
            "error_type": None,
            "reason": None,
        }
        if isinstance(result, LeadCreated) and result.reconciled:
            line["reconciled"] = True  # the answer was lost; the lead was found by a lookup
        if isinstance(result, ActivityPosted):
            line["activity_id"] = result.activity_id
        return line
    if isinstance(error, LeadNotFoundError):
        status = "not_found"
    elif isinstance(error, (LeadRejectedError, ValidationError, ParseError)):
        status = "rejected"
    elif isinstance(error, OutcomeUnknownError):
        status = "unknown_outcome"
    else:
        status = "error"
    return {
        "status": status,
        "lead_id": None,
        "error_type": type(error).__name__,
        "reason": str(error) or type(error).__name__,
    }


def journal_path(results: Path) -> Path:
    """Where the in-flight journal of ``results`` lives."""
    return results.with_name(results.name + ".sent")


def _read_lines(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The parsable JSON objects of ``path`` with their text (a torn last line is skipped)."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for text in handle:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, dict) and isinstance(data.get("line"), int):
                yield text if text.endswith("\n") else text + "\n", data


class ResumeState:
    """The last status of each input line, one byte per line (memory stays small)."""

    def __init__(self) -> None:
        self._codes = bytearray()

    def set(self, line: int, status: str) -> None:
        """Remember ``status`` as the latest for ``line``."""
        if line >= len(self._codes):
            self._codes.extend(bytes(line + 1 - len(self._codes)))
        self._codes[line] = _CODE.get(status, _CODE["error"])

    def get(self, line: int) -> str | None:
        """The latest status of ``line``, or None."""
        code = self._codes[line] if 0 <= line < len(self._codes) else 0
        return STATUSES[code - 1] if code else None

    def done(self, line: int, retry_unknown: bool) -> bool:
        """True when ``line`` already has a final answer and must be skipped."""
        status = self.get(line)
        if status is None or status == "error":
            return False
        return not (status == "unknown_outcome" and retry_unknown)


@attrs.define
class Earlier:
    """What the results file held before this run: the rows it skips, and how they ended."""

    state: ResumeState = attrs.field(factory=ResumeState)
    in_flight: int = 0
    statuses: Counter[str] = attrs.field(factory=Counter)
    error_types: Counter[str] = attrs.field(factory=Counter)
    #: The error type of each line left ``unknown_outcome`` (few), for rows resumed now.
    unknown_types: dict[int, str] = attrs.field(factory=dict)

    def taken_back(self, line: int) -> None:
        """Line ``line`` is answered again in this run: it no longer counts as earlier's."""
        status = self.state.get(line)
        if status is not None and self.statuses[status] > 0:
            self.statuses[status] -= 1
        kind = self.unknown_types.pop(line, None)
        if kind is not None and self.error_types[kind] > 0:
            self.error_types[kind] -= 1


def prepare_resume(results: Path, *, retry_unknown: bool) -> Earlier:
    """Compact ``results`` to its final lines, settle the journal, and say what to skip.

    Gives the state of each line, how many rows the journal showed in flight when the last
    run died, and the statuses and error types of the lines kept (earlier runs' answers).
    """
    earlier = Earlier()
    state = earlier.state
    for _, data in _read_lines(results):
        state.set(data["line"], str(data.get("status")))
    journal = journal_path(results)
    in_flight: list[int] = []
    for _, data in _read_lines(journal):
        if state.get(data["line"]) is None:
            in_flight.append(data["line"])
    temp = results.with_name(results.name + ".tmp")
    written = ResumeState()
    with temp.open("w", encoding="utf-8") as out:
        for text, data in _read_lines(results):
            line = data["line"]
            final = state.done(line, retry_unknown) and written.get(line) is None
            if final and data.get("status") == state.get(line):
                out.write(text)
                written.set(line, "ok")
                earlier.statuses[str(state.get(line))] += 1
                if data.get("error_type"):
                    earlier.error_types[str(data["error_type"])] += 1
                    if data.get("status") == "unknown_outcome":
                        earlier.unknown_types[line] = str(data["error_type"])
        for line in sorted(set(in_flight)):
            if not retry_unknown:
                entry = {
                    "line": line,
                    "status": "unknown_outcome",
                    "lead_id": None,
                    "error_type": "OutcomeUnknownError",
                    "reason": "the previous run stopped while this row was in flight; "
                    "it may have been applied",
                }
                out.write(json.dumps(entry) + "\n")
                state.set(line, "unknown_outcome")
                earlier.statuses["unknown_outcome"] += 1
                earlier.error_types["OutcomeUnknownError"] += 1
                earlier.unknown_types[line] = "OutcomeUnknownError"
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, results)
    journal.unlink(missing_ok=True)
    earlier.in_flight = len(set(in_flight))
    return earlier


def keep_latest(results: Path) -> None:
    """Rewrite ``results`` with one line per row, its latest (rows answered again this run)."""
    latest: dict[int, str] = {}
    for text, data in _read_lines(results):
        latest[data["line"]] = text
    temp = results.with_name(results.name + ".tmp")
    with temp.open("w", encoding="utf-8") as out:
        out.writelines(latest[line] for line in sorted(latest))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, results)


class ResultsFile:
    """Appends one flushed JSON line per finished row."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self._handle: IO[str] = path.open("a" if append else "w", encoding="utf-8")

    def write(self, line: int, outcome: dict[str, Any]) -> None:
        """Write and flush the line of one finished row."""
        self._handle.write(json.dumps({"line": line, **outcome}) + "\n")
        self._handle.flush()

    def sync(self) -> None:
        """Put every line written so far on disk."""
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


class Journal:
    """Line numbers of rows whose call is about to leave (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def sent(self, lines: list[int]) -> None:
        """Record that the rows of these lines are being sent, on disk before the call leaves."""
        if lines:
            self._handle.write("".join(json.dumps({"line": n}) + "\n" for n in lines))
            self.sync()

    def sync(self) -> None:
        """Put every line written so far on disk."""
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self, *, remove: bool) -> None:
        """Close the journal; remove it when every row it names was answered."""
        self._handle.close()
        if remove:
            self.path.unlink(missing_ok=True)
