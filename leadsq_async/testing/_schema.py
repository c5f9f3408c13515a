"""An account's lead fields: under a schema the fake refuses attributes the account lacks.

LeadSquared answers a write naming an attribute the account does not have with an ``MX...``
error instead of storing it. A fake without a schema stores anything, so a typo such as
``EmailAdress`` or ``mx_Cty`` would pass a user's tests; with one it is refused the same way.
The schema also knows each field's type (``Field``), so values a field refuses are refused
too, and it is what the fake's ``LeadsMetaData.Get`` answers.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Union

from ._fields import STANDARD_TYPES, Field

__all__ = ["STANDARD_FIELDS", "Field", "FieldsLike", "LeadSchema"]

STANDARD_FIELDS = (
    "ProspectID",
    "ProspectAutoId",
    "FirstName",
    "LastName",
    "EmailAddress",
    "Phone",
    "Mobile",
    "Company",
    "JobTitle",
    "Website",
    "Notes",
    "Source",
    "SourceMedium",
    "SourceCampaign",
    "SourceContent",
    "SourceReferrerURL",
    "ProspectStage",
    "Score",
    "EngagementScore",
    "QualityScore01",
    "OwnerId",
    "Origin",
    "TimeZone",
    "LeadType",
    "DoNotEmail",
    "DoNotCall",
    "DoNotSMS",
    "DoNotTrack",
    "CreatedOn",
    "ModifiedOn",
)
"""The standard lead fields every account has (custom ones, ``mx_...``, must be listed)."""

_SEARCH_BY = "searchby"


class LeadSchema:
    """The lead fields of an account, by schema name (case-insensitive, as the service reads).

    ``fields`` are the account's own fields, as names (``"mx_City"``) or typed ``Field`` objects
    (``Field("mx_Age", "Number")``; a ``Field`` named like a standard field replaces its
    built-in type); the standard fields (``STANDARD_FIELDS``, typed as ``STANDARD_TYPES``)
    are built in unless ``standard`` is false. A field given by name only is ``Text`` with no
    limit. A custom field set is a field like any other (``"mx_KYC"``); list its fields as
    ``"mx_KYC.Status"`` and the set's other fields are refused too (a set with none listed
    takes any). ``SearchBy`` is always accepted, and the field it (or UpdateV2's
    ``SearchByKey``) names must exist.
    """

    def __init__(self, fields: Iterable[str | Field] = (), *, standard: bool = True) -> None:
        if isinstance(fields, (str, bytes)):
            raise TypeError("fields is a list of schema names, not one string")
        self._fields: dict[str, str] = {}
        self._sets: dict[str, dict[str, str]] = {}
        self._types: dict[str, Field] = {}
        builtin = list(STANDARD_TYPES.values()) if standard else []
        for item in (*builtin, *fields):
            name = item.schema_name if isinstance(item, Field) else item
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"a schema name must be a non-empty string, got {name!r}")
            outer, dot, inner = name.strip().partition(".")
            self._fields.setdefault(outer.lower(), outer)
            if dot:
                self._sets.setdefault(outer.lower(), {}).setdefault(inner.lower(), inner)
                self._types.setdefault(outer.lower(), Field(outer))
            key = name.strip().lower()
            if isinstance(item, Field):
                self._types[key] = item
            else:
                self._types.setdefault(key, Field(name.strip()))

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, standard: bool = True) -> LeadSchema:
        """The schema in a file: JSON, or plain text with one schema name a line.

        JSON is a list of schema names, or of objects with a ``SchemaName`` (the answer of
        LeadSquared's ``LeadsMetaData.Get``, so your account's own metadata works as it is,
        types, options, ``MaxLength`` and mandatory fields included), or an object with such
        a list under ``"fields"``. In text, ``#`` starts a comment.
        """
        text = Path(path).read_text(encoding="utf-8")
        if Path(path).suffix.lower() == ".json":
            data = json.loads(text)
            if isinstance(data, dict):
                data = data.get("fields")
            if not isinstance(data, list):
                raise ValueError(f"{path}: expected a JSON list of schema names")
            names: list[str | Field] = []
            for n, item in enumerate(data):
                name = item.get("SchemaName") if isinstance(item, dict) else item
                if not isinstance(name, str):
                    raise ValueError(f"{path}: entry {n} is neither a name nor has a SchemaName")
                try:
                    names.append(Field.from_metadata(item) if isinstance(item, dict) else name)
                except ValueError as exc:
                    raise ValueError(f"{path}: entry {n}: {exc}") from None
            return cls(names, standard=standard)
        lines = (line.partition("#")[0].strip() for line in text.splitlines())
        return cls([line for line in lines if line], standard=standard)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.known(name)

    def __iter__(self) -> Iterator[str]:
        for key, name in self._fields.items():
            yield name
            for inner in self._sets.get(key, {}).values():
                yield f"{name}.{inner}"

    def __len__(self) -> int:
        return len(self._fields) + sum(len(inner) for inner in self._sets.values())

    def __repr__(self) -> str:
        return f"LeadSchema({len(self)} fields)"

    def known(self, name: str, field_set: str | None = None) -> bool:
        """Whether ``name`` is a lead field (or a field of the custom field set ``field_set``)."""
        if field_set is None:
            return name.strip().lower() in self._fields
        inner = self._sets.get(field_set.strip().lower())
        return inner is None or name.strip().lower() in inner

    def field(self, name: str, field_set: str | None = None) -> Field | None:
        """The ``Field`` named so (a field of the set ``field_set``), None when not typed."""
        key = name.strip().lower()
        if field_set is not None:
            key = f"{field_set.strip().lower()}.{key}"
        return self._types.get(key)

    def fields(self) -> list[Field]:
        """Every lead field (custom field sets' own fields left out), as metadata lists them."""
        return [self._types[key] for key in self._fields if key in self._types]

    def metadata(self, schema_name: str | None = None, *, options: bool = True) -> list[object]:
        """The answer of ``LeadsMetaData.Get``: every field, or the one named ``schema_name``.

        ``options`` false leaves dropdown values out (``excludeOptionSets=1``); an unknown
        ``schema_name`` answers no field.
        """
        chosen = self.fields()
        if schema_name is not None:
            chosen = [f for f in chosen if f.schema_name.lower() == schema_name.strip().lower()]
        return [f.metadata(options=options) for f in chosen]

    def value_refusal(
        self, name: str, value: str, field_set: str | None = None
    ) -> tuple[str, str | None]:
        """(the value to store, why the field refuses it or None) for one attribute's value.

        The refusal reads ``Invalid value for attribute mx_Age: 'abc' is not a Number``.
        """
        field = self.field(name, field_set)
        if field is None:
            return value, None
        stored, reason = field.refusal(value)
        if reason is None:
            return stored, None
        return value, f"Invalid value for attribute {field.schema_name}: {reason}"

    def vet(self, fields: dict[str, object]) -> str | None:
        """The refusal of the first value ``fields`` (one lead, by attribute) may not hold.

        Dropdown values are re-spelled in place in their option's spelling, as the service
        stores them; a custom field set's own fields are checked as fields of that set.
        """
        for name, held in fields.items():
            if isinstance(held, dict):
                value = held.get("Value")
                if isinstance(value, str):
                    held["Value"], reason = self.value_refusal(name, value)
                    if reason is not None:
                        return reason
                inner = held.get("Fields")
                if isinstance(inner, dict):
                    for inner_name, inner_value in inner.items():
                        if isinstance(inner_value, str):
                            inner[inner_name], reason = self.value_refusal(
                                inner_name, inner_value, name
                            )
                            if reason is not None:
                                return reason
            elif isinstance(held, str):
                fields[name], reason = self.value_refusal(name, held)
                if reason is not None:
                    return reason
        return None

    def missing(self, fields: dict[str, object]) -> list[str]:
        """The mandatory fields a create of ``fields`` leaves without a value."""
        given: dict[str, object] = {name.strip().lower(): v for name, v in fields.items()}
        out: list[str] = []
        for field in self.fields():
            if not field.mandatory:
                continue
            value = given.get(field.schema_name.lower())
            if isinstance(value, dict):
                value = value.get("Value")
            if not isinstance(value, str) or not value.strip():
                out.append(field.schema_name)
        return out

    def _suggest(self, name: str, field_set: str | None) -> str:
        pool = self._fields if field_set is None else self._sets.get(field_set.strip().lower(), {})
        close = difflib.get_close_matches(name.lower(), list(pool), n=1, cutoff=0.75)
        return f"; did you mean {pool[close[0]]!r}?" if close else ""

    def problem(self, body: object, *, values: bool = False) -> str | None:
        """The refusal of the first unknown attribute a write request's ``body`` names, if any.

        Reads every ``{"Attribute": ..., "Value": ...}`` object at any depth (a custom field
        set's ``Fields`` belong to that set), ``SearchBy`` values and ``SearchByKey``. With
        ``values`` a value its field refuses (``value_refusal``) is a problem too.
        """
        stack: list[tuple[object, str | None]] = [(body, None)]
        while stack:
            item, field_set = stack.pop()
            if isinstance(item, list):
                stack.extend((child, field_set) for child in reversed(item))
                continue
            if not isinstance(item, dict):
                continue
            key = item.get("SearchByKey")
            if isinstance(key, str) and key.strip() and not self.known(key):
                return self._refusal("SearchByKey", key, None)
            attribute = item.get("Attribute")
            rest = list(item.values())
            if isinstance(attribute, str):
                value = item.get("Value")
                if field_set is None and attribute.strip().lower() == _SEARCH_BY:
                    if isinstance(value, str) and value.strip() and not self.known(value):
                        return self._refusal("SearchBy", value, None)
                elif not self.known(attribute, field_set):
                    return self._refusal("Attribute", attribute, field_set)
                elif values:
                    text = _text(value)
                    if text is not None:
                        reason = self.value_refusal(attribute, text, field_set)[1]
                        if reason is not None:
                            return reason
                inner = item.get("Fields")
                if field_set is None and isinstance(inner, list):
                    stack.append((inner, attribute))
                rest = [v for k, v in item.items() if k not in ("Attribute", "Value", "Fields")]
            stack.extend((child, field_set) for child in reversed(rest))
        return None

    def _refusal(self, what: str, name: str, field_set: str | None) -> str:
        where = "a lead field" if field_set is None else f"a field of the set {field_set!r}"
        return (
            f"Invalid {what} {name!r}: not {where} of this account{self._suggest(name, field_set)}"
        )


def _text(value: object) -> str | None:
    """A request value as the fake stores it (None: not a value it would store)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


FieldsLike = Union[LeadSchema, Iterable[Union[str, Field]], str, "os.PathLike[str]"]
"""What ``FakeLeadSquared(fields=...)`` takes: a schema, names or ``Field`` objects, a path."""


def schema_of(fields: FieldsLike | None) -> LeadSchema | None:
    """``fields`` as a ``LeadSchema`` (a str or path is a file to ``LeadSchema.load``)."""
    if fields is None or isinstance(fields, LeadSchema):
        return fields
    if isinstance(fields, (str, os.PathLike)):
        return LeadSchema.load(fields)
    return LeadSchema(fields)
