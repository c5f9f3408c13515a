"""The spec of ``LeadsMetaData.Get``: the account's lead fields, read into a ``LeadSchema``.

The client fetches them itself (``schema="account"``) as an ordinary interactive row, so the
fetch is announced, limited on the general budget, retried and counted like any call. It is
no operation callers submit, so it has no road in the registry: the client queues it with
this spec directly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

import attrs

from .answers import WireError
from .operations import Operation, Priority, Result
from .schema import LeadSchema
from .spec import Decoded, Endpoint, Row

__all__ = ["LEADS_METADATA", "GetLeadFields", "LeadsMetaDataGet", "unknown_attribute"]

_NO_ITEMS: dict[str, Any] = {}
#: How a refusal names an attribute the account lacks: the fake's "Invalid Attribute 'mx_X':
#: not a lead field", and the like ("unknown field mx_X", "Invalid SearchBy 'mx_X'"). A
#: refused value ("Invalid value for attribute mx_X") is not one.
_UNKNOWN = re.compile(
    r"\b(?:invalid|unknown|no such)\s+(?:attribute|field|searchby(?:key)?|column)\s*:?\s*"
    r"['\"]?([A-Za-z_][\w.]*)",
    re.IGNORECASE,
)


@attrs.frozen
class GetLeadFields:
    """The client's own row asking for the account's lead fields (its result: a
    ``LeadSchema``). Hooks see it in ``CallEvent.operations``."""

    priority: Priority | None = attrs.field(default=Priority.INTERACTIVE, kw_only=True)


class LeadsMetaDataGet(Endpoint):
    """``LeadsMetaData.Get``: every lead field of the account, one row a call (a read)."""

    name = "LeadsMetaData.Get"
    max_rows = 1
    bulk = False
    method = "GET"
    asker_reports = True  # AccountFields says, once, that rows go unchecked and why

    def prepare(self, op: GetLeadFields) -> Row:
        return Row(cast(Operation, op), (self.name,), _NO_ITEMS, ())

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        return {}, None

    def decode(self, rows: Sequence[Row], data: object) -> list[Decoded]:
        if not isinstance(data, list):
            raise WireError(f"expected a JSON array of fields, got {type(data).__name__}")
        schema = LeadSchema.from_metadata(data)
        if not len(schema):
            raise WireError("the answer names no lead field")
        # A row's outcome is a Result; this one's is the schema the client asked for.
        return [cast(Result, schema) for _ in rows]


LEADS_METADATA = LeadsMetaDataGet()


def unknown_attribute(error: BaseException) -> str | None:
    """The attribute a refusal says the account lacks, if it says so (else None)."""
    text = getattr(error, "reason", None)
    if not isinstance(text, str):
        return None
    match = _UNKNOWN.search(text)
    return match[1] if match else None
