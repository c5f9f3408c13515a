"""The account's lead fields, and a write's fields checked against them before it is queued.

``LeadSchema`` is read from a ``LeadsMetaData.Get`` answer (fetched, or saved to a file). Its
``check_fields`` takes one write's fields as the caller gave them and refuses what the service
would refuse (an unknown attribute, a value that does not fit the field's data type, a dropdown
value outside its options, a value over ``MaxLength``, a mandatory field missing on a create) with
a ``ValidationError`` naming the field, the value's problem and the rule. Pure: nothing here
sends or waits. Checkers are built once per field, as every write passes through them.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Union, cast

import attrs

from .._errors import ValidationError
from .._util.json import loads
from .encoding import CustomFieldSet, FieldValue, encode_value
from .operations import CreateLead, Operation, UpdateField, UpdateLead, UpdateLeadById, UpsertLead
from .spec import ID_ALIASES, ID_ATTRIBUTES

__all__ = ["FieldSpec", "LeadSchema", "WriteKind"]


class WriteKind(enum.Enum):
    """What a write does, which decides the rules it must keep (mandatory fields: on a create)."""

    CREATE = "create"
    UPSERT = "upsert"
    UPDATE = "update"
    #: ``update_field``: one attribute, one value.
    FIELD = "field"


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class FieldSpec:
    """One lead field of the account, as ``LeadsMetaData.Get`` describes it.

    ``data_type`` is the service's ``DataType`` as sent (``"Text"``, ``"Number"``, ...; one this
    library does not know means its values are not checked) and ``render_type`` its
    ``RenderTypeTextValue`` (which tells a ``Date`` from a ``DateTime``). ``max_length`` is
    None when the field has none; ``options`` are a dropdown's values (empty: not checked).
    """

    schema_name: str
    data_type: str = ""
    display_name: str = ""
    render_type: str = ""
    mandatory: bool = False
    max_length: int | None = None
    options: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    default_value: str | None = None
    is_lead_identifier: bool = False


# -- reading LeadsMetaData.Get ------------------------------------------------------------


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return isinstance(value, str) and value.strip().casefold() in ("true", "1", "yes")


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _max_length(value: object) -> int | None:
    """``MaxLength`` as a positive int; the service sends a string, and 0 or junk means none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        return None
    return number if number > 0 else None


def _read_options(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    found: list[str] = []
    for option in value:
        text = option.get("Value") if isinstance(option, dict) else None
        if isinstance(text, str) and text.strip():
            found.append(text)
    return tuple(found)


def _read_field(entry: object) -> FieldSpec | None:
    """One entry of the answer, or None for one without a usable ``SchemaName``."""
    if not isinstance(entry, dict):
        return None
    name = _text(entry.get("SchemaName"))
    if not name:
        return None
    default = entry.get("DefaultValue")
    return FieldSpec(
        schema_name=name,
        data_type=_text(entry.get("DataType")),
        display_name=_text(entry.get("DisplayName")),
        render_type=_text(entry.get("RenderTypeTextValue")),
        mandatory=_flag(entry.get("IsMandatory")),
        max_length=_max_length(entry.get("MaxLength")),
        options=_read_options(entry.get("Options")),
        default_value=default if isinstance(default, str) and default.strip() else None,
        is_lead_identifier=_flag(entry.get("IsLeadIdentifier")),
    )


# -- the rules, one checker per field ------------------------------------------------------

_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}) ([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]{1,7})?)?"
)
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_PHONE = re.compile(r"\+?[0-9 ()-]*[0-9][0-9 ()-]*")
_WEBSITE = re.compile(
    r"(?:https?://)?"
    r"(?:(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}|[0-9]{1,3}(?:\.[0-9]{1,3}){3})"
    r"(?::[0-9]{1,5})?(?:[/?#]\S*)?",
    re.IGNORECASE,
)
_BOOLEANS = frozenset({"true", "false", "1", "0"})


