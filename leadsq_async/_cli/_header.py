"""Whole-file checks of the columns against the operation, before anything is sent.

A header that cannot work for any row (a create with no name, email or phone column, an
update without its search column, an empty or repeated name) is one message, not the same
error once per row. Names are compared without letter case, as the service does. ``put``
turns a column name and its value into fields (``mx_Set.Field`` into a custom field set).
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import CreateLead, CustomFieldSet, FieldValue, PostActivity, ValidationError, validate
from ._activity import ACTIVITY_LEAD_COLUMNS, activity_operation, is_event_column
from ._text import InputError

__all__ = ["KeyCoverage", "check_header", "needed_columns", "put"]

#: A create needs one of these (the service's rule, checked by the client too).
CREATE_NEEDS = ("EmailAddress", "Phone", "FirstName", "LastName")
#: An upsert with no --search-by is matched on one of these.
UPSERT_NEEDS = ("EmailAddress", "Phone")


def needed_columns(op: str, search_by: str | None) -> tuple[tuple[str, ...], str]:
    """The columns of which a row needs at least one, and a sentence saying why."""
    if op == "create":
        return CREATE_NEEDS, "a create needs one of EmailAddress, Phone, FirstName or LastName"
    if op == "activity":
        why = "an activity names its lead by ProspectID, EmailAddress or Phone"
        return ACTIVITY_LEAD_COLUMNS, why
    if op == "upsert" and search_by is None:
        return UPSERT_NEEDS, "an upsert is matched on EmailAddress or Phone (or --search-by)"
    if op == "upsert":
        return (str(search_by),), f"--search-by {search_by} matches each lead on that column"
    key = search_by or "EmailAddress"
    return (key,), f"--op update finds each lead by {key} (--search-by to choose another column)"


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def check_header(
    names: list[str], op: str, search_by: str | None, where: str, event: int | None = None
) -> None:
    """Raise ``InputError`` when the columns ``names`` cannot work for any row.

    ``where`` names the file and the header's line in the message; ``event`` is the
    ``--event`` code of an activity import.
    """
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if not name:
            raise InputError(
                f"{where}: column {number} of the header has no name (header: {_listed(names)})"
            )
        folded = name.casefold()
        if folded in seen:
            first = names[seen[folded] - 1]
            raise InputError(
                f"{where}: the header names {first!r} twice (columns {seen[folded]} and "
                f"{number}, compared without letter case); rename or drop one"
            )
        seen[folded] = number
    needs, why = needed_columns(op, search_by)
    if not any(n.casefold() in seen for n in needs):
        hint = ""
        if len(names) == 1 and any(d in names[0] for d in ";,\t|"):
            hint = "; the header is one column: is the delimiter right? (--delimiter)"
        raise InputError(f"{where}: {why}, and the header has none: {_listed(names)}{hint}")
    if op == "activity":
        _check_activity_header(names, event, where)
        return
    # Every column filled in: whatever the client refuses now, it refuses in every row.
    fields: dict[str, FieldValue] = {}
    for name in names:
        put(fields, name, "x")
    if not any(n.casefold() in seen for n in CREATE_NEEDS):
        fields["FirstName"] = "x"
    try:
        validate(CreateLead(fields))
    except ValidationError as exc:
        raise InputError(f"{where}: the header cannot work for any row: {exc}") from None


def _check_activity_header(names: list[str], event: int | None, where: str) -> None:
    if event is None and not any(is_event_column(n) for n in names):
        raise InputError(
            f"{where}: an activity needs its event code, and the header has no ActivityEvent "
            f"column (or pass --event CODE): {_listed(names)}"
        )
    # Every column filled in (the lead by a placeholder id): refused now, refused in every row.
    fields: dict[str, FieldValue] = {}
    for name in names:
        put(fields, name, "1" if is_event_column(name) else "x")
    fields = {k: v for k, v in fields.items() if k.casefold() not in _DATES}
    fields["ProspectID"] = _ANY_ID
    try:
        op: PostActivity = activity_operation(fields, event)
        validate(op)
    except (ValueError, ValidationError) as exc:
        raise InputError(f"{where}: the header cannot work for any row: {exc}") from None


_DATES = frozenset({"activitydatetime", "date"})
_ANY_ID = "00000000-0000-4000-8000-000000000000"


class KeyCoverage:
    """For JSON Lines: whether any row has one of the keys the operation needs."""

    def __init__(self, op: str, search_by: str | None) -> None:
        needs, self.why = needed_columns(op, search_by)
        self._needs = {n.casefold() for n in needs}
        self.rows = 0
        self.covered = False

    def see(self, fields: Mapping[str, object]) -> None:
        """Note one parsed row."""
        self.rows += 1
        if not self.covered:
            self.covered = any(str(k).casefold() in self._needs for k in fields)

    def check(self, where: str) -> None:
        """Raise ``InputError`` when rows were read and none had a needed key."""
        if self.rows and not self.covered:
            raise InputError(f"{where}: {self.why}, and no line of the file has such a key")


def put(fields: dict[str, FieldValue], name: str, value: FieldValue) -> None:
    """Store ``value`` under ``name``; ``mx_Set.Field`` goes into the custom field set."""
    base, dot, inner = name.partition(".")
    if not dot or not base or not inner:
        held = fields.get(name)
        if isinstance(held, CustomFieldSet) and isinstance(value, str):
            fields[name] = CustomFieldSet(fields=held.fields, value=value)
        else:
            fields[name] = value
        return
    held = fields.get(base)
    if isinstance(held, CustomFieldSet):
        fields[base] = CustomFieldSet(fields={**held.fields, inner: value}, value=held.value)
    else:
        outer = held if isinstance(held, str) else ""
        fields[base] = CustomFieldSet(fields={inner: value}, value=outer)
