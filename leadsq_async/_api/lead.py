"""A lead as a lookup returns it: its id and its fields as the service sent them (strings).

LeadSquared sends every value as a string (numbers too, ``"0"``; dates as UTC
``"2017-11-30 07:40:18.000"``), and the client does not guess types. The helpers read one field
as a date, a number or a flag when the caller says it is one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import attrs

__all__ = ["Lead"]

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def _fields(value: Mapping[str, str]) -> Mapping[str, str]:
    return dict(value)


@attrs.frozen
class Lead:
    """A lead found by ``get_lead`` or ``find_lead``.

    ``fields`` maps schema names to values exactly as the service sent them: strings (a
    field the service answered ``null`` is left out). Read typed values with the helpers,
    e.g. ``lead.datetime("CreatedOn")`` or ``lead.decimal("mx_Amount")``; each gives None for
    a field that is absent or empty and raises ``ValueError`` for one that does not parse.
    """

    lead_id: str
    fields: Mapping[str, str] = attrs.field(converter=_fields, factory=dict)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of field ``name`` (letter case ignored if no field has this exact name)."""
        value = self.fields.get(name)
        if value is None:
            wanted = name.casefold()
            for key, candidate in self.fields.items():
                if key.casefold() == wanted:
                    return candidate
            return default
        return value

    def _text(self, name: str) -> str | None:
        value = self.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def datetime(self, name: str) -> dt.datetime | None:
        """Field ``name`` as a timezone-aware UTC datetime (the service's dates are UTC).

        Reads ``2017-11-30 07:40:18.000`` (the service's form), ISO 8601 with ``T``, ``Z``
        or an offset (converted to UTC), and a bare date (midnight UTC).
        """
        text = self._text(name)
        if text is None:
            return None
        iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
        try:
            value = dt.datetime.fromisoformat(iso)
        except ValueError:
            raise ValueError(f"{name}: {text!r} is not a date and time") from None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)

    def date(self, name: str) -> dt.date | None:
        """Field ``name`` as a date (the date part of a date and time, read in UTC)."""
        value = self.datetime(name)
        return None if value is None else value.date()

    def decimal(self, name: str) -> Decimal | None:
        """Field ``name`` as an exact ``Decimal`` (``"12.50"`` gives ``Decimal("12.50")``)."""
        text = self._text(name)
        if text is None:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{name}: {text!r} is not a number") from None
        if not value.is_finite():
            raise ValueError(f"{name}: {text!r} is not a finite number")
        return value

    def integer(self, name: str) -> int | None:
        """Field ``name`` as an ``int`` (``"42"``, or ``"42.0"`` with nothing after the point)."""
        value = self.decimal(name)
        if value is None:
            return None
        if value != value.to_integral_value():
            raise ValueError(f"{name}: {self.get(name)!r} is not a whole number")
        return int(value)

    def boolean(self, name: str) -> bool | None:
        """Field ``name`` as a flag: ``true``/``1``/``yes`` or ``false``/``0``/``no``, any case."""
        text = self._text(name)
        if text is None:
            return None
        folded = text.casefold()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        raise ValueError(f"{name}: {text!r} is not true or false")