def _is_date(text: str) -> bool:
    if _DATE.fullmatch(text) is None:
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:  # such as 2026-02-30
        return False
    return True


def _is_clock(hour: str, minute: str, second: str | None) -> bool:
    return int(hour) < 24 and int(minute) < 60 and (second is None or int(second) < 60)


def _is_datetime(text: str) -> bool:
    match = _DATETIME.fullmatch(text)
    return match is not None and _is_date(match[1]) and _is_clock(match[2], match[3], match[4])


def _is_time(text: str) -> bool:
    match = _TIME.fullmatch(text)
    return match is not None and _is_clock(match[1], match[2], match[3])


#: Each data type the library checks: whether a (stripped, non-empty) wire value fits it, and
#: the rule as the error names it. Keys are ``DataType`` values without case.
_SHAPES: dict[str, tuple[Callable[[str], bool], str]] = {
    "number": (lambda t: _NUMBER.fullmatch(t) is not None, "a Number"),
    "date": (_is_date, "a Date (YYYY-MM-DD)"),
    "datetime": (_is_datetime, "a DateTime (YYYY-MM-DD HH:MM:SS, UTC)"),
    "time": (_is_time, "a Time (HH:MM or HH:MM:SS)"),
    "boolean": (lambda t: t.casefold() in _BOOLEANS, "a Boolean (true, false, 1 or 0)"),
    "email": (lambda t: _EMAIL.fullmatch(t) is not None, "an Email address"),
    "phone": (lambda t: _PHONE.fullmatch(t) is not None, "a Phone number (such as +91-9876543210)"),
    "website": (lambda t: _WEBSITE.fullmatch(t) is not None, "a Website (a URL or a domain)"),
}
_EITHER_DATE = (
    lambda t: _is_date(t) or _is_datetime(t),
    "a Date (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)",
)
#: Types whose ``MaxLength`` counts the characters sent. A Phone's does not: LeadSquared's own
#: ``Phone`` has MaxLength 10 yet takes ``+91-9876543210``.
_LENGTH_TYPES = frozenset({"text", "email", "website", "select"})
#: Fields the service fills on a create whatever the metadata says of them.
_SYSTEM_FIELDS = frozenset(
    {*ID_ATTRIBUTES, *ID_ALIASES, "createdon", "modifiedon", "createdby", "modifiedby", "ownerid"}
)
#: Names every schema knows: the lead's id (as the client accepts it) and ``SearchBy``.
_ALWAYS_KNOWN = frozenset({*ID_ATTRIBUTES, *ID_ALIASES, "searchby"})
_MISSING: Any = object()
_SHOWN = 40  # how much of a refused value an error repeats
_SHOWN_OPTIONS = 10


