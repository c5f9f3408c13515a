"""``import --op activity``: one activity per row, its lead named by id, email or phone.

Columns (names compared without letter case): the lead by ``ProspectID`` (or ``ProspectId``,
``LeadId``, ``RelatedProspectId``), else ``EmailAddress``, else ``Phone``; ``ActivityEvent``
(or ``Event``, or ``--event`` for every row), ``ActivityNote`` (or ``Note``),
``ActivityDateTime`` (or ``Date``: ``YYYY-MM-DD HH:MM:SS`` in UTC as LeadSquared writes it,
or ISO 8601 with an offset); every other column is a field of the activity (``mx_Custom_1``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from .. import CustomFieldSet, FieldValue, PostActivity, Priority
from ._text import utc_time

__all__ = [
    "ACTIVITY_LEAD_COLUMNS",
    "EVENT_COLUMNS",
    "ActivityRowError",
    "activity_operation",
    "is_event_column",
]

#: The columns that may name an activity's lead, in the order they are preferred.
ACTIVITY_LEAD_COLUMNS = ("ProspectID", "LeadId", "RelatedProspectId", "EmailAddress", "Phone")
#: The columns that may hold the event code.
EVENT_COLUMNS = ("ActivityEvent", "Event")
_ID_KEYS = frozenset({"prospectid", "leadid", "relatedprospectid"})
_EVENT_KEYS = frozenset(name.casefold() for name in EVENT_COLUMNS)
_NOTE_KEYS = frozenset({"activitynote", "note"})
_DATE_KEYS = frozenset({"activitydatetime", "date"})


class ActivityRowError(ValueError):
    """A row that cannot be read as an activity (its event code or date, or its lead)."""


def is_event_column(name: str) -> bool:
    """Whether the column ``name`` holds the event code."""
    return name.casefold() in _EVENT_KEYS


def _text(name: str, value: FieldValue) -> str:
    if isinstance(value, (CustomFieldSet, Mapping)):
        raise ActivityRowError(f"{name}: expected a single value, not a field set")
    return "" if value is None else str(value).strip()


def _event(value: FieldValue) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _text("ActivityEvent", value)
    if not text.isdigit():
        raise ActivityRowError(f"ActivityEvent: {text!r} is not an event code (a whole number)")
    return int(text)


def _when(value: FieldValue) -> dt.datetime:
    """A date from the file: LeadSquared's UTC form, or ISO 8601 (without an offset: UTC)."""
    text = _text("ActivityDateTime", value)
    try:
        return utc_time(text)
    except ValueError:
        raise ActivityRowError(
            f"ActivityDateTime: {text!r} is not YYYY-MM-DD HH:MM:SS (UTC) or ISO 8601"
        ) from None


def activity_operation(fields: Mapping[str, FieldValue], event: int | None) -> PostActivity:
    """The ``PostActivity`` of one row (bulk priority); ``event`` is ``--event``'s code.

    Raises ``ActivityRowError`` when the row names no lead or no event, or a value does not
    parse; the client's own checks run when it is submitted.
    """
    leads: dict[str, str] = {}
    note: str | None = None
    at: dt.datetime | None = None
    rest: dict[str, FieldValue] = {}
    for name, value in fields.items():
        key = name.casefold()
        if key in _ID_KEYS:
            leads["lead_id"] = _text(name, value)
        elif key in ("emailaddress", "phone"):
            leads["email" if key == "emailaddress" else "phone"] = _text(name, value)
        elif key in _EVENT_KEYS:
            event = _event(value)
        elif key in _NOTE_KEYS:
            note = _text(name, value)
        elif key in _DATE_KEYS:
            at = _when(value)
        else:
            rest[name] = value
    chosen = next((kind for kind in ("lead_id", "email", "phone") if leads.get(kind)), None)
    if chosen is None:
        raise ActivityRowError("the row names no lead: give ProspectID, EmailAddress or Phone")
    if event is None:
        raise ActivityRowError("the row has no ActivityEvent (a column, or --event)")
    return PostActivity(
        event=event,
        lead_id=leads["lead_id"] if chosen == "lead_id" else None,
        email=leads["email"] if chosen == "email" else None,
        phone=leads["phone"] if chosen == "phone" else None,
        note=note,
        at=at,
        fields=rest or None,
        priority=Priority.BULK,
    )
