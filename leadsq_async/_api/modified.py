"""The spec of ``Leads.RecentlyModified``: one page of the leads modified in a range.

The client reads pages itself (``leads_modified``) as ordinary rows of the batcher: each is
announced, limited on the general budget, retried and counted like any lookup, and gives up
under the quota's reserve like any bulk work. It is no operation callers submit, so it has
no road in the registry: the client queues it with this spec directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

import attrs

from .answers import WireError, read_key
from .lead import Lead
from .lookups import read_lead
from .operations import Operation, Priority, Result
from .ranges import PageQuery, to_ms
from .spec import Decoded, Endpoint, Row

__all__ = ["KEY_COLUMNS", "LEADS_RECENTLY_MODIFIED", "ModifiedPage", "ReadModifiedPage"]

#: The columns every page asks for, whatever the caller's: the key of each lead.
KEY_COLUMNS = ("ProspectID", "ModifiedOn", "ProspectAutoId")
_NO_ITEMS: dict[str, Any] = {}
_WIRE_DATE = "%Y-%m-%d %H:%M:%S"
_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1)  # naive: the service's dates are UTC without an offset
_MILLISECOND = dt.timedelta(milliseconds=1)


@attrs.frozen
class ReadModifiedPage:
    """The client's own row asking for one page of a range (its result: a
    ``ModifiedPage``). Hooks see it in ``CallEvent.operations``."""

    query: PageQuery
    columns: tuple[str, ...]
    priority: Priority | None = attrs.field(default=Priority.BULK, kw_only=True)


@attrs.frozen
class ModifiedPage:
    """One page's answer: the range's RecordCount, its leads and each lead's key
    (ModifiedOn in milliseconds since the epoch, ProspectAutoId)."""

    count: int
    leads: tuple[Lead, ...]
    keys: tuple[tuple[int, int], ...]


def _wire_date(second: int) -> str:
    return dt.datetime.fromtimestamp(second, _UTC).strftime(_WIRE_DATE)


def _flat(entry: object) -> dict[str, object]:
    """One answered lead's ``LeadPropertyList`` as a plain object."""
    if not isinstance(entry, dict):
        raise WireError(f"expected a lead object, got {type(entry).__name__}")
    pairs = entry.get("LeadPropertyList")
    if not isinstance(pairs, list):
        raise WireError("a lead of the answer has no LeadPropertyList")
    out: dict[str, object] = {}
    for pair in pairs:
        if isinstance(pair, dict) and isinstance(pair.get("Attribute"), str):
            out[pair["Attribute"]] = pair.get("Value")
    return out


def _key(lead: Lead) -> tuple[int, int]:
    """The lead's (ModifiedOn in milliseconds, ProspectAutoId)."""
    fields = lead.fields
    when, auto = fields.get("ModifiedOn"), fields.get("ProspectAutoId")
    try:
        if when is not None and auto is not None and auto.isdigit():
            # The usual spelling and form ("2026-11-01 07:40:18.000"): read it directly.
            stamp = dt.datetime.fromisoformat(when)
            if stamp.tzinfo is None:
                return (stamp - _EPOCH) // _MILLISECOND, int(auto)
        moment, number = lead.datetime("ModifiedOn"), lead.integer("ProspectAutoId")
    except ValueError as error:
        raise WireError(f"lead {lead.lead_id}: {error}") from None
    if moment is None or number is None:
        raise WireError(f"lead {lead.lead_id} comes without ModifiedOn or ProspectAutoId")
    return to_ms(moment, "ModifiedOn"), number


class LeadsRecentlyModified(Endpoint):
    """``Leads.RecentlyModified``: one page of a range, one row a call (a read)."""

    name = "Leads.RecentlyModified"
    max_rows = 1
    bulk = False
    commutes = "lookup"

    def prepare(self, op: ReadModifiedPage) -> Row:
        return Row(cast(Operation, op), (self.name,), _NO_ITEMS, ())

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        (row,) = rows
        op = cast(ReadModifiedPage, row.op)
        query = op.query
        return {}, {
            "Parameter": {
                "FromDate": _wire_date(query.from_second),
                "ToDate": _wire_date(query.to_second),
            },
            "Columns": {"Include_CSV": ",".join(op.columns)},
            "Paging": {"PageIndex": query.page_index, "PageSize": query.page_size},
            # "0": oldest first; a page by time then holds every lead before its last second.
            "Sorting": {"ColumnName": query.sort, "Direction": "0"},
        }

    def decode(self, rows: Sequence[Row], data: object) -> list[Decoded]:
        if not isinstance(data, dict):
            raise WireError(f"expected a JSON object, got {type(data).__name__}")
        count = read_key(data, "RecordCount", int)
        if count is None:
            raise WireError("the answer has no RecordCount")
        raw = data.get("Leads")
        if raw is None and count == 0:
            raw = []
        if not isinstance(raw, list):
            raise WireError("the answer has no list of Leads")
        leads: list[Lead] = []
        keys: list[tuple[int, int]] = []
        for entry in raw:
            lead = read_lead(_flat(entry))
            if lead is None:
                raise WireError("a lead of the answer names no ProspectID")
            leads.append(lead)
            keys.append(_key(lead))
        page = ModifiedPage(count, tuple(leads), tuple(keys))
        # A row's outcome is a Result; this one's is the page the client asked for.
        return [cast(Result, page) for _ in rows]


LEADS_RECENTLY_MODIFIED = LeadsRecentlyModified()