def _show(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


#: A field's checker: given the caller's attribute name and its wire value (not blank), the
#: value to send instead (a re-spelled option) or None; raises ``ValidationError`` if refused.
Checker = Callable[[str, str], Union[str, None]]


def _shape_of(spec: FieldSpec) -> tuple[Callable[[str], bool], str] | None:
    kind = spec.data_type.casefold()
    if kind == "date":
        render = spec.render_type.casefold()
        if render == "datetime":
            return _SHAPES["datetime"]
        if render in ("", "date"):
            return _SHAPES["date"]
        return _EITHER_DATE  # a render type not documented: either form may be meant
    return _SHAPES.get(kind)


def _checker(spec: FieldSpec) -> Checker | None:
    """The field's checker, or None when it has nothing to check (e.g. an unknown type)."""
    kind = spec.data_type.casefold()
    shape = _shape_of(spec)
    limit = spec.max_length if kind in _LENGTH_TYPES else None
    options: dict[str, str] = {}
    if kind == "select":
        for option in spec.options:
            options.setdefault(option.casefold(), option)
    listed = ", ".join(spec.options[:_SHOWN_OPTIONS])
    if len(spec.options) > _SHOWN_OPTIONS:
        listed += f", … ({len(spec.options)} in all)"
    exact = frozenset(spec.options)
    if shape is None and limit is None and not options:
        return None

    def check(name: str, text: str) -> str | None:
        if limit is not None and len(text) > limit:
            raise ValidationError(name, f"{len(text)} characters, over its MaxLength of {limit}")
        if shape is not None and not shape[0](text.strip()):
            raise ValidationError(name, f"{_show(text)} is not {shape[1]}")
        if options and text not in exact:
            spelled = options.get(text.strip().casefold())
            if spelled is None:
                raise ValidationError(name, f"{_show(text)} is not one of its options ({listed})")
            return spelled
        return None

    return check


# -- the schema ---------------------------------------------------------------------------


def _fields(value: Iterable[FieldSpec]) -> tuple[FieldSpec, ...]:
    return tuple(value)


@attrs.frozen(repr=False)
class LeadSchema:
    """The lead fields of an account; checks a write's fields against them at the call.

    Build it from a ``LeadsMetaData.Get`` answer (``from_metadata``), a saved one (``load``),
    or from ``FieldSpec``\\ s. Attribute names are matched without letter case, as the service
    matches them; the lead's id (``ProspectID`` and its aliases) and ``SearchBy`` are always
    known. The first of two fields with one name wins.
    """

    fields: tuple[FieldSpec, ...] = attrs.field(converter=_fields)
    _by_name: dict[str, FieldSpec] = attrs.field(init=False, repr=False, eq=False)
    _checkers: dict[str, Checker | None] = attrs.field(init=False, repr=False, eq=False)
    _required: tuple[tuple[str, str], ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        by_name: dict[str, FieldSpec] = {}
        for spec in self.fields:
            by_name.setdefault(spec.schema_name.casefold(), spec)
        checkers = {key: _checker(spec) for key, spec in by_name.items()}
        # The exact spellings too, so that the usual name is found without casefolding it.
        for key, spec in list(by_name.items()):
            by_name.setdefault(spec.schema_name, spec)
            checkers.setdefault(spec.schema_name, checkers[key])
        required = tuple(
            (key, spec.schema_name)
            for key, spec in by_name.items()
            if key == spec.schema_name.casefold()
            and spec.mandatory
            and spec.default_value is None  # the service fills it in
            and key not in _SYSTEM_FIELDS
        )
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_checkers", checkers)
        object.__setattr__(self, "_required", required)

    @classmethod
    def from_metadata(cls, answer: list[Any] | bytes | str) -> LeadSchema:
        """The schema in a ``LeadsMetaData.Get`` answer: its JSON array, or that array's text.

        Entries it cannot read (not an object, no ``SchemaName``) are skipped; a ``DataType``
        it does not know makes a field whose values are not checked. ``ValueError`` if the
        answer is not JSON or not an array.
        """
        data: object = answer
        if isinstance(answer, (bytes, str)):
            try:
                data = loads(answer.encode() if isinstance(answer, str) else answer)
            except (ValueError, RecursionError):
                raise ValueError("the metadata is not JSON") from None
        if not isinstance(data, list):
            raise ValueError(
                f"the metadata must be a JSON array of fields, not {type(data).__name__}"
            )
        return cls(spec for spec in map(_read_field, data) if spec is not None)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LeadSchema:
        """The schema in a file holding a saved ``LeadsMetaData.Get`` answer (for offline use)."""
        return cls.from_metadata(Path(path).read_bytes())

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        return f"LeadSchema({len(self.fields)} fields)"  # an account has hundreds

    def __reduce__(self) -> tuple[type[LeadSchema], tuple[tuple[FieldSpec, ...]]]:
        return (type(self), (self.fields,))  # the checkers are closures: built again

    def __iter__(self) -> Iterator[FieldSpec]:
        return iter(self.fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._known(name)

    def get(self, name: str) -> FieldSpec | None:
        """The field called ``name`` (letter case ignored), or None."""
        return self._by_name.get(name) or self._by_name.get(name.casefold())

    def _known(self, name: str) -> bool:
        if name in self._by_name:
            return True
        folded = name.casefold()
        return folded in self._by_name or folded in _ALWAYS_KNOWN

    def _unknown(self, name: str) -> ValidationError:
        names = {spec.schema_name.casefold(): spec.schema_name for spec in self.fields}
        close = difflib.get_close_matches(name.casefold(), list(names), n=1, cutoff=0.75)
        hint = f" (did you mean {names[close[0]]}?)" if close else " in the account's lead fields"
        return ValidationError(name, f"no such field{hint}")

    def check_name(self, name: str) -> None:
        """Raise ``ValidationError`` unless ``name`` is a lead field of the account."""
        if not self._known(name):
            raise self._unknown(name)

    def check_fields(
        self, fields: Mapping[str, FieldValue], kind: WriteKind
    ) -> Mapping[str, FieldValue]:
        """The fields to send for a write of ``kind``, or ``ValidationError`` for the first
        field the account would refuse.

        Values are checked as they will be encoded. None or a blank string clears a field, which
        is allowed unless the field is mandatory and this is a create. A dropdown value that
        differs from an option only in letter case is sent in the option's spelling: then a new
        mapping is returned, otherwise ``fields`` itself. Custom field sets (mappings) are
        checked by name only; whatever is not a mapping of names is left for the encoder to
        refuse (a value of a type the encoder refuses is refused as it would be).
        """
        if not isinstance(cast(object, fields), Mapping):
            return fields  # the encoder refuses it, naming the argument
        by_name, checkers = self._by_name, self._checkers
        spelled: dict[str, str] | None = None
        blank: set[str] = set()
        for name, value in fields.items():
            if type(name) is not str:
                continue  # the encoder names this
            checker = checkers.get(name, _MISSING)
            if checker is _MISSING:
                folded = name.casefold()
                if folded not in by_name:
                    if folded in _ALWAYS_KNOWN:
                        continue
                    raise self._unknown(name)
                checker = checkers[folded]
            if type(value) is str:
                text = value
            elif isinstance(value, (Mapping, CustomFieldSet)):
                continue  # a custom field set: its own fields are not described
            else:
                text = encode_value(name, value)
            if not text.strip():
                blank.add(name.casefold())
                continue
            if checker is not None:
                new = checker(name, text)
                if new is not None:
                    spelled = spelled or {}
                    spelled[name] = new
        if kind is WriteKind.CREATE and self._required:
            self._check_required(fields, blank)
        if spelled is None:
            return fields
        return {**fields, **spelled}

    def _check_required(self, fields: Mapping[str, FieldValue], blank: set[str]) -> None:
        given = {name.casefold() for name in fields if type(name) is str}
        for key, schema_name in self._required:
            if key in blank:
                raise ValidationError(schema_name, "mandatory, empty on a create")
            if key not in given:
                raise ValidationError(schema_name, "mandatory, missing on a create")

    def check(self, op: Operation) -> Operation:
        """``op`` with its fields checked (``check_fields``) and its ``search_by`` known.

        Gives ``op`` itself unless a dropdown value was re-spelled. Lookups and activities are
        not lead writes and pass unchanged.
        """
        if isinstance(op, UpdateField):
            if type(op.attribute) is not str:
                return op
            checked = self.check_fields({op.attribute: op.value}, WriteKind.FIELD)
            value = checked[op.attribute]
            return op if value is op.value else attrs.evolve(op, value=value)
        if isinstance(op, CreateLead):
            kind = WriteKind.CREATE
        elif isinstance(op, UpsertLead):
            kind = WriteKind.UPSERT
        elif isinstance(op, (UpdateLead, UpdateLeadById)):
            kind = WriteKind.UPDATE
        else:
            return op
        search_by = getattr(op, "search_by", None)
        if isinstance(search_by, str) and search_by.strip():
            self.check_name(search_by)
        fields = self.check_fields(op.fields, kind)
        return op if fields is op.fields else attrs.evolve(op, fields=fields)
