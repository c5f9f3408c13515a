"""Reading the input file lazily: CSV or JSON Lines rows, each with its line number.

``Source.scan()`` is the pre-pass: it decodes the whole file, checks the header (or, for
JSON Lines, that some line has the keys the operation needs) and counts the rows, so that a
problem of the whole file is one message before the first call.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Union

import attrs

from .. import (
    CreateLead,
    CustomFieldSet,
    FieldValue,
    Operation,
    Priority,
    UpdateLead,
    UpsertLead,
)
from ._activity import ActivityRowError, activity_operation
from ._header import KeyCoverage, check_header, put
from ._text import DEFAULT_ENCODING, InputError, delimiter_name, sniff_delimiter, text_lines

__all__ = [
    "OPS",
    "InputError",
    "ParseError",
    "Row",
    "Source",
    "build_operation",
    "default_results",
    "detect_format",
    "json_fields",
]

#: The operations ``import --op`` accepts.
OPS = ("create", "upsert", "update", "activity")


class ParseError(Exception):
    """An input line that could not be read as a row."""


@attrs.frozen
class Row:
    """One input row: its first line number in the file, and its fields or why it is bad."""

    line: int
    fields: dict[str, FieldValue] | None = None
    error: ParseError | None = None


Fields = dict[str, FieldValue]
_JSON_SCALARS = (str, int, float, bool, type(None))
JsonValue = Union[str, int, float, bool, None]


def detect_format(path: Path, forced: str | None) -> str:
    """``csv`` or ``jsonl``: the ``--format`` given, else from the file name."""
    if forced:
        return forced
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "csv"


def default_results(path: Path) -> Path:
    """The results file beside the input: ``leads.csv`` → ``leads.results.jsonl``."""
    return path.with_name(path.stem + ".results.jsonl")


@attrs.frozen
class Scan:
    """What the pre-pass found: the rows, and for CSV the delimiter used."""

    rows: int
    delimiter: str | None = None


@attrs.frozen
class Source:
    """The input file as ``import`` reads it, and the operation its rows are for."""

    path: Path
    fmt: str
    op: str = "create"
    search_by: str | None = None
    encoding: str = DEFAULT_ENCODING
    delimiter: str | None = None  # None: sniffed from the header line
    strip: bool = True
    event: int | None = None  # --event: the activity event code of rows without one

    def rows(self) -> Iterator[Row]:
        """Every row, read lazily; ``InputError`` for a problem of the whole file."""
        return self._jsonl_rows() if self.fmt == "jsonl" else self._csv_rows()

    def scan(self, each: Callable[[Row], None] | None = None) -> Scan:
        """Read the whole file once: decode it, check its columns, count its rows.

        ``each`` sees every row. Raises ``InputError`` naming the file (and the line).
        """
        coverage = KeyCoverage(self.op, self.search_by)
        count = 0
        for row in self.rows():
            count += 1
            if row.fields is not None and self.fmt == "jsonl":
                coverage.see(row.fields)
            if each is not None:
                each(row)
        coverage.check(str(self.path))
        return Scan(count, self.used_delimiter() if self.fmt == "csv" else None)

    def used_delimiter(self) -> str:
        """The CSV delimiter: ``--delimiter``, else sniffed from the header line."""
        if self.delimiter is not None:
            return self.delimiter
        first = next(text_lines(self.path, self.encoding), "")
        return sniff_delimiter(first)

    def _csv_rows(self) -> Iterator[Row]:
        lines = text_lines(self.path, self.encoding)
        first = next(lines, None)
        if first is None or not first.strip():
            raise InputError(f"{self.path} line 1: no header line (a CSV starts with one)")
        delimiter = self.delimiter or sniff_delimiter(first)
        reader = csv.reader(itertools.chain([first], lines), delimiter=delimiter, strict=True)
        try:
            header = next(reader)
        except csv.Error as exc:
            raise InputError(f"{self.path} line 1: the header does not parse: {exc}") from None
        names = [name.strip() for name in header]
        where = f"{self.path} line 1 (delimiter {delimiter_name(delimiter)!r})"
        check_header(names, self.op, self.search_by, where, self.event)
        end = reader.line_num
        while True:
            start = end + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Row(start, error=ParseError(f"CSV line does not parse: {exc}"))
                end = start
                continue
            end = reader.line_num
            if not record:  # a blank line
                continue
            if len(record) != len(names):
                problem = ParseError(f"the row has {len(record)} values, the header {len(names)}")
                yield Row(start, error=problem)
                continue
            fields: Fields = {}
            for name, value in zip(names, record, strict=True):
                if self.strip:
                    value = value.strip()
                if value != "":  # an empty cell sends nothing (it does not clear the field)
                    put(fields, name, value)
            yield Row(start, fields)

    def _jsonl_rows(self) -> Iterator[Row]:
        for number, text in enumerate(text_lines(self.path, self.encoding), start=1):
            if not text.strip():
                continue
            try:
                data = json.loads(text, object_pairs_hook=_no_repeats)
            except ValueError as exc:
                yield Row(number, error=ParseError(f"line is not valid JSON: {exc}"))
                continue
            if not isinstance(data, dict):
                kind = type(data).__name__
                yield Row(number, error=ParseError(f"expected a JSON object, got {kind}"))
                continue
            try:
                fields = json_fields(data)
            except ParseError as exc:
                yield Row(number, error=exc)
                continue
            yield Row(number, fields)


def json_fields(data: dict[str, object]) -> Fields:
    """A JSON object's keys and values as a row's fields (``ParseError`` naming the key)."""
    fields: Fields = {}
    for name, value in data.items():
        try:
            put(fields, name, _json_value(value))
        except ParseError as exc:
            raise ParseError(f"{name}: {exc}") from None
    return fields


def _no_repeats(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice")
        out[key] = value
    return out


def _json_value(value: object) -> FieldValue:
    if isinstance(value, dict):
        inner: Fields = {}
        for key, item in value.items():
            inner[key] = item if isinstance(item, _JSON_SCALARS) else str(item)
        return CustomFieldSet(fields=inner)
    if isinstance(value, _JSON_SCALARS):
        return value
    raise ParseError(f"unsupported JSON value of type {type(value).__name__}")


def build_operation(
    op: str, fields: Fields, search_by: str | None, event: int | None = None
) -> Operation:
    """The client operation for one row (``ParseError`` for an activity row that cannot be)."""
    if op == "activity":
        try:
            return activity_operation(fields, event)
        except ActivityRowError as exc:
            raise ParseError(str(exc)) from None
    if op == "create":
        return CreateLead(fields, priority=Priority.BULK)
    if op == "upsert":
        return UpsertLead(fields, search_by, priority=Priority.BULK)
    return UpdateLead(fields, search_by or "EmailAddress", priority=Priority.BULK)
