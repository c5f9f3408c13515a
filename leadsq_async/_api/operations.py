"""Operations a caller submits, and the results they get back."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from typing import Union

import attrs

from .._errors import ValidationError
from .encoding import FieldValue
from .lead import Lead

__all__ = [
    "ActivityPosted",
    "CreateLead",
    "FieldUpdated",
    "FindLead",
    "GetLead",
    "Lead",
    "LeadCreated",
    "LeadUpdated",
    "LeadUpserted",
    "Operation",
    "Outcome",
    "PostActivity",
    "Priority",
    "Result",
    "UpdateField",
    "UpdateLead",
    "UpdateLeadById",
    "UpsertLead",
]


class Priority(enum.IntEnum):
    """Which rows take a grant first: interactive ones (a person waits), then bulk ones.

    Every operation has a ``priority``; left as ``None`` it is ``INTERACTIVE`` through
    ``submit()`` and the single-lead methods, and ``BULK`` through ``stream()``.
    """

    INTERACTIVE = 0
    BULK = 1


def _priority(value: Priority | None) -> Priority | None:
    if value is None:
        return None
    try:
        return Priority(value)
    except ValueError:
        raise ValidationError("priority", "must be Priority.INTERACTIVE or Priority.BULK") from None


@attrs.frozen
class CreateLead:
    """Create one lead (sent through ``Lead/Bulk/Create``, 50 rows a call).

    ``fields`` needs at least one of EmailAddress, Phone, FirstName, LastName.
    """

    fields: Mapping[str, FieldValue]
    priority: Priority | None = attrs.field(default=None, converter=_priority, kw_only=True)


@attrs.frozen
class UpsertLead:
    """Create the lead, or update it if it exists (``Lead/Bulk/CreateOrUpdate``, 25 a call).

    The service matches on ``search_by`` when given, else on EmailAddress, then Phone.
    """

    fields: Mapping[str, FieldValue]
    search_by: str | None = None
    priority: Priority | None = attrs.field(default=None, converter=_priority, kw_only=True)


@attrs.frozen
class UpdateLead:
    """Update the lead whose ``search_by`` field equals the one in ``fields``.

    Sent through ``Lead/Bulk/UpdateV2``, 25 a call. Two queued updates of the same lead are
    merged into one row (later values win) and both callers get its result.
    """

    fields: Mapping[str, FieldValue]
    search_by: str = "EmailAddress"
    priority: Priority | None = attrs.field(default=None, converter=_priority, kw_only=True)


@attrs.frozen
class UpdateLeadById:
    """Update the lead with this LeadId (ProspectId).

    Batched through ``Lead/Bulk/UpdateV2`` matched by ProspectId; with
    ``post_updated_lead=True`` sent alone through ``Lead.Update`` so that automations fire.
    """

    lead_id: str
    fields: Mapping[str, FieldValue]
    post_updated_lead: bool = False
    priority: Priority | None = attrs.field(default=None, converter=_priority, kw_only=True)


@attrs.frozen
class UpdateField:
    """Set one field of one lead (``Lead/Bulk/Update``, 50 leads a call per field and value)."""

    lead_id: str
    attribute: str
    value: FieldValue
    lead_type: str | None = None
    priority: Priority | None = attrs.field(default=None, converter=_priority, kw_only=True)


def _columns(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(","))
    try:
        return tuple(value)
    except TypeError:
        rule = "must be schema names, or one comma-separated string"
        raise ValidationError("columns", rule) from None


@attrs.frozen
class GetLead:
    """Look a lead up by its LeadId (ProspectId); its result is a ``Lead``, or None.

    Concurrent lookups are coalesced into ``Leads/Retrieve/ByIds`` calls (a lone one goes by
    ``Leads.GetById``). ``columns`` are the fields to fetch (schema names, or one
    comma-separated string); None takes the client's ``lead_columns``.
    """

    lead_id: str
    columns: tuple[str, ...] | None = attrs.field(default=None, converter=_columns)
    priority: Priority | None = attrs.field(default=None, converter=_priority, kw_only=True)


@attrs.frozen(kw_only=True)
class FindLead:
    """Find the lead with this EmailAddress or phone number; its result is a ``Lead``, or None.

    Give exactly one of ``email`` (``Leads.GetByEmailaddress``, compared without case) or
    ``phone`` (``RetrieveLeadByPhoneNumber``: matches Phone and Mobile on their digits).
    """

    email: str | None = None
    phone: str | None = None
    priority: Priority | None = attrs.field(default=None, converter=_priority)


@attrs.frozen(kw_only=True)
class PostActivity:
    """Post one activity on a lead; its result is an ``ActivityPosted``.

    Name the lead by exactly one of ``lead_id`` (batched through
    ``Bulk/CustomActivity/Add/ByLeadId``, 25 a call), ``email`` or ``phone`` (through
    ``.../ByLeadField``, grouped by that field). ``event`` is the activity's event code;
    ``at`` a timezone-aware datetime (None: the moment of the call), sent as UTC.
    """

    event: int
    lead_id: str | None = None
    email: str | None = None
    phone: str | None = None
    note: str | None = None
    fields: Mapping[str, FieldValue] | None = None
    at: dt.datetime | None = None
    priority: Priority | None = attrs.field(default=None, converter=_priority)


Operation = Union[
    CreateLead, UpsertLead, UpdateLead, UpdateLeadById, UpdateField, GetLead, FindLead, PostActivity
]


@attrs.frozen
class LeadCreated:
    """The lead was created.

    ``reconciled`` is true when the create's answer was lost and the client found the lead
    it created by looking it up by its unique field (see "Reconciling unknown outcomes" in
    docs/guides/usage.md).
    """

    lead_id: str
    reconciled: bool = False


@attrs.frozen
class LeadUpserted:
    """The lead was created or updated; ``created`` and ``updated`` say which.

    Both are None when the upsert went through ``Lead.CreateOrUpdate`` (the single-lead
    road), whose answer does not say: the client never guesses.
    """

    lead_id: str
    created: bool | None
    updated: bool | None


@attrs.frozen
class LeadUpdated:
    """The lead matched by ``search_by`` = ``search_value`` was updated.

    ``lead_id`` is known when the lead was addressed by its id.
    """

    search_by: str
    search_value: str
    lead_id: str | None = None


@attrs.frozen
class FieldUpdated:
    """``Lead/Bulk/Update`` answered for the call holding this row.

    The service reports only how many of the call's leads it updated (``affected_rows`` of
    ``call_rows``): ``confirmed`` is true only when that count covers every row of the call,
    which proves this lead was updated. When it is false, this lead may or may not have been.
    """

    lead_id: str
    attribute: str
    confirmed: bool
    affected_rows: int
    call_rows: int


@attrs.frozen
class ActivityPosted:
    """The activity was posted; ``activity_id`` is its ProspectActivityId."""

    activity_id: str


#: What an operation gives: a lookup gives its ``Lead``, or None when there is no such lead.
Result = Union[LeadCreated, LeadUpserted, LeadUpdated, FieldUpdated, Lead, ActivityPosted, None]


@attrs.frozen
class Outcome:
    """What ``stream()`` yields for each operation: its result, or the error it ended with."""

    operation: Operation
    result: Result | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the operation succeeded."""
        return self.error is None


# Made without attrs' ``__init__`` where the client makes one per row: a frozen class's
# ``__init__`` sets each field through ``object.__setattr__`` in a Python frame of its own;
# here each field's slot is set directly, about a quarter of the cost. Only for classes with
# neither converters nor validators (tests/test_fast_paths.py checks that they have none).
_new = object.__new__
_set_created_id = LeadCreated.__dict__["lead_id"].__set__
_set_created_reconciled = LeadCreated.__dict__["reconciled"].__set__
_set_operation = Outcome.__dict__["operation"].__set__
_set_result = Outcome.__dict__["result"].__set__
_set_error = Outcome.__dict__["error"].__set__


def lead_created(lead_id: str) -> LeadCreated:
    """``LeadCreated(lead_id)``, made as a bulk create's answer makes one a row."""
    created = _new(LeadCreated)
    _set_created_id(created, lead_id)
    _set_created_reconciled(created, False)
    return created


def outcome(operation: Operation, result: Result | None, error: BaseException | None) -> Outcome:
    """``Outcome(operation, result, error)``, made as ``stream()`` makes one a row."""
    made = _new(Outcome)
    _set_operation(made, operation)
    _set_result(made, result)
    _set_error(made, error)
    return made
