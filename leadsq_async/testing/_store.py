"""The fake's leads: an in-memory table with the service's unique fields, and activities."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ["EMAIL", "LEAD_ID", "PHONE", "UNIQUE_FIELDS", "LeadStore", "service_time"]

LEAD_ID = "ProspectID"
EMAIL = "EmailAddress"
PHONE = "Phone"
UNIQUE_FIELDS = (EMAIL, PHONE)
_STANDARD = (LEAD_ID, EMAIL, PHONE, "FirstName", "LastName", "LeadType", "Mobile", "Company")

Value = object  # a str, or a custom field set {"Value": str, "Fields": {attr: str}}


def _unique_key(attribute: str, value: object) -> str | None:
    """The index key of a unique field's value (None when it holds nothing)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    return text.lower() if attribute == EMAIL else text


def service_time(when: dt.datetime) -> str:
    """A time as the service writes lead dates: UTC ``2017-11-30 07:40:18.000``."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.000")


def _wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _copy(lead: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in lead.items():
        if isinstance(value, dict):
            fields = value.get("Fields")
            value = {**value, "Fields": dict(fields) if isinstance(fields, dict) else fields}
        out[key] = value
    return out


class LeadStore:
    """The leads the fake holds, keyed by lead id (``ProspectID``).

    Lookups by id and email are case-insensitive. EmailAddress and Phone are unique: the fake
    refuses to give two leads the same one, so ``duplicates()`` stays empty unless leads were
    inserted with ``enforce_unique=False`` (or a bug slipped through).
    """

    def __init__(
        self,
        new_id: Callable[[], str] | None = None,
        now: Callable[[], dt.datetime] = _wall_clock,
    ) -> None:
        self._new_id = new_id or (lambda: str(uuid.uuid4()))
        self._now = now
        self._leads: dict[str, dict[str, object]] = {}
        self._index: dict[str, dict[str, str]] = {EMAIL: {}, PHONE: {}}
        self._names: dict[str, str] = {name.lower(): name for name in _STANDARD}
        self._automations: dict[str, int] = {}
        self._stamps: dict[str, tuple[str, str]] = {}  # lead id -> (CreatedOn, ModifiedOn)
        # ProspectAutoId: a number per lead, in creation order, never reused (the service's).
        self._auto: dict[str, int] = {}
        self._last_auto = 0
        self._activities: dict[str, list[dict[str, object]]] = {}

    # -- reading -------------------------------------------------------------------------

    def get(self, lead_id: str) -> dict[str, object] | None:
        """A copy of the lead with this id (case-insensitive), or None."""
        lead = self._leads.get(lead_id.strip().lower())
        return None if lead is None else _copy(lead)

    def find_by_email(self, email: str) -> dict[str, object] | None:
        """A copy of the lead with this EmailAddress (case-insensitive), or None."""
        return self._find(EMAIL, email)

    def find_by_phone(self, phone: str) -> dict[str, object] | None:
        """A copy of the lead with this Phone, or None."""
        return self._find(PHONE, phone)

    def _find(self, attribute: str, value: str) -> dict[str, object] | None:
        lead_id = self.owner(attribute, value)
        return None if lead_id is None else _copy(self._leads[lead_id])

    def all(self) -> list[dict[str, object]]:
        """Copies of every lead, in creation order."""
        return [_copy(lead) for lead in self._leads.values()]

    def ids(self) -> list[str]:
        """Every lead id, in creation order."""
        return list(self._leads)

    def count(self) -> int:
        """How many leads the store holds."""
        return len(self._leads)

    def __len__(self) -> int:
        return len(self._leads)

    def __contains__(self, lead_id: object) -> bool:
        return isinstance(lead_id, str) and lead_id.strip().lower() in self._leads

    def stamps(self, lead_id: str) -> tuple[str, str]:
        """The lead's CreatedOn and ModifiedOn, as the service writes dates (UTC)."""
        return self._stamps[lead_id.strip().lower()]

    def auto_id(self, lead_id: str) -> int:
        """The lead's ``ProspectAutoId``: 1, 2, 3, ... in creation order."""
        return self._auto[lead_id.strip().lower()]

    def set_clock(self, now: Callable[[], dt.datetime]) -> None:
        """Take lead times (CreatedOn, ModifiedOn) from ``now`` from here on (an aware UTC
        datetime): a test can put thousands of writes in one second, or move time on."""
        self._now = now

    def touch(self, lead_id: str) -> None:
        """Set the lead's ModifiedOn to now, as any write does."""
        key = lead_id.strip().lower()
        self._stamps[key] = (self._stamps[key][0], service_time(self._now()))

    def activities(self, lead_id: str) -> list[dict[str, object]]:
        """Copies of the activities posted on this lead (any case of its id), oldest first.

        Each is ``{"ProspectActivityId", "RelatedProspectId", "ActivityEvent" (an int),
        "ActivityNote", "ActivityDateTime", "Fields": {schema name: value}}`` (the note only
        when one was given).
        """
        return [
            {k: dict(v) if isinstance(v, dict) else v for k, v in a.items()}
            for a in self._activities.get(lead_id.strip().lower(), [])
        ]

    def activity_count(self) -> int:
        """How many activities the store holds, over every lead."""
        return sum(len(posted) for posted in self._activities.values())

    def latest_activity(self, lead_id: str) -> str:
        """The ActivityDateTime of the lead's latest activity ("" when it has none)."""
        posted = self._activities.get(lead_id, [])
        return max((str(a["ActivityDateTime"]) for a in posted), default="")

    def automations(self, lead_id: str) -> int:
        """How many updates of this lead asked for automations (``postUpdatedLead=true``)."""
        return self._automations.get(lead_id.strip().lower(), 0)

    def duplicates(self) -> list[list[str]]:
        """Groups of lead ids sharing an EmailAddress (case-insensitively) or a Phone."""
        groups: dict[tuple[str, str], list[str]] = {}
        for lead_id, lead in self._leads.items():
            for attribute in UNIQUE_FIELDS:
                key = _unique_key(attribute, lead.get(attribute))
                if key is not None:
                    groups.setdefault((attribute, key), []).append(lead_id)
        return [ids for ids in groups.values() if len(ids) > 1]

    def __repr__(self) -> str:
        return f"LeadStore(leads={len(self._leads)})"

    # -- writing -------------------------------------------------------------------------

    def insert(self, fields: Mapping[str, object], *, enforce_unique: bool = True) -> str:
        """Add a lead directly (to seed a test) and return its id.

        Raises ``ValueError`` when a unique field already belongs to a lead, unless
        ``enforce_unique`` is false (which is how a test can plant duplicates).
        """
        canon = self.canonical(fields.items())
        canon.pop(LEAD_ID, None)
        if enforce_unique:
            clash = self.conflict(None, canon)
            if clash is not None:
                raise ValueError(f"a lead with this {clash} already exists")
        return self.create(canon)

    def clear(self) -> None:
        """Forget every lead."""
        self._leads.clear()
        for index in self._index.values():
            index.clear()
        self._automations.clear()
        self._stamps.clear()
        self._auto.clear()
        self._last_auto = 0
        self._activities.clear()

    def add_activity(self, lead_id: str, activity: Mapping[str, object]) -> str:
        """Store one activity on an existing lead (fields already checked); its id."""
        activity_id = self._new_id()
        record = {"ProspectActivityId": activity_id, "RelatedProspectId": lead_id, **activity}
        self._activities.setdefault(lead_id, []).append(record)
        return activity_id

    # -- used by the fake ------------------------------------------------------------------

    def name(self, attribute: str) -> str:
        """The store's spelling of an attribute name (names are case-insensitive)."""
        lower = attribute.lower()
        known = self._names.get(lower)
        if known is None:
            self._names[lower] = known = attribute
        return known

    def canonical(self, pairs: Iterable[tuple[str, object]]) -> dict[str, object]:
        """Attribute/value pairs as a dict with the store's attribute spellings."""
        return {self.name(attribute): value for attribute, value in pairs}

    def owner(self, attribute: str, value: object) -> str | None:
        """The id of the lead holding this unique value, or None."""
        key = _unique_key(attribute, value)
        return None if key is None else self._index[attribute].get(key)

    def lead_id(self, lead_id: str) -> str | None:
        """The stored id for ``lead_id`` (any case), or None."""
        key = lead_id.strip().lower()
        return key if key in self._leads else None

    def find_first(self, attribute: str, value: str) -> str | None:
        """The oldest lead whose ``attribute`` equals ``value`` (case-insensitive), or None."""
        name = self.name(attribute)
        if name == LEAD_ID:
            return self.lead_id(value)
        if name in self._index:
            return self.owner(name, value)
        wanted = value.strip().lower()
        for lead_id, lead in self._leads.items():
            held = lead.get(name)
            if isinstance(held, dict):
                held = held.get("Value")
            if isinstance(held, str) and held.strip().lower() == wanted:
                return lead_id
        return None

    def conflict(self, lead_id: str | None, fields: Mapping[str, object]) -> str | None:
        """The unique field ``fields`` would take from another lead than ``lead_id``, if any."""
        for attribute in UNIQUE_FIELDS:
            if attribute in fields:
                owner = self.owner(attribute, fields[attribute])
                if owner is not None and owner != lead_id:
                    return attribute
        return None

    def create(self, fields: Mapping[str, object]) -> str:
        """Store a new lead (unique fields already checked) and return its id."""
        lead_id = self._new_id()
        lead: dict[str, object] = {}
        self._leads[lead_id] = lead
        self._assign(lead_id, lead, fields)
        lead[LEAD_ID] = lead_id
        now = service_time(self._now())
        self._stamps[lead_id] = (now, now)
        self._last_auto += 1
        self._auto[lead_id] = self._last_auto
        return lead_id

    def update(self, lead_id: str, fields: Mapping[str, object]) -> None:
        """Change an existing lead (unique fields already checked)."""
        self._assign(lead_id, self._leads[lead_id], fields)
        self._stamps[lead_id] = (self._stamps[lead_id][0], service_time(self._now()))

    def raw(self, lead_id: str) -> dict[str, object]:
        """The stored lead itself (no copy): for the fake's own readers, which only read."""
        return self._leads[lead_id]

    def note_automation(self, lead_id: str) -> None:
        """Count one update that asked for automations."""
        self._automations[lead_id] = self._automations.get(lead_id, 0) + 1

    def _assign(self, lead_id: str, lead: dict[str, object], fields: Mapping[str, object]) -> None:
        for attribute, value in fields.items():
            if attribute == LEAD_ID:
                continue
            index = self._index.get(attribute)
            if index is not None:
                old = _unique_key(attribute, lead.get(attribute))
                if old is not None and index.get(old) == lead_id:
                    del index[old]
                new = _unique_key(attribute, value)
                if new is not None:
                    index.setdefault(new, lead_id)
            if isinstance(value, dict):
                held = lead.get(attribute)
                if isinstance(held, dict) and isinstance(held.get("Fields"), dict):
                    merged = {**held["Fields"], **value.get("Fields", {})}
                    value = {"Value": value.get("Value", ""), "Fields": merged}
                else:
                    value = {
                        "Value": value.get("Value", ""),
                        "Fields": dict(value.get("Fields", {})),
                    }
            lead[attribute] = value
