"""One lead field's type, as ``LeadsMetaData.Get`` describes it, and the values it takes.

A real account refuses a value that does not fit its field (a Number that is not a number, a
dropdown value outside its options, a string over ``MaxLength``) and a create without its
mandatory fields; the fake applies the same rules to the fields it knows the type of.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping

import attrs

__all__ = ["STANDARD_TYPES", "Field"]

CREATED_ON = "/Date(1417453996000+0000)/"
"""When the fake's fields were made (the ``CreatedOn`` its metadata answers)."""

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
_PHONE = re.compile(r"\+?[\d\s()-]*\d[\d\s()-]*")
_WEBSITE = re.compile(r"(https?://)?[a-z0-9-]+(\.[a-z0-9-]+)+(:\d+)?([/?#]\S*)?", re.IGNORECASE)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?)")
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?")
_BOOLEANS = frozenset({"true", "false", "1", "0", "yes", "no"})
_RENDER = {
    "text": "Textbox",
    "number": "Number",
    "email": "Email",
    "phone": "Phone",
    "website": "Website",
    "date": "Date",
    "time": "Time",
    "select": "Dropdown",
    "boolean": "Checkbox",
}
_SHOWN_OPTIONS = 10


def _calendar(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_date(text: str) -> bool:
    return _DATE.fullmatch(text) is not None and _calendar(text)


def _is_datetime(text: str) -> bool:
    match = _DATETIME.fullmatch(text)
    return match is not None and _calendar(match[1]) and _TIME.fullmatch(match[2][:8]) is not None


# data type (lower case) -> (whether a value fits, how the refusal names the type)
_RULES: dict[str, tuple[Callable[[str], bool], str]] = {
    "number": (lambda v: _NUMBER.fullmatch(v) is not None, "a Number"),
    "email": (lambda v: _EMAIL.fullmatch(v) is not None, "an Email address"),
    "phone": (lambda v: _PHONE.fullmatch(v) is not None, "a Phone number"),
    "website": (lambda v: _WEBSITE.fullmatch(v) is not None, "a Website address"),
    "date": (_is_date, "a Date (YYYY-MM-DD)"),
    "datetime": (_is_datetime, "a DateTime (YYYY-MM-DD HH:MM:SS)"),
    "time": (lambda v: _TIME.fullmatch(v) is not None, "a Time (HH:MM or HH:MM:SS)"),
    "boolean": (lambda v: v.lower() in _BOOLEANS, "a Boolean (true or false)"),
}


def _options(value: Iterable[object] | None) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError("options is a list of values, not one string")
    return () if value is None else tuple(str(v) for v in value)


def _length(value: int | str | None) -> int | None:
    if value is None or value == "":
        return None
    number = int(value)
    if number < 1:
        raise ValueError(f"max_length must be >= 1, got {value!r}")
    return number


@attrs.frozen
class Field:
    """One lead field: its schema name and what ``LeadsMetaData.Get`` says of its values.

    ``data_type`` is one of LeadSquared's (``Text``, ``Number``, ``Email``, ``Phone``,
    ``Website``, ``Date``, ``Time``, ``Select``, ``Boolean``; ``DateTime`` is short for a
    ``Date`` rendered as ``DateTime``); any other is stored unchecked, as a real account has
    types the fake does not know. ``options`` are a ``Select``'s values, matched in any letter
    case and stored in their own spelling (none listed: any value). ``mandatory`` fields must
    have a value when a lead is created through the API.
    """

    schema_name: str
    data_type: str = "Text"
    display_name: str = ""
    mandatory: bool = False
    max_length: int | None = attrs.field(default=None, converter=_length)
    options: tuple[str, ...] = attrs.field(default=(), converter=_options)
    is_lead_identifier: bool = False
    render_type: str = ""
    default_value: str | None = None
    range_min: str | None = None
    lock_after_create: int = 0

    @property
    def rule(self) -> str:
        """The value rule applied: the data type, ``datetime`` for a Date rendered so."""
        kind = self.data_type.lower()
        if kind == "date" and self.render_type.lower() == "datetime":
            return "datetime"
        return kind

    def refusal(self, value: str) -> tuple[str, str | None]:
        """(the value to store, the reason it is refused or None) for one value.

        A blank value clears the field and is never refused here (a create checks mandatory
        fields on its own); a dropdown value comes back in its option's spelling.
        """
        text = value.strip()
        if not text:
            return value, None
        kind = self.rule
        if kind == "select" and self.options:
            spelled = {option.lower(): option for option in self.options}
            option = spelled.get(text.lower())
            if option is None:
                shown = ", ".join(self.options[:_SHOWN_OPTIONS])
                more = ", ..." if len(self.options) > _SHOWN_OPTIONS else ""
                return value, f"{value!r} is not one of its options ({shown}{more})"
            value = option
        check = _RULES.get(kind)
        if check is not None and not check[0](text):
            return value, f"{value!r} is not {check[1]}"
        if self.max_length is not None and len(value) > self.max_length:
            return value, f"{len(value)} characters, over its MaxLength of {self.max_length}"
        return value, None

    def metadata(self, *, options: bool = True) -> dict[str, object]:
        """This field as one entry of ``LeadsMetaData.Get`` (without Options when asked)."""
        kind = self.rule
        data_type = "Date" if kind == "datetime" else self.data_type
        render = self.render_type or ("DateTime" if kind == "datetime" else _RENDER.get(kind, ""))
        entry: dict[str, object] = {
            "SchemaName": self.schema_name,
            "DisplayName": self.display_name or self.schema_name,
            "DataType": data_type,
            "IsMandatory": self.mandatory,
        }
        if self.max_length is not None:
            entry["MaxLength"] = str(self.max_length)
        if self.range_min is not None:
            entry["RangeMin"] = self.range_min
        if options and kind == "select":
            entry["Options"] = [{"Value": option} for option in self.options]
        if self.default_value is not None:
            entry["DefaultValue"] = self.default_value
        entry.update(
            RenderTypeTextValue=render,
            IsLeadIdentifier=self.is_lead_identifier,
            LockAfterCreate=self.lock_after_create,
            ShowInImport=True,
            CreatedOn=CREATED_ON,
        )
        return entry

    @classmethod
    def from_metadata(cls, entry: Mapping[str, object]) -> Field:
        """The field one ``LeadsMetaData.Get`` entry describes (what it lacks takes defaults).

        Raises ``ValueError`` when the entry has no ``SchemaName``; an unreadable
        ``MaxLength`` means no limit.
        """
        name = entry.get("SchemaName")
        if not isinstance(name, str) or not name.strip():
            raise ValueError("the entry has no SchemaName")
        options = entry.get("Options")
        values = [
            o.get("Value") if isinstance(o, Mapping) else o
            for o in (options if isinstance(options, list) else [])
        ]

        def text(key: str) -> str | None:
            value = entry.get(key)
            return None if value is None else str(value)

        try:
            raw = entry.get("MaxLength")
            max_length = _length(raw if isinstance(raw, (int, str)) else None)
        except (TypeError, ValueError):
            max_length = None  # real answers carry "" or "0" too: no limit then
        lock = entry.get("LockAfterCreate", 0)
        return cls(
            name.strip(),
            data_type=text("DataType") or "Text",
            display_name=text("DisplayName") or "",
            mandatory=entry.get("IsMandatory") in (True, 1, "true", "True", "1"),
            max_length=max_length,
            options=tuple(str(v) for v in values if v is not None),
            is_lead_identifier=entry.get("IsLeadIdentifier") in (True, 1, "true", "True"),
            render_type=text("RenderTypeTextValue") or "",
            default_value=text("DefaultValue"),
            range_min=text("RangeMin"),
            lock_after_create=lock if isinstance(lock, int) and not isinstance(lock, bool) else 0,
        )


def _standard(
    name: str,
    data_type: str = "Text",
    display: str = "",
    *,
    is_lead_identifier: bool = False,
    render_type: str = "",
) -> Field:
    spaced = display or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return Field(
        name,
        data_type,
        spaced,
        is_lead_identifier=is_lead_identifier,
        render_type=render_type,
    )


STANDARD_TYPES: Mapping[str, Field] = {
    field.schema_name: field
    for field in (
        _standard("ProspectID", display="Lead Id"),
        _standard("ProspectAutoId", "Number", "Lead Number"),
        _standard("FirstName"),
        _standard("LastName"),
        _standard("EmailAddress", "Email", "Email", is_lead_identifier=True),
        _standard("Phone", "Phone", "Phone Number", is_lead_identifier=True),
        _standard("Mobile", "Phone", "Mobile Number"),
        _standard("Company"),
        _standard("JobTitle"),
        _standard("Website", "Website"),
        _standard("Notes"),
        _standard("Source", display="Lead Source"),
        _standard("SourceMedium"),
        _standard("SourceCampaign"),
        _standard("SourceContent"),
        _standard("SourceReferrerURL", display="Referrer URL"),
        _standard("ProspectStage", display="Lead Stage"),
        _standard("Score", "Number"),
        _standard("EngagementScore", "Number"),
        _standard("QualityScore01", "Number", "Quality Score"),
        _standard("OwnerId", display="Lead Owner"),
        _standard("Origin"),
        _standard("TimeZone"),
        _standard("LeadType"),
        _standard("DoNotEmail", "Boolean"),
        _standard("DoNotCall", "Boolean"),
        _standard("DoNotSMS", "Boolean", "Do Not SMS"),
        _standard("DoNotTrack", "Boolean"),
        _standard("CreatedOn", "Date", render_type="DateTime"),
        _standard("ModifiedOn", "Date", render_type="DateTime"),
    )
}
"""The standard fields' types: EmailAddress an Email, Phone and Mobile Phones, the scores
Numbers, the DoNot* flags Booleans, CreatedOn and ModifiedOn DateTimes, the rest Text."""
