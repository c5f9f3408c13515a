"""Encoding a request's values: field values to LeadSquared's strings, checked on the way.

Values are validated as they are encoded, so a bad value is reported at the call that made
it, naming the field and the rule it broke. Reading answers is ``answers``'s.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Union

import attrs
import cattrs

from .._errors import ValidationError

__all__ = [
    "MAX_FIELDS",
    "MAX_VALUE_LENGTH",
    "CustomFieldSet",
    "FieldValue",
    "check_attribute",
    "converter",
    "datetime_to_wire",
    "encode_fields",
    "encode_value",
    "plain_fields",
    "wire_items",
]

#: The most fields one lead may carry.
MAX_FIELDS = 1000
#: The longest value, in characters, one field may carry.
MAX_VALUE_LENGTH = 32_000


@attrs.frozen
class CustomFieldSet:
    """A custom field set (an attribute with a ``Fields`` array), e.g. ``mx_KYC``.

    A plain mapping as a field's value (``{"mx_KYC": {"Status": "Pending"}}``) is the same
    set with an empty ``value``; build this class to give the set a ``value`` of its own.
    """

    fields: Mapping[str, FieldValue] = attrs.field(factory=dict)
    value: str = ""


Scalar = Union[str, int, float, Decimal, bool, dt.date, dt.datetime, None]
#: A field's value: a scalar, or a custom field set (``CustomFieldSet``, or a mapping of its
#: fields to scalars). ``update_field`` takes scalars only.
FieldValue = Union[Scalar, CustomFieldSet, Mapping[str, Scalar]]

#: Scalars to their wire strings (``encode_value`` checks them first).
converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)


def datetime_to_wire(value: dt.datetime) -> str:
    """An aware datetime as LeadSquared's UTC ``YYYY-MM-DD HH:MM:SS``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


converter.register_unstructure_hook(str, lambda v: v)
converter.register_unstructure_hook(bool, lambda v: "true" if v else "false")
converter.register_unstructure_hook(int, str)
converter.register_unstructure_hook(float, repr)
converter.register_unstructure_hook(Decimal, str)
converter.register_unstructure_hook(dt.datetime, datetime_to_wire)
converter.register_unstructure_hook(dt.date, lambda v: v.isoformat())
converter.register_unstructure_hook(type(None), lambda _: "")


def _check_text(field: str, text: str) -> None:
    if len(text) > MAX_VALUE_LENGTH:
        raise ValidationError(field, f"value is longer than {MAX_VALUE_LENGTH} characters")
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(field, "value is not valid UTF-8 text") from None


def encode_value(field: str, value: object) -> str:
    """Check one scalar value and give its wire string."""
    kind = type(value)
    if kind is str:
        _check_text(field, value)  # type: ignore[arg-type]
        return value  # type: ignore[return-value]
    if kind is float or kind is Decimal:
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)  # type: ignore[arg-type]
        if not finite:
            raise ValidationError(field, "value must be a finite number, not NaN or infinity")
    elif kind is dt.datetime:
        if value.tzinfo is None or value.utcoffset() is None:  # type: ignore[attr-defined]
            raise ValidationError(field, "datetime must be timezone-aware")
    elif kind not in _SCALARS:
        if isinstance(value, str):  # a str subclass, such as a StrEnum member
            return encode_value(field, str.__str__(value))
        if isinstance(value, (dict, Mapping, CustomFieldSet)):
            rule = "a custom field set (a mapping) is not allowed here; pass a scalar value"
        elif isinstance(value, (bytes, bytearray)):
            rule = "bytes are not field values; decode them to str first"
        else:
            rule = f"unsupported value type {kind.__name__}"
        raise ValidationError(field, rule)
    try:
        text: str = converter.unstructure(value, kind)
    except ValueError:  # e.g. an int beyond str()'s digit limit
        raise ValidationError(field, "value is too large to send") from None
    _check_text(field, text)
    return text


_SCALARS = frozenset({str, int, float, Decimal, bool, dt.date, dt.datetime, type(None)})


