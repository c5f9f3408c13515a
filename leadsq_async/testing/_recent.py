"""The reads of many leads: ``Leads.RecentlyModified`` (a date range) and ``Leads.Get`` (one
field compared with an operator), both sorted and paged as the service does.

A lead's time is its ``ModifiedOn`` (every write sets it, to the store's clock, to the whole
second as the service writes it). ``FromDate`` includes its own second; ``ToDate`` does too
unless the fake is told otherwise (the service's pages do not say; the client must cope with
both). Leads that tie on the sort column come in a different order in every call, as nothing
promises a stable order: only a unique column (``ProspectAutoId``, ``ProspectID``) pages
reliably.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from ._lookups import service_view
from ._wire import Outcome, bad

if TYPE_CHECKING:
    from ._store import LeadStore

__all__ = ["MODIFIED_PAGE_LIMIT", "leads_get", "recently_modified"]

MODIFIED_PAGE_LIMIT = 5000
"""The most leads one ``Leads.RecentlyModified`` (or ``Leads.Get``) call answers."""
_AUTO_ID = "ProspectAutoId"
_OPERATORS = ("=", "LIKE", ">", "<", "<=", ">=", "<>")
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_STAMPS = {"createdon": 0, "modifiedon": 1}


def _block(body: dict[str, object], name: str, required: bool = True) -> dict[str, object]:
    block = body.get(name)
    if block is None and not required:
        return {}
    if not isinstance(block, dict):
        raise bad(f"{name} must be a JSON object")
    return block


def _columns(body: dict[str, object]) -> list[str]:
    csv = _block(body, "Columns").get("Include_CSV")
    if not isinstance(csv, str) or not csv.strip():
        raise bad("Columns.Include_CSV is mandatory: name the columns to retrieve")
    return [name.strip() for name in csv.split(",") if name.strip()]


def _paging(body: dict[str, object], limit: int) -> tuple[int, int]:
    paging = _block(body, "Paging", required=False)
    out = []
    for key, default in (("PageIndex", 1), ("PageSize", limit)):
        value = paging.get(key, default)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad(f"Paging.{key} must be a whole number of at least 1")
        out.append(value)
    return out[0], min(out[1], limit)  # a larger PageSize is cut to the limit


def _date(parameter: dict[str, object], key: str) -> str:
    value = parameter.get(key)
    if not isinstance(value, str):
        raise bad(f"Parameter.{key} is required: YYYY-MM-DD HH:MM:SS (UTC)")
    try:
        return dt.datetime.strptime(value.strip(), _DATE_FORMAT).strftime(_DATE_FORMAT)
    except ValueError:
        raise bad(f"Parameter.{key} must be YYYY-MM-DD HH:MM:SS (UTC), got {value!r}") from None


def _value(store: LeadStore, lead_id: str, column: str) -> str | None:
    folded = column.casefold()
    if folded == "prospectautoid":
        return str(store.auto_id(lead_id))
    if folded in _STAMPS:
        return store.stamps(lead_id)[_STAMPS[folded]]
    return service_view(store, lead_id, [column])[column]


def _number(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _sorted(
    store: LeadStore, ids: list[str], body: dict[str, object], ties: random.Random
) -> list[str]:
    sorting = _block(body, "Sorting", required=False)
    column = sorting.get("ColumnName", _AUTO_ID)
    direction = str(sorting.get("Direction", "1")).strip()
    if not isinstance(column, str) or not column.strip():
        raise bad("Sorting.ColumnName must name a column")
    if direction not in ("0", "1"):
        raise bad('Sorting.Direction must be "0" (oldest first) or "1" (most recent first)')
    ties.shuffle(ids)  # ties come in a new order every call: the sort is not stable
    column = column.strip()
    values = {lead_id: _value(store, lead_id, column) for lead_id in ids}
    numeric = column.casefold() == "prospectautoid" or (
        column.casefold() not in _STAMPS
        and all(_number(v) is not None for v in values.values() if v is not None)
    )

    def key(lead_id: str) -> tuple[int, object]:
        value = values[lead_id]
        if value is None:
            return (0, "")
        return (
            1,
            int(value)
            if numeric and value.isdigit()
            else _number(value)
            if numeric
            else value.casefold(),
        )

    return sorted(ids, key=key, reverse=direction == "1")


def _view(store: LeadStore, lead_id: str, columns: list[str]) -> dict[str, str | None]:
    view = service_view(store, lead_id, columns)
    for column in columns:
        if column.casefold() == _AUTO_ID.casefold():
            view[column] = str(store.auto_id(lead_id))
    return view


def recently_modified(
    store: LeadStore,
    body: object,
    page_limit: int,
    to_inclusive: bool,
    ties: random.Random,
) -> Outcome:
    """``Leads.RecentlyModified``: the leads whose ModifiedOn falls in the range, one page.

    Answers ``{"RecordCount": N, "Leads": [{"LeadPropertyList": [{"Attribute", "Value"}]}]}``
    where N counts the whole range, not the page.
    """
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object with Parameter")
    parameter = _block(body, "Parameter")
    since, until = _date(parameter, "FromDate"), _date(parameter, "ToDate")
    columns = _columns(body)
    index, size = _paging(body, page_limit)
    inside: Callable[[str], bool] = (
        (lambda t: since <= t <= until) if to_inclusive else (lambda t: since <= t < until)
    )
    ids = [lead_id for lead_id in store.ids() if inside(store.stamps(lead_id)[1][:19])]
    page = _sorted(store, ids, body, ties)[(index - 1) * size : index * size]
    leads = [
        {
            "LeadPropertyList": [
                {"Attribute": k, "Value": v} for k, v in _view(store, i, columns).items()
            ]
        }
        for i in page
    ]
    return Outcome({"RecordCount": len(ids), "Leads": leads}, False)


def _like(pattern: str) -> re.Pattern[str]:
    parts = (re.escape(part) for part in pattern.split("%"))
    return re.compile(".*".join(parts), re.IGNORECASE | re.DOTALL)


def _matches(value: str | None, operator: str, wanted: str) -> bool:
    if value is None:
        return operator == "<>"
    if operator == "LIKE":
        return _like(wanted).fullmatch(value) is not None
    left, right = _number(value), _number(wanted)
    a: object
    b: object
    a, b = (
        (left, right)
        if left is not None and right is not None
        else (value.casefold(), wanted.casefold())
    )
    if operator == "=":
        return a == b
    if operator == "<>":
        return a != b
    return bool(
        {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[operator]  # type: ignore[operator]
    )


def leads_get(store: LeadStore, body: object, page_limit: int, ties: random.Random) -> Outcome:
    """``Leads.Get``: the leads whose ``LookupName`` compares to ``LookupValue`` by
    ``SqlOperator``, sorted and paged; a plain array of lead objects."""
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object with Parameter")
    parameter = _block(body, "Parameter")
    name, wanted = parameter.get("LookupName"), parameter.get("LookupValue")
    operator = str(parameter.get("SqlOperator", "=")).strip().upper()
    if not isinstance(name, str) or not name.strip():
        raise bad("Parameter.LookupName must name a field")
    if not isinstance(wanted, str):
        raise bad("Parameter.LookupValue must be a string")
    if operator not in _OPERATORS:
        raise bad(f"Parameter.SqlOperator must be one of {', '.join(_OPERATORS)}")
    columns = _columns(body)
    index, size = _paging(body, page_limit)
    ids = [i for i in store.ids() if _matches(_value(store, i, name.strip()), operator, wanted)]
    page = _sorted(store, ids, body, ties)[(index - 1) * size : index * size]
    return Outcome([_view(store, i, columns) for i in page], False)
