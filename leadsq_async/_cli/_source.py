"""Reading the input file lazily: CSV or JSON Lines rows, each with its line number."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
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

__all__ = ["OPS", "ParseError", "Row", "build_operation", "count_rows", "detect_format", "rows"]

#: The operations ``import --op`` accepts.
OPS = ("create", "upsert", "update")


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


def _open(path: Path) -> Iterator[str]:
    # surrogateescape: a byte that is not UTF-8 becomes a per-row ValidationError, not a crash
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        yield from handle


def _put(fields: Fields, name: str, value: FieldValue) -> None:
    """Store ``value`` under ``name``; ``mx_Set.Field`` goes into the custom field set."""
    base, dot, inner = name.partition(".")
    if not dot or not base or not inner:
        held = fields.get(name)
        if isinstance(held, CustomFieldSet) and isinstance(value, str):
            fields[name] = CustomFieldSet(fields=held.fields, value=value)
        else:
            fields[name] = value
        return
    held = fields.get(base)
    if isinstance(held, CustomFieldSet):
        fields[base] = CustomFieldSet(fields={**held.fields, inner: value}, value=held.value)
    else:
        outer = held if isinstance(held, str) else ""
        fields[base] = CustomFieldSet(fields={inner: value}, value=outer)


def _csv_rows(path: Path) -> Iterator[Row]:
    reader = csv.reader(_open(path), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ParseError(f"the header line does not parse: {exc}") from None
    names = [name.strip() for name in header]
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
            if value != "":  # an empty cell sends nothing (it does not clear the field)
                _put(fields, name, value)
        yield Row(start, fields)


def _json_value(value: object) -> FieldValue:
    if isinstance(value, dict):
        inner: Fields = {}
        for key, item in value.items():
            inner[key] = item if isinstance(item, _JSON_SCALARS) else str(item)
        return CustomFieldSet(fields=inner)
    if isinstance(value, _JSON_SCALARS):
        return value
    raise ParseError(f"unsupported JSON value of type {type(value).__name__}")


def _jsonl_rows(path: Path) -> Iterator[Row]:
    for number, text in enumerate(_open(path), start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except ValueError as exc:
            yield Row(number, error=ParseError(f"line is not valid JSON: {exc}"))
            continue
        if not isinstance(data, dict):
            kind = type(data).__name__
            yield Row(number, error=ParseError(f"expected a JSON object, got {kind}"))
            continue
        fields: Fields = {}
        try:
            for name, value in data.items():
                _put(fields, name, _json_value(value))
        except ParseError as exc:
            yield Row(number, error=ParseError(f"{name}: {exc}"))
            continue
        yield Row(number, fields)


def rows(path: Path, fmt: str) -> Iterator[Row]:
    """Every row of ``path``, read lazily."""
    return _jsonl_rows(path) if fmt == "jsonl" else _csv_rows(path)


def count_rows(path: Path, fmt: str) -> int:
    """How many rows ``rows()`` will give (one streaming pass)."""
    return sum(1 for _ in rows(path, fmt))


def build_operation(op: str, fields: Fields, search_by: str | None) -> Operation:
    """The client operation for one row."""
    if op == "create":
        return CreateLead(fields, priority=Priority.BULK)
    if op == "upsert":
        return UpsertLead(fields, search_by, priority=Priority.BULK)
    return UpdateLead(fields, search_by or "EmailAddress", priority=Priority.BULK)