def check_attribute(name: object, where: str = "") -> str:
    """Check an attribute (schema) name: a non-empty string of valid text."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(where or repr(name), "attribute names must be non-empty strings")
    _check_text(name, name)
    return name


def encode_fields(
    fields: object,
    *,
    where: str = "fields",
    reserved: tuple[str, ...] = (),
    field_set: bool = False,
) -> dict[str, Any]:
    """Check a field mapping and give its wire values keyed by attribute name.

    A scalar's wire value is its string; a custom field set's (a ``CustomFieldSet``, or a
    mapping as the value) is its whole wire item (``{"Attribute", "Value", "Fields"}``).
    ``wire_items`` turns them into the request form. ``field_set`` checks the fields of the
    set named ``where``: those must be scalars. Kept this compact because rows can wait in
    memory by the hundred thousand.
    """
    if not field_set and type(fields) is dict and plain_fields(fields, reserved) is not None:
        return dict(fields)  # a copy: the caller may change theirs later
    if not isinstance(fields, Mapping):
        raise ValidationError(
            where, f"must be a mapping of field name to value, not {type(fields).__name__}"
        )
    if not fields:
        raise ValidationError(where, "must not be empty")
    if len(fields) > MAX_FIELDS:
        raise ValidationError(where, f"has {len(fields)} fields; at most {MAX_FIELDS} are allowed")
    blocked = {name.casefold() for name in reserved}
    items: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for name, value in fields.items():
        label = f"{where}[{name!r}]" if not isinstance(name, str) else ""
        attribute = check_attribute(name, label)
        folded = attribute.casefold()
        if folded in blocked:
            raise ValidationError(attribute, "is reserved; pass it as an argument instead")
        if folded in seen:
            raise ValidationError(attribute, f"repeats {seen[folded]!r} in another letter case")
        seen[folded] = attribute
        if type(value) in _SCALARS:
            items[attribute] = encode_value(attribute, value)
            continue
        is_set = isinstance(value, CustomFieldSet)
        if not is_set and not isinstance(value, Mapping):
            items[attribute] = encode_value(attribute, value)
            continue
        if field_set:
            raise ValidationError(
                where,
                f"custom field sets cannot be nested: its field {attribute!r} holds "
                f"{'a CustomFieldSet' if is_set else 'a mapping'}; its fields must be scalars",
            )
        inner_fields, text = (value.fields, value.value) if is_set else (value, "")
        inner = encode_fields(inner_fields, where=attribute, field_set=True) if inner_fields else {}
        items[attribute] = {
            "Attribute": attribute,
            "Value": encode_value(attribute, text),
            "Fields": wire_items(inner),
        }
    return items


#: Field-name tuples already looked at, per reserved names: each plain one's names by their
#: folded form, ``None`` for names that need the full checks. Rows of one source share their
#: names, so each row's names are checked once, not once per row. Cleared when it fills.
_PLAIN_NAMES: dict[tuple[tuple[Any, ...], tuple[str, ...]], dict[str, str] | None] = {}
_PLAIN_NAMES_MAX = 256
_UNSEEN: dict[str, str] = {}


def _plain_names(names: tuple[Any, ...], reserved: tuple[str, ...]) -> dict[str, str] | None:
    """These field names by their folded form if they need no checks (ASCII, not blank,
    unique without case, none reserved); else ``None``."""
    folded: dict[str, str] = {}
    for name in names:
        if not (
            type(name) is str
            and name.isascii()
            and len(name) <= MAX_VALUE_LENGTH
            and name
            and not name.isspace()
        ):
            return None
        folded[name.lower()] = name  # an ASCII name's casefold
    if len(folded) != len(names):
        return None  # two names differ only in case
    if any(name.casefold() in folded for name in reserved):
        return None
    return folded


def plain_fields(fields: object, reserved: tuple[str, ...]) -> dict[str, str] | None:
    """Whether ``fields`` is the common case, which needs no checks: a dict of a few ASCII
    string names and values. If so, its names by their folded form (a lookup without case is
    then one ``get``), and its wire values are a copy of it; ``None`` sends the fields the
    whole way (``encode_fields``), which also names whatever is wrong with them.
    """
    if type(fields) is not dict or not 0 < len(fields) <= MAX_FIELDS:
        return None
    for value in fields.values():
        if not (type(value) is str and value.isascii() and len(value) <= MAX_VALUE_LENGTH):
            return None
    key = (tuple(fields), reserved)
    names = _PLAIN_NAMES.get(key, _UNSEEN)
    if names is _UNSEEN:
        if len(_PLAIN_NAMES) >= _PLAIN_NAMES_MAX:
            _PLAIN_NAMES.clear()
        names = _PLAIN_NAMES[key] = _plain_names(key[0], reserved)
    return names


def wire_items(items: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``[{"Attribute": ..., "Value": ...}, ...]`` form of ``encode_fields``'s result.

    ``BulkCreate.request`` has the same steps inline (tests/test_fast_paths.py holds them equal).
    """
    return [
        {"Attribute": name, "Value": value} if type(value) is str else value
        for name, value in items.items()
    ]
