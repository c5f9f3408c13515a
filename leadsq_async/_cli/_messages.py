"""The row messages ``consume`` reads: one JSON object per message, naming an operation.

The body of a message is a JSON object (UTF-8)::

    {"op": "create", "fields": {"EmailAddress": "asha@example.com", "FirstName": "Asha"}}
    {"op": "upsert", "fields": {"Phone": "+91-9876543210", "City": "Pune"}, "search_by": "Phone"}
    {"op": "update", "fields": {"EmailAddress": "asha@example.com", "City": "Mumbai"}}
    {"op": "activity", "fields": {"EmailAddress": "asha@example.com", "ActivityEvent": 201}}

``op`` is one of ``import``'s operations (``create``, ``upsert``, ``update``, ``activity``;
it may be left out when ``consume --op`` names it); ``fields`` holds the row's columns exactly
as a JSON Lines row of ``import`` does (a nested object is a custom field set); ``search_by``
is ``import``'s ``--search-by`` for that row (default: the command's); ``event`` is the
activity event code of a row without an ``ActivityEvent`` field. Any other key is refused,
so that a typo is a dead letter naming it rather than a field silently dropped.
"""

from __future__ import annotations

import json

import attrs

from .. import Operation
from ._source import OPS, ParseError, build_operation, json_fields

__all__ = ["KEYS", "MessageError", "Row", "parse_message"]

#: The keys a message may have.
KEYS = frozenset({"op", "fields", "search_by", "event"})


class MessageError(ValueError):
    """A message that is not a row: ``field`` names the key at fault and ``rule`` the rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


@attrs.frozen
class Row:
    """One message's row: its operation name and the client operation built from it."""

    op: str
    operation: Operation


def parse_message(
    body: bytes, op: str | None = None, search_by: str | None = None, event: int | None = None
) -> Row:
    """The row ``body`` carries; ``op``, ``search_by`` and ``event`` are the command's defaults.

    Raises ``MessageError`` naming the key and the rule it breaks.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise MessageError("body", "is not UTF-8 text") from None
    except ValueError as exc:
        raise MessageError("body", f"is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError("body", f"must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise MessageError(unknown[0], f"unknown key (a message has {', '.join(sorted(KEYS))})")
    name = data.get("op", op)
    if name not in OPS:
        raise MessageError("op", f"must be one of {', '.join(OPS)}, got {name!r}")
    fields = data.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise MessageError("fields", "must be a non-empty JSON object of the row's fields")
    search = data.get("search_by", search_by)
    if search is not None and (not isinstance(search, str) or not search.strip()):
        raise MessageError("search_by", "must be a field name")
    if name == "activity" and "search_by" in data:
        raise MessageError("search_by", "does not apply to an activity (its fields name the lead)")
    code = data.get("event", event)
    if code is not None and (type(code) is not int or code < 1):
        raise MessageError("event", "must be a positive whole number")
    try:
        row = json_fields(fields)
        operation = build_operation(name, row, search, code)
    except ParseError as exc:
        raise MessageError("fields", str(exc)) from None
    return Row(name, operation)
