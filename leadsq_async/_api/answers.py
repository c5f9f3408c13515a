"""Reading answers: LeadSquared's JSON to typed answer models, refusing any other shape.

One cattrs converter reads them; flat answers (optional strings, integers and booleans, most
of them) take a plain reader first, which reads what cattrs would or leaves it to cattrs.
``decode`` reads a bulk answer row by row with these.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from .._util.json import loads

__all__ = [
    "NOT_JSON",
    "READERS",
    "ActivityRowAnswer",
    "AffectedAnswer",
    "CreatedAnswer",
    "ErrorEnvelope",
    "IdentifiedLead",
    "RowAnswer",
    "UpdateV2Answer",
    "WireError",
    "converter",
    "created_id",
    "parse_json",
    "read_key",
    "structure",
    "structure_entry",
]

#: Answers' JSON to their models (requests' values are ``encoding``'s).
converter = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)


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


def created_id(data: object, what: str) -> str:
    """The Id a ``CreatedAnswer`` names (``what`` names it in the error), if its Status is
    Success; else ``WireError``."""
    answer = structure(data, CreatedAnswer)
    if (answer.status or "").casefold() != "success":
        raise WireError("the answer's Status is not Success")
    found = answer.message.id if answer.message is not None else None
    if not found:
        raise WireError(f"the answer names no {what} Id")
    return found


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
