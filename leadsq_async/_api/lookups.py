"""The lookup specs: leads by id (coalesced), by email, by phone. The general budget only.

Lookups are reads: idempotent (retried like updates), not bulk APIs, and they commute with
one another. Each row names its lead in its identities, so a lookup submitted after a write
of the same lead waits for that write, and identical lookups waiting together are merged
into one row whose answer every caller gets.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from .._errors import ResponseMismatchError, ValidationError
from .answers import WireError, read_key
from .encoding import check_attribute, encode_value
from .lead import Lead
from .operations import FindLead, GetLead
from .spec import UNANSWERED, Decoded, Endpoint, Road, Row, RowOutcome, check_lead_id, identity

__all__ = [
    "DEFAULT_LEAD_COLUMNS",
    "LEADS_BY_EMAIL",
    "LEADS_BY_IDS",
    "LEADS_BY_PHONE",
    "LEADS_GET_BY_ID",
    "ROADS",
    "find_route",
]

#: The fields ``get_lead`` fetches unless told otherwise (``Retrieve/ByIds`` needs a list).
DEFAULT_LEAD_COLUMNS = (
    "ProspectID",
    "FirstName",
    "LastName",
    "EmailAddress",
    "Phone",
    "Mobile",
    "Company",
    "Source",
    "ProspectStage",
    "OwnerId",
    "CreatedOn",
    "ModifiedOn",
)
_ID_KEY = "prospectid"
_NO_ITEMS: dict[str, Any] = {}  # lookups carry no fields; one shared empty dict
_PHONE_CHARACTERS = frozenset("0123456789 +-().")
_UNREADABLE = "an entry of the answer could not be read; it may be this lead"


def _canonical_id(value: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return value.strip().casefold()


def read_lead(entry: object) -> Lead | None:
    """One lead of an answer, or None if it is no object or names no lead id.

    Values stay as sent; ``null`` leaves the field out, and any other non-string (which the
    service is not known to send) is kept as its JSON text.
    """
    if not isinstance(entry, dict):
        return None
    lead_id: str | None = None
    fields: dict[str, str] = {}
    for key, value in entry.items():
        if not isinstance(key, str) or value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        fields[key] = text
        if key.casefold() == _ID_KEY and text.strip():
            lead_id = _canonical_id(text)
    return None if lead_id is None else Lead(lead_id, fields)


def _lead_list(data: object) -> list[Any]:
    if not isinstance(data, list):
        raise WireError(f"expected a JSON array of leads, got {type(data).__name__}")
    return data


def check_columns(columns: Sequence[str] | None) -> tuple[str, ...]:
    """The columns to fetch (``ProspectID`` added when missing), checked at the call."""
    if columns is None:
        columns = DEFAULT_LEAD_COLUMNS
    if not columns:
        raise ValidationError("columns", "must name at least one field")
    checked: list[str] = []
    seen: set[str] = set()
    for column in columns:
        name = check_attribute(column, "columns").strip()
        if "," in name:
            raise ValidationError("columns", f"{name!r}: a schema name has no comma")
        if name.casefold() not in seen:
            seen.add(name.casefold())
            checked.append(name)
    if _ID_KEY not in seen:
        checked.insert(0, "ProspectID")
    return tuple(checked)


def _trimmed(lead: Lead, columns: tuple[str, ...]) -> Lead:
    """``lead`` with only ``columns``: the same fields whichever road the lookup took."""
    wanted = {column.casefold() for column in columns}
    fields = {k: v for k, v in lead.fields.items() if k.casefold() in wanted}
    return lead if len(fields) == len(lead.fields) else Lead(lead.lead_id, fields)


def _same_lookup(older: Row, newer: Row) -> Row | None:
    if older.group == newer.group and older.identities == newer.identities:
        return older  # the same question: one row, one answer for every caller
    return None


class LeadsByIds(Endpoint):
    """``Leads/Retrieve/ByIds``: up to a page of ids a call, leads matched back by id.

    A call asks for one page as large as the call; if the answer says there are more
    records than it holds, the ids it did not hold go again in another call.
    """

    name = "Leads/Retrieve/ByIds"
    max_rows = 1000
    bulk = False
    commutes = "lookup"

    def prepare(self, op: GetLead) -> Row:
        lead_id = check_lead_id(op.lead_id)
        columns = check_columns(op.columns)
        return Row(op, (self.name, columns), _NO_ITEMS, (identity("ProspectId", lead_id),), lead_id)

    def carrier(self, rows: Sequence[Row]) -> Endpoint:
        return LEADS_GET_BY_ID if len(rows) == 1 else self

    def merge(self, older: Row, newer: Row) -> Row | None:
        return _same_lookup(older, newer)

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        columns: tuple[str, ...] = rows[0].group[1]  # type: ignore[index]
        return {}, {
            "SearchParameters": {"LeadIds": [row.key_value for row in rows]},
            "Columns": {"Include_CSV": ",".join(columns)},
            "Paging": {"PageIndex": 1, "PageSize": self.max_rows},
        }

    def decode(self, rows: Sequence[Row], data: object) -> list[Decoded]:
        if not isinstance(data, dict):
            raise WireError(f"expected a JSON object, got {type(data).__name__}")
        count = read_key(data, "RecordCount", int)
        raw = data.get("Leads")
        leads = [] if raw is None and count == 0 else _lead_list(raw)
        found: dict[str, Lead] = {}
        unreadable = False
        for entry in leads:
            lead = read_lead(entry)
            if lead is None:
                unreadable = True
            else:
                found[lead.lead_id] = lead
        more = count is not None and count > len(leads)
        columns: tuple[str, ...] = rows[0].group[1] if rows else ()  # type: ignore[index]
        out: list[Decoded] = []
        for row in rows:
            lead = found.get(row.key_value or "")
            if lead is not None:
                out.append(_trimmed(lead, columns))
            elif unreadable:
                out.append(ResponseMismatchError(_UNREADABLE))
            elif more:
                out.append(UNANSWERED)
            else:
                out.append(None)
        return out


class LeadsGetById(Endpoint):
    """``Leads.GetById?id=``: the road of a lone lookup by id (trimmed to its columns)."""

    name = "Leads.GetById"
    max_rows = 1
    bulk = False
    method = "GET"
    commutes = "lookup"

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        (row,) = rows
        return {"id": row.key_value or ""}, None

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        (row,) = rows
        leads = _lead_list(data)
        if not leads:
            return [None]
        lead = read_lead(leads[0])
        if lead is None:
            raise WireError("the answer's lead is not readable")
        if lead.lead_id != row.key_value:
            return [ResponseMismatchError("the answer is another lead than the one asked for")]
        return [_trimmed(lead, row.group[1])]  # type: ignore[index]


class _FindLead(Endpoint):
    """A lookup by one unique value: the first lead of the answer, or None for ``[]``."""

    max_rows = 1
    bulk = False
    method = "GET"
    commutes = "lookup"
    parameter: str

    def merge(self, older: Row, newer: Row) -> Row | None:
        return _same_lookup(older, newer)

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        (row,) = rows
        return {self.parameter: row.key_value or ""}, None

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        leads = _lead_list(data)
        if not leads:
            return [None]
        lead = read_lead(leads[0])
        if lead is None:
            raise WireError("the answer's lead is not readable")
        return [lead]


class LeadsByEmail(_FindLead):
    """``Leads.GetByEmailaddress?emailaddress=``: EmailAddress compared without case."""

    name = "Leads.GetByEmailaddress"
    parameter = "emailaddress"

    def prepare(self, op: FindLead) -> Row:
        if not isinstance(op.email, str):
            raise ValidationError("email", "must be a string")
        email = encode_value("email", op.email).strip()
        if not email or "@" not in email or any(c.isspace() for c in email):
            raise ValidationError("email", f"must be an email address, got {email[:60]!r}")
        return Row(op, (self.name,), _NO_ITEMS, (identity("EmailAddress", email),), email)


class LeadsByPhone(_FindLead):
    """``RetrieveLeadByPhoneNumber?phone=``: digits only; matches Phone and Mobile."""

    name = "RetrieveLeadByPhoneNumber"
    parameter = "phone"

    def prepare(self, op: FindLead) -> Row:
        if isinstance(op.phone, bool) or not isinstance(op.phone, (str, int)):
            raise ValidationError("phone", "must be a string of digits")
        text = encode_value("phone", op.phone)
        if not set(text) <= _PHONE_CHARACTERS:
            raise ValidationError("phone", f"must be a phone number, got {text[:60]!r}")
        digits = "".join(c for c in text if c.isdigit())
        if not digits:
            raise ValidationError("phone", "must hold digits")
        identities = (identity("Phone", digits), identity("Mobile", digits))
        return Row(op, (self.name,), _NO_ITEMS, identities, digits)


LEADS_BY_IDS = LeadsByIds()
LEADS_GET_BY_ID = LeadsGetById()
LEADS_BY_EMAIL = LeadsByEmail()
LEADS_BY_PHONE = LeadsByPhone()


def find_route(op: FindLead) -> Endpoint:
    """The endpoint of a ``FindLead``: by email or by phone (exactly one given)."""
    given = [name for name in ("email", "phone") if getattr(op, name) is not None]
    if len(given) != 1:
        raise ValidationError("email", "give exactly one of email or phone")
    return LEADS_BY_EMAIL if given[0] == "email" else LEADS_BY_PHONE


#: The operations these specs carry.
ROADS = (
    Road(GetLead, LEADS_BY_IDS, singles=(LEADS_GET_BY_ID,)),
    Road(FindLead, LEADS_BY_EMAIL, find_route, choices=(LEADS_BY_PHONE,)),
)
