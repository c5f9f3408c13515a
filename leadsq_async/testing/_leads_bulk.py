"""The four bulk lead endpoints' semantics, and the faults that distort their answers.

Under a schema a value its field refuses fails its row alone here (``Lead/Bulk/Update``, one
value for every lead, refuses the call); the fake's ``bad_value_refuses="call"`` refuses the
whole call before it reaches these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._endpoints import BULK_CREATE, BULK_CREATE_OR_UPDATE, BULK_UPDATE, BULK_UPDATE_V2, MAX_ROWS
from ._leads_single import INVALID, create_one, upsert_one, vet
from ._store import EMAIL, LEAD_ID, PHONE
from ._wire import (
    Outcome,
    Reject,
    bad,
    duplicate_message,
    nonblank,
    read_pairs,
    row_error,
)

if TYPE_CHECKING:
    from ._schema import LeadSchema
    from ._store import LeadStore

__all__ = ["bulk_create", "bulk_create_or_update", "bulk_update", "bulk_update_v2", "distort"]

_NOT_FOUND_REASON = (
    "Lead does not exist in the system or You do not have permission to update the lead"
)


def _rows(body: object, endpoint: str) -> list[list[tuple[str, object]]]:
    limit = MAX_ROWS[endpoint]
    if not isinstance(body, list):
        raise bad("The request body must be a JSON array of leads")
    if not body:
        raise bad("The request body holds no leads")
    if len(body) > limit:
        raise bad(f"At most {limit} leads can be sent in one call, got {len(body)}")
    return [read_pairs(row, f"row {n}") for n, row in enumerate(body, 1)]


def bulk_create(
    store: LeadStore, body: object, style: str, schema: LeadSchema | None = None
) -> Outcome:
    """``Lead/Bulk/Create``: one new lead per row; a failed row says why (in ``style``)."""
    out: list[dict[str, object]] = []
    applied = False
    for number, pairs in enumerate(_rows(body, BULK_CREATE), 1):
        row: dict[str, object] = {"RowNumber": number}
        try:
            lead_id = create_one(store, store.canonical(pairs), schema)
        except Reject as reject:
            row["LeadCreated"] = False
            row_error(row, style, reject.exception_type, reject.message)
        else:
            row.update(LeadId=lead_id, LeadCreated=True)
            applied = True
        out.append(row)
    return Outcome(out, applied)


def bulk_create_or_update(
    store: LeadStore, body: object, style: str, schema: LeadSchema | None = None
) -> Outcome:
    """``Lead/Bulk/CreateOrUpdate``: match by ``SearchBy``, else EmailAddress, then Phone."""
    out: list[dict[str, object]] = []
    applied = False
    for number, pairs in enumerate(_rows(body, BULK_CREATE_OR_UPDATE), 1):
        row: dict[str, object] = {"RowNumber": number}
        try:
            lead_id, created = upsert_one(store, store.canonical(pairs), schema)
        except Reject as reject:
            row.update(LeadCreated=False, LeadUpdated=False, AffectedRows=0)
            row_error(row, style, reject.exception_type, reject.message)
        else:
            row.update(LeadId=lead_id, LeadCreated=created, LeadUpdated=not created, AffectedRows=1)
            applied = True
        out.append(row)
    return Outcome(out, applied)


def bulk_update(
    store: LeadStore, body: object, style: str, schema: LeadSchema | None = None
) -> Outcome:
    """``Lead/Bulk/Update``: one field, one value, many LeadIds; only a count comes back."""
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object with LeadIds and LeadFields")
    ids = body.get("LeadIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad("LeadIds must be a list of lead ids")
    if not ids:
        raise bad("LeadIds holds no lead ids")
    if len(ids) > MAX_ROWS[BULK_UPDATE]:
        raise bad(
            f"At most {MAX_ROWS[BULK_UPDATE]} leads can be updated in one call, got {len(ids)}"
        )
    lead_fields = body.get("LeadFields")
    if not isinstance(lead_fields, dict):
        raise bad("LeadFields must be an object with Attribute and Value")
    pairs = read_pairs([lead_fields], "LeadFields")
    if "Attribute" in body or "Value" in body:
        pairs += read_pairs(
            [{"Attribute": body.get("Attribute"), "Value": body.get("Value")}], "LeadType"
        )
    fields = store.canonical(pairs)
    if LEAD_ID in fields:
        raise bad("ProspectID cannot be updated")
    vet(schema, fields)
    existing = list(dict.fromkeys(i for i in (store.lead_id(x) for x in ids) if i is not None))
    for attribute in (EMAIL, PHONE):
        if nonblank(fields.get(attribute)) is None:
            continue
        owner = store.owner(attribute, fields[attribute])
        if len(existing) > 1 or (owner is not None and owner not in existing):
            raise Reject(500, "MXDuplicateEntryException", duplicate_message(attribute))
    for lead_id in existing:
        store.update(lead_id, fields)
    return Outcome(
        {"Status": "Success", "Message": {"AffectedRows": len(existing)}}, bool(existing)
    )


def bulk_update_v2(
    store: LeadStore, body: object, style: str, schema: LeadSchema | None = None
) -> Outcome:
    """``Lead/Bulk/UpdateV2``: many fields, many leads, matched by ``SearchByKey`` or id."""
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object with LeadPropertiesList")
    search_key = body.get("SearchByKey")
    if search_key is not None and not isinstance(search_key, str):
        raise bad("SearchByKey must be a string")
    search_key = nonblank(search_key)
    options = body.get("Options")
    push_unprocessed = False
    if options is not None:
        if not isinstance(options, dict):
            raise bad("Options must be an object")
        flag = options.get("PushNonExistentLeadsToUnProcessedList", False)
        if isinstance(flag, str) and flag.lower() in ("true", "false"):
            flag = flag.lower() == "true"
        if not isinstance(flag, bool):
            raise bad("PushNonExistentLeadsToUnProcessedList must be true or false")
        push_unprocessed = flag
    items = body.get("LeadPropertiesList")
    if not isinstance(items, list):
        raise bad('LeadPropertiesList must be a list of {"Fields": [...]} objects')
    if not items:
        raise bad("LeadPropertiesList holds no leads")
    if len(items) > MAX_ROWS[BULK_UPDATE_V2]:
        raise bad(
            f"At most {MAX_ROWS[BULK_UPDATE_V2]} leads can be updated in one call, got {len(items)}"
        )
    rows: list[list[tuple[str, object]]] = []
    for n, item in enumerate(items, 1):
        if isinstance(item, list):
            raise bad(
                "Cannot deserialize the current JSON array (e.g. [1,2,3]) into type "
                "'LeadPropertiesV2' because the type requires a JSON object "
                '(e.g. {"name":"value"}) to deserialize correctly.'
            )
        if not isinstance(item, dict):
            raise bad(f"LeadPropertiesList[{n - 1}] must be an object with Fields")
        rows.append(read_pairs(item.get("Fields"), f"LeadPropertiesList[{n - 1}].Fields"))

    identifier = search_key or "ProspectId"
    key_name = store.name(search_key) if search_key else LEAD_ID
    successful: list[dict[str, object]] = []
    failed: list[dict[str, object]] = []
    unprocessed: list[dict[str, object]] = []
    for pairs in rows:
        fields = store.canonical(pairs)
        raw = fields.get(key_name)
        if isinstance(raw, dict):
            raw = raw.get("Value")
        value = raw if isinstance(raw, str) else ""
        fields.pop(LEAD_ID, None)
        fields.pop("SearchBy", None)
        entry: dict[str, object] = {"Identifier": identifier, "IdentifierValue": value}
        try:
            vet(schema, fields)
        except Reject as reject:
            entry["Reason"] = f"{INVALID}: {reject.message}"
            failed.append(entry)
            continue
        if not value.strip():
            entry["Reason"] = f"The value of {identifier} is missing for this lead"
            failed.append(entry)
            continue
        lead_id = store.find_first(key_name, value)
        if lead_id is None:
            entry["Reason"] = _NOT_FOUND_REASON
            (unprocessed if push_unprocessed else failed).append(entry)
            continue
        clash = store.conflict(lead_id, fields)
        if clash is not None:
            entry["Reason"] = f"MXDuplicateEntryException: {duplicate_message(clash)}"
            failed.append(entry)
            continue
        store.update(lead_id, fields)
        successful.append(entry)
    status: dict[str, object] = {
        "TotalCount": len(rows),
        "SuccessCount": len(successful),
        "FailureCount": len(failed),
    }
    if push_unprocessed:
        status["UnProcessedCount"] = len(unprocessed)
    status["Message"] = "Processed" if len(successful) == len(rows) else "Error"
    details: dict[str, object] = {}
    for name, entries in (
        ("SuccessfulLeads", successful),
        ("FailedLeads", failed),
        ("UnProcessedLeads", unprocessed),
    ):
        if entries:
            details[name] = entries
    return Outcome({"Status": status, "Details": details}, bool(successful))


def distort(endpoint: str, payload: object, fault: str | None, variant: float) -> bool:
    """Apply omit_rows / change_case to a success payload; False when it does not apply."""
    if endpoint in (BULK_CREATE, BULK_CREATE_OR_UPDATE) and isinstance(payload, list) and payload:
        if fault == "omit_rows":
            del payload[min(int(variant * len(payload)), len(payload) - 1)]
            return True
        changed = False
        for row in payload:
            lead_id = row.get("LeadId")
            if isinstance(lead_id, str):
                row["LeadId"] = lead_id.upper()
                changed = True
        return changed
    if endpoint == BULK_UPDATE_V2 and isinstance(payload, dict):
        details = payload["Details"]
        lists: list[list[dict[str, object]]] = list(details.values())
        flat = [(entries, i) for entries in lists for i in range(len(entries))]
        if not flat:
            return False
        if fault == "omit_rows":
            entries, i = flat[min(int(variant * len(flat)), len(flat) - 1)]
            del entries[i]
            for name in [name for name, value in details.items() if not value]:
                del details[name]
            return True
        for entries, i in flat:
            value = entries[i]["IdentifierValue"]
            if isinstance(value, str):
                if variant < 1 / 3:
                    value = value.upper()
                elif variant < 2 / 3:
                    value = f"  {value} "
                else:
                    value = f" {value.upper()}  "
                entries[i]["IdentifierValue"] = value
        return True
    return False
