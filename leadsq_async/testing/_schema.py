"""An account's lead fields: under a schema the fake refuses attributes the account lacks.

LeadSquared answers a write naming an attribute the account does not have with an ``MX...``
error instead of storing it. A fake without a schema stores anything, so a typo such as
``EmailAdress`` or ``mx_Cty`` would pass a user's tests; with one it is refused the same way.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Union

__all__ = ["STANDARD_FIELDS", "FieldsLike", "LeadSchema"]

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

    ``fields`` are the account's own fields (``"mx_City"``); the standard fields
    (``STANDARD_FIELDS``) are built in unless ``standard`` is false. A custom field set is a
    field like any other (``"mx_KYC"``); list its fields as ``"mx_KYC.Status"`` and the set's
    other fields are refused too (a set with none listed takes any). ``SearchBy`` is always
    accepted, and the field it (or UpdateV2's ``SearchByKey``) names must exist.
    """

    def __init__(self, fields: Iterable[str] = (), *, standard: bool = True) -> None:
        if isinstance(fields, (str, bytes)):
            raise TypeError("fields is a list of schema names, not one string")
        self._fields: dict[str, str] = {}
        self._sets: dict[str, dict[str, str]] = {}
        for name in (*(STANDARD_FIELDS if standard else ()), *fields):
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"a schema name must be a non-empty string, got {name!r}")
            outer, dot, inner = name.strip().partition(".")
            self._fields.setdefault(outer.lower(), outer)
            if dot:
                self._sets.setdefault(outer.lower(), {}).setdefault(inner.lower(), inner)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, standard: bool = True) -> LeadSchema:
        """The schema in a file: JSON, or plain text with one schema name a line.

        JSON is a list of schema names, or of objects with a ``SchemaName`` (the answer of
        LeadSquared's ``LeadsMetaData.Get``, so your account's own metadata works as it is),
        or an object with such a list under ``"fields"``. In text, ``#`` starts a comment.
        """
        text = Path(path).read_text(encoding="utf-8")
        if Path(path).suffix.lower() == ".json":
            data = json.loads(text)
            if isinstance(data, dict):
                data = data.get("fields")
            if not isinstance(data, list):
                raise ValueError(f"{path}: expected a JSON list of schema names")
            names: list[str] = []
            for n, item in enumerate(data):
                name = item.get("SchemaName") if isinstance(item, dict) else item
                if not isinstance(name, str):
                    raise ValueError(f"{path}: entry {n} is neither a name nor has a SchemaName")
                names.append(name)
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

    def _suggest(self, name: str, field_set: str | None) -> str:
        pool = self._fields if field_set is None else self._sets.get(field_set.strip().lower(), {})
        close = difflib.get_close_matches(name.lower(), list(pool), n=1, cutoff=0.75)
        return f"; did you mean {pool[close[0]]!r}?" if close else ""

    def problem(self, body: object) -> str | None:
        """The refusal of the first unknown attribute a write request's ``body`` names, if any.

        Reads every ``{"Attribute": ..., "Value": ...}`` object at any depth (a custom field
        set's ``Fields`` belong to that set), ``SearchBy`` values and ``SearchByKey``.
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


FieldsLike = Union[LeadSchema, Iterable[str], str, "os.PathLike[str]"]
"""What ``FakeLeadSquared(fields=...)`` takes: a schema, schema names, or a file's path."""


def schema_of(fields: FieldsLike | None) -> LeadSchema | None:
    """``fields`` as a ``LeadSchema`` (a str or path is a file to ``LeadSchema.load``)."""
    if fields is None or isinstance(fields, LeadSchema):
        return fields
    if isinstance(fields, (str, os.PathLike)):
        return LeadSchema.load(fields)
    return LeadSchema(fields)
