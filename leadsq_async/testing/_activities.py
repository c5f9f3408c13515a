"""The activity endpoints' semantics: one activity, or up to 25 in a bulk call.

An activity names its lead by ``RelatedProspectId`` (``EmailAddress`` too for the single
``Create``, which then creates a missing lead), or by ``SearchByValue`` in the field the
``searchBy`` parameter names (``ByLeadField``). A bulk call answers
``{"Response": [{"RowNumber": n, "ProspectActivityId": ...}, ...]}``; a row whose lead does not
exist carries an error instead of an id, as failed rows of ``Lead/Bulk/Create`` do.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from ._leads_single import create_one
from ._store import EMAIL
from ._wire import Outcome, Reject, bad, nonblank, row_error

if TYPE_CHECKING:
    from ._store import LeadStore

__all__ = ["MAX_ACTIVITIES", "activity_create", "bulk_by_lead_field", "bulk_by_lead_id"]

MAX_ACTIVITIES = 25
"""The most activities one bulk call may carry."""
_NOT_FOUND = "MXInvalidEntityException"
_INVALID = "MXInvalidInputException"


def _activity(item: object, where: str) -> dict[str, object]:
    """The stored form of one activity object (its lead aside). Raises ``Reject``."""
    if not isinstance(item, dict):
        raise bad(f"{where}: expected an activity object")
    event = item.get("ActivityEvent")
    if isinstance(event, bool) or not isinstance(event, int):
        raise bad(f"{where}: ActivityEvent must be an integer event code")
    record: dict[str, object] = {"ActivityEvent": event}
    note = item.get("ActivityNote")
    if note is not None:
        if not isinstance(note, str):
            raise bad(f"{where}: ActivityNote must be a string")
        record["ActivityNote"] = note
    when = item.get("ActivityDateTime")
    if when is None:
        when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if not isinstance(when, str):
        raise bad(f"{where}: ActivityDateTime must be a string")
    try:
        dt.datetime.strptime(when, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise Reject(
            500, _INVALID, f"ActivityDateTime {when!r} is not YYYY-MM-DD HH:MM:SS"
        ) from None
    record["ActivityDateTime"] = when
    fields: dict[str, str] = {}
    raw = item.get("Fields", [])
    if not isinstance(raw, list):
        raise bad(f"{where}: Fields must be a list of SchemaName/Value objects")
    for n, field in enumerate(raw):
        name = field.get("SchemaName") if isinstance(field, dict) else None
        value = field.get("Value") if isinstance(field, dict) else None
        if not isinstance(name, str) or not name.strip() or not isinstance(value, str):
            raise bad(f"{where}.Fields[{n}]: expected SchemaName and Value strings")
        fields[name] = value
    record["Fields"] = fields
    return record


def _missing(value: str) -> Reject:
    return Reject(500, _NOT_FOUND, f"Lead {value} does not exist")


def activity_create(store: LeadStore, body: object) -> Outcome:
    """``ProspectActivity.svc/Create``: one activity; ``{"Status":"Success","Message":{"Id"}}``."""
    record = _activity(body, "body")
    assert isinstance(body, dict)
    related = nonblank(body.get("RelatedProspectId"))
    email = nonblank(body.get(EMAIL))
    if related is not None:
        lead_id = store.lead_id(related)
        if lead_id is None:
            raise _missing(related)
    elif email is not None:
        lead_id = store.owner(EMAIL, email) or create_one(store, {EMAIL: email})
    else:
        raise bad("RelatedProspectId or EmailAddress is required")
    activity_id = store.add_activity(lead_id, record)
    return Outcome({"Status": "Success", "Message": {"Id": activity_id}}, True)


def _rows(body: object) -> list[object]:
    if not isinstance(body, list):
        raise bad("The request body must be a JSON array of activities")
    if not body:
        raise bad("The request body holds no activities")
    if len(body) > MAX_ACTIVITIES:
        raise bad(f"At most {MAX_ACTIVITIES} activities can be posted in one call, got {len(body)}")
    return body


def _bulk(store: LeadStore, body: object, style: str, find: str | None) -> Outcome:
    items = _rows(body)
    records = [_activity(item, f"row {n}") for n, item in enumerate(items, 1)]
    key = "RelatedProspectId" if find is None else "SearchByValue"
    out: list[dict[str, object]] = []
    applied = False
    for number, (item, record) in enumerate(zip(items, records, strict=True), 1):
        assert isinstance(item, dict)
        row: dict[str, object] = {"RowNumber": number}
        value = nonblank(item.get(key))
        if value is None:
            row_error(row, style, _INVALID, f"{key} is missing")
        else:
            lead_id = store.lead_id(value) if find is None else store.find_first(find, value)
            if lead_id is None:
                reject = _missing(value)
                row_error(row, style, reject.exception_type, reject.message)
            else:
                row["ProspectActivityId"] = store.add_activity(lead_id, record)
                applied = True
        out.append(row)
    return Outcome({"Response": out}, applied)


def bulk_by_lead_id(store: LeadStore, body: object, style: str) -> Outcome:
    """``Bulk/CustomActivity/Add/ByLeadId``: each row's lead by its RelatedProspectId."""
    return _bulk(store, body, style, None)


def bulk_by_lead_field(
    store: LeadStore, body: object, query: dict[str, str], style: str
) -> Outcome:
    """``Bulk/CustomActivity/Add/ByLeadField?searchBy=``: each row's lead by SearchByValue."""
    search_by = query.get("searchby", "").strip()
    if not search_by:
        raise bad("The searchBy parameter is required")
    return _bulk(store, body, style, search_by)
