"""The bulk lead specs: Lead/Bulk/Create, .../CreateOrUpdate, .../UpdateV2 and .../Update.

Each carries many rows a call; a row may take its single-lead road (``single``) instead when
the budgets favour it. ``ROADS`` says which operation each carries.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, ClassVar, cast

from .._errors import (
    LeadNotFoundError,
    LeadRejectedError,
    ResponseMismatchError,
    ValidationError,
)
from .answers import AffectedAnswer, RowAnswer, UpdateV2Answer, WireError, structure
from .decode import AtOnce, RowNumbered, by_identifier, is_phone_key, norm
from .encoding import (
    CustomFieldSet,
    check_attribute,
    encode_fields,
    encode_value,
    plain_fields,
    wire_items,
)
from .operations import (
    CreateLead,
    FieldUpdated,
    LeadCreated,
    LeadUpdated,
    LeadUpserted,
    UpdateField,
    UpdateLead,
    UpdateLeadById,
    UpsertLead,
    lead_created,
)
from .single import LEAD_CREATE, LEAD_CREATE_OR_UPDATE, LEAD_UPDATE, LEAD_UPDATE_QUIET
from .spec import (
    ID_ALIASES,
    ID_ATTRIBUTES,
    Endpoint,
    Road,
    Row,
    RowOutcome,
    check_lead_id,
    identity,
    value_of,
)

__all__ = [
    "BULK_CREATE",
    "BULK_CREATE_OR_UPDATE",
    "BULK_UPDATE",
    "BULK_UPDATE_V2",
    "ROADS",
    "BulkCreate",
    "BulkCreateOrUpdate",
    "BulkUpdate",
    "BulkUpdateV2",
]

_NOT_FOUND_HINT = "does not exist"
#: ``identity(name, value)`` is this prefix and ``norm(value)``: for the two names every
#: create and upsert looks up, the prefix is made once, not once per row.
_EMAIL_KEY, _PHONE_KEY = identity("EmailAddress", ""), identity("Phone", "")
_RESERVED = ("SearchBy",)


def _row_error(answer: RowAnswer) -> LeadRejectedError:
    reason = answer.exception_message or answer.error_message or "the service did not apply the row"
    if answer.exception_type == "MXInvalidEntityException":
        return LeadNotFoundError(reason, answer.exception_type)
    return LeadRejectedError(reason, answer.exception_type)


def _created(answer: RowAnswer) -> RowOutcome:
    if answer.lead_created and answer.lead_id:
        return LeadCreated(answer.lead_id)
    if answer.lead_created is False:
        return _row_error(answer)
    return ResponseMismatchError("the answer's row says neither created nor not")


def _upserted(answer: RowAnswer) -> RowOutcome:
    if answer.exception_type or answer.exception_message or answer.error_message:
        return _row_error(answer)
    if answer.lead_id and (answer.lead_created or answer.lead_updated):
        return LeadUpserted(answer.lead_id, bool(answer.lead_created), bool(answer.lead_updated))
    if answer.lead_created is False and answer.lead_updated is False:
        return _row_error(answer)
    return ResponseMismatchError("the answer's row says neither created nor updated")


class BulkCreate(Endpoint):
    """``Lead/Bulk/Create``: not idempotent, so never resent once it may have been applied."""

    name = "Lead/Bulk/Create"
    max_rows = 50
    idempotent = False
    _needs: ClassVar[tuple[str, ...]] = ("EmailAddress", "Phone", "FirstName", "LastName")
    _group: ClassVar[str] = name  # every row's group: a string, whose hash Python keeps
    #: Its answer; the usual one, every row created, read at once (most calls answer so).
    answer: ClassVar[RowNumbered[RowAnswer, RowOutcome]] = RowNumbered(
        RowAnswer,
        _created,
        AtOnce("LeadId", "LeadCreated", lead_created),
    )

    def prepare(self, op: CreateLead) -> Row:
        email: str | None
        phone: str | None
        fields = op.fields
        names = plain_fields(fields, _RESERVED)
        if names is not None:
            # ``value_of`` inline, its values all strings and each name found by its folded
            # form: a row without a Phone (most rows) then costs one ``get``, not a scan.
            items: dict[str, Any] = dict(fields)  # a copy: the caller may change theirs
            email = items[name] if (name := names.get("emailaddress")) is not None else None
            phone = items[name] if (name := names.get("phone")) is not None else None
        else:
            items = encode_fields(fields, reserved=_RESERVED)
            email, phone = value_of(items, "EmailAddress"), value_of(items, "Phone")
        # A value only blanks stands for none; ``identity(name, value)`` with ``norm`` inline.
        identities: tuple[str, ...] = ()
        if email and (email := email.strip()):
            identities = (_EMAIL_KEY + email.casefold(),)
        if phone and (phone := phone.strip()):
            identities += (_PHONE_KEY + phone.casefold(),)
        if not identities and not (value_of(items, "FirstName") or value_of(items, "LastName")):
            raise ValidationError("fields", "a new lead needs one of " + ", ".join(self._needs))
        return Row(op, self._group, items, identities, None, LEAD_CREATE)

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        # ``wire_items`` inline, a frame less for each row.
        return {}, [
            [
                {"Attribute": name, "Value": value} if type(value) is str else value
                for name, value in row.items.items()
            ]
            for row in rows
        ]

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        return self.answer(len(rows), data)


class BulkCreateOrUpdate(Endpoint):
    """``Lead/Bulk/CreateOrUpdate``: upsert, matched per row by its ``SearchBy``."""

    name = "Lead/Bulk/CreateOrUpdate"
    max_rows = 25
    _group: ClassVar[str] = name
    answer: ClassVar[RowNumbered[RowAnswer, RowOutcome]] = RowNumbered(RowAnswer, _upserted)

    def prepare(self, op: UpsertLead) -> Row:
        items = encode_fields(op.fields, reserved=("SearchBy",))
        search_by = op.search_by
        identities: list[Hashable] = []
        if search_by is not None:
            if not isinstance(search_by, str) or not search_by.strip():
                raise ValidationError("search_by", "must be a non-empty attribute name")
            key = value_of(items, search_by)
            if key is None:
                raise ValidationError(search_by, "the search_by attribute is missing from fields")
            identities.append(identity(search_by, key))
        elif not (value_of(items, "EmailAddress") or value_of(items, "Phone")):
            raise ValidationError(
                "fields", "an upsert needs EmailAddress, Phone or a search_by attribute"
            )
        for name, prefix in (("EmailAddress", _EMAIL_KEY), ("Phone", _PHONE_KEY)):
            value = value_of(items, name)
            if value and (ident := prefix + norm(value)) not in identities:
                identities.append(ident)
        return Row(op, self._group, items, tuple(identities), single=LEAD_CREATE_OR_UPDATE)

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        body = []
        for row in rows:
            fields = wire_items(row.items)
            search_by = row.op.search_by  # type: ignore[union-attr]
            if search_by:
                fields.append({"Attribute": "SearchBy", "Value": search_by})
            body.append(fields)
        return {}, body

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        return self.answer(len(rows), data)


class BulkUpdateV2(Endpoint):
    """``Lead/Bulk/UpdateV2``: many fields of many leads, matched by a search key or ProspectId."""

    name = "Lead/Bulk/UpdateV2"
    max_rows = 25

    def prepare(self, op: UpdateLead | UpdateLeadById) -> Row:
        if isinstance(op, UpdateLeadById):
            lead_id = check_lead_id(op.lead_id)
            items = encode_fields(op.fields, reserved=("ProspectId", "ProspectID", "SearchBy"))
            items = {"ProspectId": lead_id, **items}
            search_by = "ProspectId"
        else:
            search_by = op.search_by
            if not isinstance(search_by, str) or not search_by.strip():
                raise ValidationError("search_by", "must be a non-empty attribute name")
            if search_by.casefold() in ID_ALIASES:
                raise ValidationError(
                    search_by,
                    "to update by lead id use search_by='ProspectId' or update_lead_by_id",
                )
            items = encode_fields(op.fields, reserved=("SearchBy",))
        key = value_of(items, search_by)
        if key is None:
            raise ValidationError(search_by, "the search_by attribute is missing from fields")
        by_id = search_by.casefold() in ID_ATTRIBUTES
        if by_id:
            key = check_lead_id(key, search_by)
            name = next(n for n in items if n.casefold() == search_by.casefold())
            items[name] = key
        group = (self.name, None if by_id else search_by)
        single = LEAD_UPDATE_QUIET if by_id else None  # Lead.Update takes a lead id only
        return Row(op, group, items, (identity(search_by, key),), norm(key), single)

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        body: dict[str, object] = {}
        search_by = rows[0].group[1]  # type: ignore[index]
        if search_by is not None:
            body["SearchByKey"] = search_by
        body["Options"] = {"PushNonExistentLeadsToUnProcessedList": True}
        body["LeadPropertiesList"] = [{"Fields": wire_items(row.items)} for row in rows]
        return {}, body

    def merge(self, older: Row, newer: Row) -> Row | None:
        if older.group != newer.group or older.identities != newer.identities:
            return None
        items = {**older.items, **newer.items}
        return Row(older.op, older.group, items, older.identities, older.key_value, older.single)

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        details = structure(data, UpdateV2Answer).details
        if details is None:
            raise WireError("the answer has no Details")
        lists = (
            ("ok", details.successful_leads or ()),
            ("failed", details.failed_leads or ()),
            ("unprocessed", details.unprocessed_leads or ()),
        )
        key_name = rows[0].group[1] if rows else None  # type: ignore[index]
        phone = key_name is not None and is_phone_key(key_name)
        matches = by_identifier([row.key_value or "" for row in rows], lists, phone=phone)
        out: list[RowOutcome] = []
        for row, match in zip(rows, matches, strict=True):
            if isinstance(match, ResponseMismatchError):
                out.append(match)
                continue
            kind, entry = match
            search_by, value = row.group[1] or "ProspectId", row.key_value or ""  # type: ignore[index]
            if kind == "ok":
                raw = value_of(row.items, search_by) or value
                lead_id = raw if search_by == "ProspectId" else None
                out.append(LeadUpdated(search_by, raw, lead_id))
                continue
            reason = entry.reason or "the service did not update the lead"
            if kind == "unprocessed" or _NOT_FOUND_HINT in reason.casefold():
                out.append(LeadNotFoundError(reason, None))
            else:
                out.append(LeadRejectedError(reason, _exception_type_in(reason)))
        return out


def _exception_type_in(text: str) -> str | None:
    for word in text.replace(":", " ").split():
        if word.startswith("MX") and word.endswith("Exception"):
            return word
    return None


class BulkUpdate(Endpoint):
    """``Lead/Bulk/Update``: one field, one value, up to 50 LeadIds; answers only a count."""

    name = "Lead/Bulk/Update"
    max_rows = 50

    def prepare(self, op: UpdateField) -> Row:
        lead_id = check_lead_id(op.lead_id)
        attribute = check_attribute(op.attribute, "attribute")
        if isinstance(op.value, CustomFieldSet):
            raise ValidationError(attribute, "Lead/Bulk/Update cannot set a custom field set")
        value = encode_value(attribute, op.value)
        lead_type = op.lead_type
        if lead_type is not None:
            if not isinstance(lead_type, str) or not lead_type.strip():
                raise ValidationError("lead_type", "must be a non-empty string such as 'OT_1'")
            encode_value("lead_type", lead_type)
        items = {attribute: value}
        group = (self.name, attribute, value, lead_type)
        # Lead.Update cannot check the lead's type, so a row with one stays on the bulk road.
        single = LEAD_UPDATE_QUIET if lead_type is None else None
        return Row(op, group, items, (identity("ProspectId", lead_id),), lead_id, single)

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        _, attribute, value, lead_type = cast("tuple[str, str, str, str | None]", rows[0].group)
        body: dict[str, object] = {
            "LeadIds": [row.key_value for row in rows],
            "LeadFields": {"Attribute": attribute, "Value": value},
        }
        if lead_type is not None:
            body["Attribute"] = "LeadType"
            body["Value"] = lead_type
        return {}, body

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        answer = structure(data, AffectedAnswer)
        if answer.message is None or answer.message.affected_rows is None:
            raise WireError("the answer has no AffectedRows")
        affected = answer.message.affected_rows
        if affected == 0:
            return [
                LeadNotFoundError("AffectedRows was 0: no lead of this call was updated")
                for _ in rows
            ]
        confirmed = affected == len(rows)
        return [
            FieldUpdated(
                row.key_value or "",
                row.op.attribute,  # type: ignore[union-attr]
                confirmed,
                affected,
                len(rows),
            )
            for row in rows
        ]


BULK_CREATE = BulkCreate()
BULK_CREATE_OR_UPDATE = BulkCreateOrUpdate()
BULK_UPDATE_V2 = BulkUpdateV2()
BULK_UPDATE = BulkUpdate()


def _update_by_id_route(op: UpdateLeadById) -> Endpoint:
    if not isinstance(op.post_updated_lead, bool):
        raise ValidationError("post_updated_lead", "must be True or False")
    return LEAD_UPDATE if op.post_updated_lead else BULK_UPDATE_V2


#: The operations these specs carry.
ROADS = (
    Road(CreateLead, BULK_CREATE, singles=(LEAD_CREATE,)),
    Road(UpsertLead, BULK_CREATE_OR_UPDATE, singles=(LEAD_CREATE_OR_UPDATE,)),
    Road(UpdateLead, BULK_UPDATE_V2, singles=(LEAD_UPDATE_QUIET,)),
    Road(
        UpdateLeadById,
        BULK_UPDATE_V2,
        _update_by_id_route,
        choices=(LEAD_UPDATE,),
        singles=(LEAD_UPDATE_QUIET,),
    ),
    Road(UpdateField, BULK_UPDATE, singles=(LEAD_UPDATE_QUIET,)),
)
