"""The read-only endpoints: leads by id, ids, email or phone, the account behind the keys, and
the account's lead fields (``LeadsMetaData.Get``).

Leads are answered as the service answers them: every value a string (a custom field set
by its value), ``CreatedOn`` and ``ModifiedOn`` as UTC ``2017-11-30 07:40:18.000``, a
requested column the lead lacks as ``null``, and ``[]`` when there is no lead.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._schema import LeadSchema
from ._store import EMAIL, PHONE
from ._wire import Outcome, bad

if TYPE_CHECKING:
    from ._store import LeadStore

__all__ = [
    "MAX_IDS",
    "get_by_email",
    "get_by_id",
    "get_by_phone",
    "leads_metadata",
    "retrieve_by_ids",
    "service_view",
    "user_by_access_key",
]

MAX_IDS = 10_000
"""The most lead ids one ``Leads/Retrieve/ByIds`` request may name."""
_MOBILE = "Mobile"


def service_view(
    store: LeadStore, lead_id: str, columns: Sequence[str] | None = None
) -> dict[str, str | None]:
    """The lead as a lookup answers it: strings, with its dates; only ``columns`` if given."""
    view: dict[str, str | None] = {}
    for name, held in store.raw(lead_id).items():
        value = held.get("Value", "") if isinstance(held, dict) else held  # a set: its value
        view[name] = value if isinstance(value, str) else str(value)
    created, modified = store.stamps(lead_id)
    view.setdefault("CreatedOn", created)
    view.setdefault("ModifiedOn", modified)
    if columns is None:
        return view
    spelled = {name.lower(): name for name in view}
    out: dict[str, str | None] = {}
    for column in columns:
        known = spelled.get(column.lower())
        out[known or column] = None if known is None else view[known]
    return out


def get_by_id(store: LeadStore, query: dict[str, str]) -> Outcome:
    """``Leads.GetById?id=``: a list of 0 or 1 lead."""
    lead_id = query.get("id", "").strip()
    if not lead_id:
        raise bad("The id parameter is required")
    found = store.lead_id(lead_id)
    return Outcome([] if found is None else [service_view(store, found)], False)


def get_by_email(store: LeadStore, query: dict[str, str]) -> Outcome:
    """``Leads.GetByEmailaddress?emailaddress=``: a list of 0 or 1 lead."""
    email = query.get("emailaddress", "").strip()
    if not email:
        raise bad("The emailaddress parameter is required")
    found = store.owner(EMAIL, email)
    return Outcome([] if found is None else [service_view(store, found)], False)


def _digits(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("Value")
    return "".join(c for c in value if c.isdigit()) if isinstance(value, str) else ""


def get_by_phone(store: LeadStore, query: dict[str, str]) -> Outcome:
    """``RetrieveLeadByPhoneNumber?phone=``: digits only; matches Phone and Mobile.

    When several leads match, the one with the latest activity (then the newest) answers.
    """
    phone = query.get("phone", "").strip()
    if not phone:
        raise bad("The phone parameter is required")
    if not phone.isdigit():
        raise bad("The phone parameter takes digits only, without spaces or hyphens")
    matches = [
        (store.latest_activity(lead_id), n, lead_id)
        for n, lead_id in enumerate(store.ids())
        if phone
        in (_digits(store.raw(lead_id).get(PHONE)), _digits(store.raw(lead_id).get(_MOBILE)))
    ]
    if not matches:
        return Outcome([], False)
    return Outcome([service_view(store, max(matches)[2])], False)


def _positive(paging: dict[str, object], key: str, default: int) -> int:
    value = paging.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad(f"Paging.{key} must be a whole number of at least 1")
    return value


def retrieve_by_ids(store: LeadStore, body: object, page_limit: int, seed: int) -> Outcome:
    """``Leads/Retrieve/ByIds``: the leads among ``LeadIds``, in no promised order, paged.

    ``Include_CSV`` is mandatory; ``PageSize`` is capped at ``page_limit``; ids of no lead
    are simply missing. The order is shuffled, the same way for the same ids, so that pages
    of one question fit together.
    """
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object with SearchParameters")
    search = body.get("SearchParameters")
    ids = search.get("LeadIds") if isinstance(search, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad("SearchParameters.LeadIds must be a list of lead ids")
    if len(ids) > MAX_IDS:
        raise bad(f"At most {MAX_IDS} lead ids can be retrieved in one call, got {len(ids)}")
    columns = body.get("Columns")
    csv = columns.get("Include_CSV") if isinstance(columns, dict) else None
    if not isinstance(csv, str) or not csv.strip():
        raise bad("Columns.Include_CSV is mandatory: name the columns to retrieve")
    names = [name.strip() for name in csv.split(",") if name.strip()]
    paging = body.get("Paging", {})
    if not isinstance(paging, dict):
        raise bad("Paging must be an object with PageIndex and PageSize")
    index = _positive(paging, "PageIndex", 1)
    size = min(_positive(paging, "PageSize", page_limit), page_limit)
    found = list(dict.fromkeys(i for i in map(store.lead_id, ids) if i is not None))
    random.Random(f"{seed}:{','.join(sorted(found))}").shuffle(found)
    page = found[(index - 1) * size : index * size]
    leads = [service_view(store, lead_id, names) for lead_id in page]
    return Outcome({"RecordCount": len(found), "Leads": leads}, False)


def user_by_access_key(user_id: str, host: str) -> Outcome:
    """``UserByAccessKey.Get``: the demo user, naming ``host`` as the account's API host."""
    region = host.split(".", 1)[0].removeprefix("api").lstrip("-")
    suffix = f"-{region}" if region else ""
    user = {
        "Id": user_id,
        "FirstName": "Demo",
        "LastName": "User",
        "EmailAddress": "demo.user@example.com",
        "Role": "Administrator",
        "Timezone": "Asia/Kolkata",
        "OrgId": "10000",
        "IsAdministrator": True,
        "LSQCommonServiceURLs": {
            "api": host,
            "app": f"app{suffix}.leadsquared.com",
            "async": f"asyncapi{suffix}.leadsquared.com",
        },
    }
    return Outcome(user, False)


def leads_metadata(schema: LeadSchema, query: dict[str, str]) -> Outcome:
    """``LeadsMetaData.Get``: the account's lead fields (a fake without a schema has no such
    API: it answers 404 before it gets here).

    ``excludeOptionSets=1`` leaves out dropdown values; ``schemaName=`` answers the one field
    so named (in any case), still as a list, empty when there is none.
    """
    exclude = query.get("excludeoptionsets", "").strip().lower() in ("1", "true")
    name = query.get("schemaname", "").strip() or None
    return Outcome(schema.metadata(name, options=not exclude), False)
