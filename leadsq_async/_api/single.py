"""The single-lead endpoint specs: one lead a call, the general budget only.

``Lead.Update`` carries ``update_lead_by_id(..., post_updated_lead=True)`` always, and is the
single-lead road of updates by lead id and single-field updates; ``Lead.Create`` and
``Lead.CreateOrUpdate`` are the single-lead roads of creates and upserts. They read the rows
the bulk specs prepare, so a row can take either road.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._errors import LeadNotFoundError
from .answers import AffectedAnswer, WireError, created_id, structure
from .encoding import encode_fields, wire_items
from .operations import (
    FieldUpdated,
    LeadCreated,
    LeadUpdated,
    LeadUpserted,
    UpdateField,
    UpdateLeadById,
)
from .spec import Endpoint, Row, RowOutcome, check_lead_id, identity

__all__ = ["LEAD_CREATE", "LEAD_CREATE_OR_UPDATE", "LEAD_UPDATE", "LEAD_UPDATE_QUIET"]

_ID_NAMES = frozenset({"prospectid"})


class LeadUpdate(Endpoint):
    """``Lead.Update?leadId=...``: one lead; ``postUpdatedLead=true`` makes automations fire."""

    name = "Lead.Update"
    max_rows = 1
    bulk = False

    def __init__(self, post_updated_lead: bool) -> None:
        self.post_updated_lead = post_updated_lead

    def prepare(self, op: UpdateLeadById) -> Row:
        lead_id = check_lead_id(op.lead_id)
        items = encode_fields(op.fields, reserved=("ProspectId", "ProspectID", "SearchBy"))
        return Row(op, (self.name,), items, (identity("ProspectId", lead_id),), lead_id)

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        (row,) = rows
        # A row prepared for Lead/Bulk/UpdateV2 names its lead in the fields; here the URL does.
        items: dict[str, Any] = {
            name: value for name, value in row.items.items() if name.casefold() not in _ID_NAMES
        }
        params = {"leadId": row.key_value or ""}
        params["postUpdatedLead"] = "true" if self.post_updated_lead else "false"
        return params, wire_items(items)

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        (row,) = rows
        answer = structure(data, AffectedAnswer)
        if answer.status != "Success":
            raise WireError("the answer's Status is not Success")
        if answer.message is not None and answer.message.affected_rows == 0:
            return [LeadNotFoundError("AffectedRows was 0: the lead was not updated")]
        lead_id = check_lead_id(row.key_value or "")
        op = row.op
        if isinstance(op, UpdateField):
            return [FieldUpdated(lead_id, op.attribute, True, 1, 1)]
        return [LeadUpdated("ProspectId", lead_id, lead_id)]

    def __repr__(self) -> str:
        return f"<Endpoint {self.name} postUpdatedLead={self.post_updated_lead}>"


class LeadCreate(Endpoint):
    """``Lead.Create``: one lead; not idempotent, like its bulk sibling."""

    name = "Lead.Create"
    max_rows = 1
    bulk = False
    idempotent = False

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        (row,) = rows
        return {}, wire_items(row.items)

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        return [LeadCreated(check_lead_id(created_id(data, "lead")))]


class LeadCreateOrUpdate(Endpoint):
    """``Lead.CreateOrUpdate``: one upsert; its answer does not say created or updated."""

    name = "Lead.CreateOrUpdate"
    max_rows = 1
    bulk = False

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        (row,) = rows
        fields = wire_items(row.items)
        search_by = getattr(row.op, "search_by", None)
        if search_by:
            fields.append({"Attribute": "SearchBy", "Value": search_by})
        return {"postUpdatedLead": "false"}, fields

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        return [LeadUpserted(check_lead_id(created_id(data, "lead")), None, None)]


#: ``Lead.Update`` with automations (``post_updated_lead=True``), and without.
LEAD_UPDATE = LeadUpdate(post_updated_lead=True)
LEAD_UPDATE_QUIET = LeadUpdate(post_updated_lead=False)
LEAD_CREATE = LeadCreate()
LEAD_CREATE_OR_UPDATE = LeadCreateOrUpdate()
