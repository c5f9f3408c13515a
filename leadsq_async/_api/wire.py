"""The wire format, both ways: field values to LeadSquared's strings, answers to typed rows.

One cattrs converter owns it. Values are validated as they are encoded, so a bad value is
reported at the call that made it, naming the field and the rule it broke.
"""

from __future__ import annotations

import datetime as dt
import math
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar, Union

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from .._errors import ValidationError
from .._util.json import loads

__all__ = [
    "MAX_FIELDS",
    "MAX_VALUE_LENGTH",
    "ActivityRowAnswer",
    "AffectedAnswer",
    "CreatedAnswer",
    "CustomFieldSet",
    "ErrorEnvelope",
    "FieldValue",
    "IdentifiedLead",
    "RowAnswer",
    "UpdateV2Answer",
    "WireError",
    "check_attribute",
    "converter",
    "datetime_to_wire",
    "encode_fields",
    "encode_value",
    "parse_json",
    "read_key",
    "structure",
    "structure_entry",
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

converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)


def datetime_to_wire(value: dt.datetime) -> str:
    """An aware datetime as LeadSquared's UTC ``YYYY-MM-DD HH:MM:SS``."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


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
    if type(fields) is dict and not field_set:
        plain = _plain_fields(fields, reserved)
        if plain is not None:
            return plain
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


#: Field-name tuples already found plain, per reserved names: rows of one source share their
#: names, so each row's names are checked once, not once per row. Cleared when it fills.
_PLAIN_NAMES: dict[tuple[tuple[Any, ...], tuple[str, ...]], bool] = {}
_PLAIN_NAMES_MAX = 256


def _plain_names(names: tuple[Any, ...], reserved: tuple[str, ...]) -> bool:
    """Whether these field names need no checks: ASCII, not blank, unique without case."""
    folded: set[str] = set()
    for name in names:
        if not (
            type(name) is str
            and name.isascii()
            and len(name) <= MAX_VALUE_LENGTH
            and name
            and not name.isspace()
        ):
            return False
        folded.add(name.lower())  # an ASCII name's casefold
    if len(folded) != len(names):
        return False  # two names differ only in case
    return not any(name.casefold() in folded for name in reserved)


def _plain_fields(fields: dict[Any, Any], reserved: tuple[str, ...]) -> dict[str, Any] | None:
    """The common case in one pass: a few ASCII string names and values that need no checks.

    ``None`` sends the fields the whole way, which also names whatever is wrong with them.
    """
    if not 0 < len(fields) <= MAX_FIELDS:
        return None
    for value in fields.values():
        if not (type(value) is str and value.isascii() and len(value) <= MAX_VALUE_LENGTH):
            return None
    key = (tuple(fields), reserved)
    plain = _PLAIN_NAMES.get(key)
    if plain is None:
        if len(_PLAIN_NAMES) >= _PLAIN_NAMES_MAX:
            _PLAIN_NAMES.clear()
        plain = _PLAIN_NAMES[key] = _plain_names(key[0], reserved)
    return dict(fields) if plain else None  # a copy: the caller may change theirs later


def wire_items(items: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``[{"Attribute": ..., "Value": ...}, ...]`` form of ``encode_fields``'s result."""
    return [
        {"Attribute": name, "Value": value} if type(value) is str else value
        for name, value in items.items()
    ]


# -- answers -----------------------------------------------------------------------------


class WireError(Exception):
    """An answer did not have the shape its endpoint promises."""


def _strict_str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise WireError(f"expected a string, got {type(value).__name__}")
    return value


def _strict_int(value: object, _: object) -> int:
    if isinstance(value, bool):
        raise WireError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise WireError(f"expected an integer, got {type(value).__name__}")


