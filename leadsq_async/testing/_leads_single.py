"""The single-lead write endpoints' semantics (one lead a call, ordinary budget only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._store import LEAD_ID
from ._wire import Outcome, Reject, bad, duplicate_message, read_pairs

if TYPE_CHECKING:
    from ._store import LeadStore

__all__ = ["lead_update"]


def lead_update(
    store: LeadStore, body: object, query: dict[str, str], post_updated: bool
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
    lead_id = store.lead_id(lead_param)
    if lead_id is None:
        raise Reject(500, "MXInvalidEntityException", f"Lead with id {lead_param} does not exist")
    clash = store.conflict(lead_id, fields)
    if clash is not None:
        raise Reject(500, "MXDuplicateEntryException", duplicate_message(clash))
    store.update(lead_id, fields)
    if post_updated:
        store.note_automation(lead_id)
    return Outcome({"Status": "Success", "Message": {"AffectedRows": 1}}, True)
