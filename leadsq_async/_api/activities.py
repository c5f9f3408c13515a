"""The activity specs: custom activities posted on leads, 25 a bulk call.

``Bulk/CustomActivity/Add/ByLeadId`` names each row's lead by id, ``.../ByLeadField`` by a
unique field (one ``searchBy`` a call, so rows are grouped by it); both are bulk APIs and not
idempotent (a blind resend posts the activity twice). ``ProspectActivity.svc/Create`` is the
single-lead road of a row naming its lead by id (by email it would create a missing lead,
which the bulk form does not). Activities commute with one another: several of one lead may
share a call, but each still waits for earlier writes of its lead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, ClassVar

from .._errors import LeadNotFoundError, LeadRejectedError, ResponseMismatchError, ValidationError
from .answers import ActivityRowAnswer, WireError, created_id
from .decode import RowNumbered
from .encoding import datetime_to_wire, encode_fields, encode_value
from .operations import ActivityPosted, PostActivity
from .spec import Endpoint, Road, Row, RowOutcome, check_lead_id, identity

__all__ = [
    "ACTIVITIES_BY_LEAD_FIELD",
    "ACTIVITIES_BY_LEAD_ID",
    "ACTIVITY_CREATE",
    "ROADS",
    "activity_route",
]

_ROOT = "/v2/"
_NOT_FOUND_TYPES = frozenset({"MXInvalidEntityException"})
_NOT_FOUND_HINTS = ("does not exist", "not found", "no lead")
_SEARCH_KEYS = {"email": "EmailAddress", "phone": "Phone"}


def activity_items(op: PostActivity, lead: dict[str, str]) -> dict[str, Any]:
    """One activity's wire object: ``lead`` names its lead, the rest is checked here."""
    event = op.event
    if type(event) is not int or event <= 0:
        raise ValidationError(
            "event", f"must be an activity event code (an int > 0), not {event!r}"
        )
    items: dict[str, Any] = {**lead, "ActivityEvent": event}
    if op.note is not None:
        if not isinstance(op.note, str):
            raise ValidationError("note", f"must be a string, not {type(op.note).__name__}")
        items["ActivityNote"] = encode_value("note", op.note)
    at = op.at
    if at is None:
        at = dt.datetime.now(dt.UTC)
    elif not isinstance(at, dt.datetime):
        raise ValidationError("at", f"must be a timezone-aware datetime, not {type(at).__name__}")
    elif at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError("at", "datetime must be timezone-aware (a naive one is ambiguous)")
    items["ActivityDateTime"] = datetime_to_wire(at)
    if op.fields is not None:
        fields = encode_fields(op.fields, where="fields")
        wire: list[dict[str, str]] = []
        for name, value in fields.items():
            if type(value) is not str:
                raise ValidationError(name, "activity fields take scalar values, not a field set")
            wire.append({"SchemaName": name, "Value": value})
        items["Fields"] = wire
    return items


def _row_error(answer: ActivityRowAnswer) -> LeadRejectedError:
    reason = answer.exception_message or answer.error_message or "the service did not post it"
    folded = reason.casefold()
    if answer.exception_type in _NOT_FOUND_TYPES or any(h in folded for h in _NOT_FOUND_HINTS):
        return LeadNotFoundError(reason, answer.exception_type)
    return LeadRejectedError(reason, answer.exception_type)


def _posted(answer: ActivityRowAnswer) -> RowOutcome:
    if answer.prospect_activity_id and answer.prospect_activity_id.strip():
        return ActivityPosted(answer.prospect_activity_id.strip())
    if answer.exception_type or answer.exception_message or answer.error_message:
        return _row_error(answer)
    return ResponseMismatchError("the answer's row has neither an id nor an error")


class _BulkActivities(Endpoint):
    """What both bulk activity APIs share: 25 rows, answers numbered by RowNumber."""

    max_rows = 25
    idempotent = False
    root = _ROOT
    commutes = "activity"
    answer: ClassVar[RowNumbered[ActivityRowAnswer, RowOutcome]] = RowNumbered(
        ActivityRowAnswer, _posted
    )

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        entries = data.get("Response") if isinstance(data, dict) else data
        if not isinstance(entries, list):
            raise WireError("the answer has no Response array")
        return self.answer(len(rows), entries)


class ActivitiesByLeadId(_BulkActivities):
    """``Bulk/CustomActivity/Add/ByLeadId``: each row names its lead by RelatedProspectId."""

    name = "ProspectActivity.svc/Bulk/CustomActivity/Add/ByLeadId"

    def prepare(self, op: PostActivity) -> Row:
        lead_id = check_lead_id(op.lead_id)
        items = activity_items(op, {"RelatedProspectId": lead_id})
        ident = (identity("ProspectId", lead_id),)
        return Row(op, (self.name,), items, ident, lead_id, single=ACTIVITY_CREATE)

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        return {}, [row.items for row in rows]


class ActivitiesByLeadField(_BulkActivities):
    """``Bulk/CustomActivity/Add/ByLeadField?searchBy=``: rows name leads by a unique field."""

    name = "ProspectActivity.svc/Bulk/CustomActivity/Add/ByLeadField"

    def prepare(self, op: PostActivity) -> Row:
        kind = "email" if op.email is not None else "phone"
        raw = getattr(op, kind)
        if not isinstance(raw, str) or not raw.strip():
            raise ValidationError(kind, "must be a non-empty string")
        value = encode_value(kind, raw).strip()
        if kind == "email" and ("@" not in value or any(c.isspace() for c in value)):
            raise ValidationError("email", f"must be an email address, got {value[:60]!r}")
        search_by = _SEARCH_KEYS[kind]
        items = activity_items(op, {"SearchByValue": value})
        return Row(op, (self.name, search_by), items, (identity(search_by, value),), value)

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        search_by: str = rows[0].group[1]  # type: ignore[index]
        return {"searchBy": search_by}, [row.items for row in rows]


class ActivityCreate(Endpoint):
    """``ProspectActivity.svc/Create``: one activity; the single-lead road of a by-id row."""

    name = "ProspectActivity.svc/Create"
    max_rows = 1
    bulk = False
    idempotent = False
    root = _ROOT
    commutes = "activity"

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        (row,) = rows
        return {}, row.items

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        activity_id = created_id(data, "activity").strip()
        if not activity_id:
            raise WireError("the answer names no activity Id")
        return [ActivityPosted(activity_id)]


ACTIVITY_CREATE = ActivityCreate()
ACTIVITIES_BY_LEAD_ID = ActivitiesByLeadId()
ACTIVITIES_BY_LEAD_FIELD = ActivitiesByLeadField()


def activity_route(op: PostActivity) -> Endpoint:
    """The bulk API of a ``PostActivity``: by lead id, or by a unique field."""
    given = [name for name in ("lead_id", "email", "phone") if getattr(op, name) is not None]
    if len(given) != 1:
        raise ValidationError("lead_id", "name the lead by exactly one of lead_id, email or phone")
    return ACTIVITIES_BY_LEAD_ID if given[0] == "lead_id" else ACTIVITIES_BY_LEAD_FIELD


#: The operation these specs carry.
ROADS = (
    Road(
        PostActivity,
        ACTIVITIES_BY_LEAD_ID,
        activity_route,
        choices=(ACTIVITIES_BY_LEAD_FIELD,),
        singles=(ACTIVITY_CREATE,),
    ),
)