def _strict_bool(value: object, _: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise WireError(f"expected a boolean, got {type(value).__name__}")


def _is_list(kind: object) -> bool:
    return typing.get_origin(kind) is list


def _strict_list(value: object, kind: object) -> list[Any]:
    if not isinstance(value, list):
        raise WireError(f"expected a JSON array, got {type(value).__name__}")
    (item,) = typing.get_args(kind)
    return [converter.structure(v, item) for v in value]


converter.register_structure_hook_func(_is_list, _strict_list)
converter.register_structure_hook(str, _strict_str)
converter.register_structure_hook(int, _strict_int)
converter.register_structure_hook(bool, _strict_bool)

_T = TypeVar("_T")


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


_PLAIN = (str, int, bool)
#: Each answer class's two readers: the plain fast one (None if it has none) and cattrs's.
READERS: dict[type, tuple[Callable[[dict[Any, Any]], Any] | None, Callable[..., Any]]] = {}


def _plain_reader(
    cls: type[_T], keys: dict[str, Any]
) -> Callable[[dict[Any, Any]], _T | None] | None:
    """A fast reader for a class of optional strings, integers and booleans (most answers).

    It reads an entry whose values are null or of exactly their field's JSON type, and gives
    None for anything else (a "12" for an integer, a nested object), which cattrs then reads
    or refuses as always; both read such an entry alike.
    """
    fields: list[tuple[str, str, type]] = []
    for name, hint in typing.get_type_hints(cls).items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1 or args[0] not in _PLAIN:
            return None
        fields.append((name, keys[name], args[0]))

    def read(data: dict[Any, Any]) -> _T | None:
        found: dict[str, Any] = {}
        for name, key, kind in fields:
            value = data.get(key)
            if value is not None:
                if type(value) is not kind:
                    return None
                found[name] = value
        return cls(**found)

    return read


def _wire_class(cls: type[_T]) -> type[_T]:
    """Register ``cls`` to be read from PascalCase keys (or each field's ``wire`` metadata)."""
    renames = {
        a.name: override(rename=a.metadata.get("wire", _pascal(a.name)))
        for a in attrs.fields(cls)  # type: ignore[arg-type]
    }
    generated = make_dict_structure_fn(cls, converter, **renames)  # type: ignore[arg-type]
    plain = _plain_reader(cls, {name: r.rename for name, r in renames.items()})
    READERS[cls] = (plain, generated)

    def hook(data: object, kind: object) -> _T:
        if not isinstance(data, dict):
            raise WireError(f"expected a JSON object, got {type(data).__name__}")
        if plain is not None:
            answer = plain(data)
            if answer is not None:
                return answer
        return generated(data, kind)

    converter.register_structure_hook(cls, hook)
    return cls


@_wire_class
@attrs.frozen
class ErrorEnvelope:
    """``{"Status": "Error", "ExceptionType": ..., "ExceptionMessage": ...}``."""

    status: str | None = None
    exception_type: str | None = None
    exception_message: str | None = None


@_wire_class
@attrs.frozen
class RowAnswer:
    """One row of a Bulk/Create or Bulk/CreateOrUpdate answer."""

    row_number: int | None = None
    lead_id: str | None = None
    lead_created: bool | None = None
    lead_updated: bool | None = None
    affected_rows: int | None = None
    exception_type: str | None = None
    exception_message: str | None = None
    error_message: str | None = None


@_wire_class
@attrs.frozen
class ActivityRowAnswer:
    """One row of a bulk activity answer: its activity id, or why it failed."""

    row_number: int | None = None
    prospect_activity_id: str | None = None
    exception_type: str | None = None
    exception_message: str | None = None
    error_message: str | None = None


@_wire_class
@attrs.frozen
class IdentifiedLead:
    """One entry of an UpdateV2 answer's Successful/Failed/UnProcessed lists."""

    identifier: str | None = None
    identifier_value: str | None = None
    reason: str | None = None


@_wire_class
@attrs.frozen
class UpdateV2Details:
    """The ``Details`` object of an UpdateV2 answer.

    Each list's entries are left as JSON, to be read one by one as ``IdentifiedLead``, so
    that a malformed entry costs only the row it names.
    """

    successful_leads: list[Any] | None = None
    failed_leads: list[Any] | None = None
    unprocessed_leads: list[Any] | None = attrs.field(
        default=None, metadata={"wire": "UnProcessedLeads"}
    )


@_wire_class
@attrs.frozen
class UpdateV2Answer:
    """A Bulk/UpdateV2 answer."""

    details: UpdateV2Details | None = None


@_wire_class
@attrs.frozen
class AffectedMessage:
    """``{"AffectedRows": n}``."""

    affected_rows: int | None = None


@_wire_class
@attrs.frozen
class AffectedAnswer:
    """A Bulk/Update or Lead.Update answer: ``{"Status": "Success", "Message": {...}}``."""

    status: str | None = None
    message: AffectedMessage | None = None


@_wire_class
@attrs.frozen
class CreatedMessage:
    """``{"Id": "<lead id>", "AffectedRows": n}``."""

    id: str | None = None
    affected_rows: int | None = None


@_wire_class
@attrs.frozen
class CreatedAnswer:
    """A Lead.Create or Lead.CreateOrUpdate answer: ``{"Status": "Success", "Message": {...}}``."""

    status: str | None = None
    message: CreatedMessage | None = None


def structure(data: object, cls: type[_T]) -> _T:
    """Read ``data`` as ``cls``, raising ``WireError`` for any shape it does not have."""
    if cls is not list and not isinstance(data, dict) and attrs.has(cls):
        raise WireError(f"expected a JSON object, got {type(data).__name__}")
    try:
        return converter.structure(data, cls)
    except WireError:
        raise
    except Exception as exc:  # cattrs raises a variety of errors for wrong shapes
        raise WireError(f"unexpected answer shape: {type(exc).__name__}") from None


def structure_entry(data: object, cls: type[_T]) -> _T | None:
    """Read one entry of an answer's array as ``cls``, or None if it has another shape."""
    try:
        return structure(data, cls)
    except WireError:
        return None


def read_key(data: object, key: str, cls: type[_T]) -> _T | None:
    """``data[key]`` read as ``cls``, or None if absent, of another shape, or not in an object.

    It lets an entry that is malformed elsewhere still say which row it is about.
    """
    if not isinstance(data, dict):
        return None
    value = data.get(key)
    if value is None:
        return None
    if type(value) is cls:  # the usual case: no conversion to try
        return value
    return structure_entry(value, cls)


_NOT_JSON = object()


def parse_json(content: bytes) -> object:
    """Parse a body, giving ``NOT_JSON`` for anything that is not JSON."""
    if not content:
        return _NOT_JSON
    try:
        return loads(content)
    except (ValueError, RecursionError):
        return _NOT_JSON


NOT_JSON: Any = _NOT_JSON

Hook = Callable[[object, object], object]
