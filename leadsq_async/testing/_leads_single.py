"""The single-lead write endpoints' semantics (one lead a call, the general budget only).

``create_one`` and ``upsert_one`` are also the rules of one row of ``Lead/Bulk/Create`` and
``Lead/Bulk/CreateOrUpdate``: the bulk forms report per row what these raise for the call.
Under a schema they also refuse a value its field refuses and a create missing a mandatory
field (``vet``); a single-lead write fails just that lead, whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._store import EMAIL, LEAD_ID, PHONE
from ._wire import (
    MANDATORY_MESSAGE,
    NAME_FIELDS,
    Outcome,
    Reject,
    bad,
    duplicate_message,
    nonblank,
    read_pairs,
)

if TYPE_CHECKING:
    from ._schema import LeadSchema
    from ._store import LeadStore

__all__ = [
    "INVALID",
    "create_one",
    "lead_create",
    "lead_create_or_update",
    "lead_update",
    "upsert_one",
    "vet",
]

INVALID = "MXInvalidInputException"
"""The exception type of a value its field refuses."""
_MANDATORY = "MXMandatoryAttributeMissingException"
_DUPLICATE = "MXDuplicateEntryException"
_UPSERT_MANDATORY_MESSAGE = (
    "Mandatory attribute missing: pass EmailAddress, Phone or a SearchBy value"
)


def vet(schema: LeadSchema | None, fields: dict[str, object]) -> None:
    """Refuse (``Reject``, HTTP 500) a value of ``fields`` its field refuses; re-spell
    dropdown values in their option's spelling, as the service stores them."""
    reason = None if schema is None else schema.vet(fields)
    if reason is not None:
        raise Reject(500, INVALID, reason)


def _require(schema: LeadSchema | None, fields: dict[str, object]) -> None:
    """Refuse a create leaving a mandatory field of the account without a value."""
    missing = [] if schema is None else schema.missing(fields)
    if missing:
        raise Reject(500, _MANDATORY, f"Mandatory attribute missing: {', '.join(missing)}")


def create_one(
    store: LeadStore, fields: dict[str, object], schema: LeadSchema | None = None
) -> str:
    """Create one lead from canonical ``fields``; its id. Raises ``Reject`` (HTTP 500)."""
    fields.pop("SearchBy", None)
    fields.pop(LEAD_ID, None)
    vet(schema, fields)
    if not any(nonblank(fields.get(name)) for name in NAME_FIELDS):
        raise Reject(500, _MANDATORY, MANDATORY_MESSAGE)
    _require(schema, fields)
    clash = store.conflict(None, fields)
    if clash is not None:
        raise Reject(500, _DUPLICATE, duplicate_message(clash))
    return store.create(fields)


def upsert_one(
    store: LeadStore, fields: dict[str, object], schema: LeadSchema | None = None
) -> tuple[str, bool]:
    """Update the lead ``fields`` match, or create one: (lead id, created). Raises ``Reject``.

    The match is by the ``SearchBy`` pseudo-attribute's field when it names one with a value,
    else by EmailAddress, then Phone. Mandatory fields are needed only when it creates.
    """
    search_by = nonblank(fields.pop("SearchBy", None))
    fields.pop(LEAD_ID, None)
    vet(schema, fields)
    lead_id: str | None = None
    searched = False
    if search_by is not None:
        wanted = nonblank(fields.get(store.name(search_by)))
        if wanted is not None:
            searched = True
            lead_id = store.find_first(search_by, wanted)
    if not searched:
        email = nonblank(fields.get(EMAIL))
        phone = nonblank(fields.get(PHONE))
        if email is None and phone is None:
            raise Reject(500, _MANDATORY, _UPSERT_MANDATORY_MESSAGE)
        lead_id = store.owner(EMAIL, email) or store.owner(PHONE, phone)
    clash = store.conflict(lead_id, fields)
    if clash is not None:
        raise Reject(500, _DUPLICATE, duplicate_message(clash))
    if lead_id is not None:
        store.update(lead_id, fields)
        return lead_id, False
    _require(schema, fields)
    return store.create(fields), True


def _fields(store: LeadStore, body: object) -> dict[str, object]:
    if not isinstance(body, list):
        raise bad("The request body must be a JSON array of attribute/value objects")
    return store.canonical(read_pairs(body, "body"))


def lead_create(store: LeadStore, body: object, schema: LeadSchema | None = None) -> Outcome:
    """``Lead.Create``: one new lead; ``{"Status":"Success","Message":{"Id": ...}}``."""
    lead_id = create_one(store, _fields(store, body), schema)
    return Outcome({"Status": "Success", "Message": {"Id": lead_id}}, True)


def lead_create_or_update(
    store: LeadStore, body: object, post_updated: bool, schema: LeadSchema | None = None
) -> Outcome:
    """``Lead.CreateOrUpdate``: one upsert; the answer does not say which it was."""
    lead_id, created = upsert_one(store, _fields(store, body), schema)
    if post_updated and not created:
        store.note_automation(lead_id)
    return Outcome({"Status": "Success", "Message": {"Id": lead_id, "AffectedRows": 1}}, True)


def lead_update(
    store: LeadStore,
    body: object,
    query: dict[str, str],
    post_updated: bool,
    schema: LeadSchema | None = None,
) -> Outcome:
    """``Lead.Update?leadId=``: change one existing lead; automations only when asked."""
    lead_param = query.get("leadid", "").strip()
    if not lead_param:
        raise bad("The leadId parameter is required")
    if not isinstance(body, list):
        raise bad("The request body must be a JSON array of attribute/value objects")
    if not body:
        raise bad("The request body holds no fields")
    fields = store.canonical(read_pairs(body, "body"))
    fields.pop(LEAD_ID, None)
    fields.pop("SearchBy", None)
    vet(schema, fields)
    lead_id = store.lead_id(lead_param)
    if lead_id is None:
        raise Reject(500, "MXInvalidEntityException", f"Lead with id {lead_param} does not exist")
    clash = store.conflict(lead_id, fields)
    if clash is not None:
        raise Reject(500, _DUPLICATE, duplicate_message(clash))
    store.update(lead_id, fields)
    if post_updated:
        store.note_automation(lead_id)
    return Outcome({"Status": "Success", "Message": {"AffectedRows": 1}}, True)
