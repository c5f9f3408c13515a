"""Which function answers which endpoint, the fake's own admin endpoints included."""

from __future__ import annotations

import random as _random
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import _activities, _leads_bulk, _leads_single, _lookups, _recent
from ._endpoints import (
    ACTIVITY_BY_LEAD_FIELD,
    ACTIVITY_BY_LEAD_ID,
    ACTIVITY_CREATE,
    ADMIN_PREFIX,
    BULK_CREATE,
    BULK_CREATE_OR_UPDATE,
    BULK_UPDATE,
    BULK_UPDATE_V2,
    GET_BY_EMAIL,
    GET_BY_ID,
    GET_BY_PHONE,
    LEAD_CREATE,
    LEAD_CREATE_OR_UPDATE,
    LEAD_ENDPOINTS,
    LEAD_UPDATE,
    LEADS_GET,
    LEADS_METADATA,
    RECENTLY_MODIFIED,
    RETRIEVE_BY_IDS,
    USER_BY_ACCESS_KEY,
)
from ._wire import Reject, envelope, find_poison

if TYPE_CHECKING:
    from ._schema import LeadSchema
    from ._store import LeadStore
    from ._wire import Outcome

__all__ = ["admin", "handle"]

WRITE_ENDPOINTS = frozenset(
    {
        BULK_CREATE,
        BULK_CREATE_OR_UPDATE,
        BULK_UPDATE,
        BULK_UPDATE_V2,
        LEAD_CREATE,
        LEAD_CREATE_OR_UPDATE,
        LEAD_UPDATE,
    }
)
"""The endpoints that write lead fields (the ones a schema checks)."""


def handle(
    endpoint: str,
    store: LeadStore,
    body: object,
    query: dict[str, str],
    *,
    style: str,
    post_updated: bool,
    user_id: str,
    host: str,
    poison: tuple[str | None, int] = (None, 500),
    schema: LeadSchema | None = None,
    page_limit: int = 1000,
    seed: int = 0,
    bad_value_refuses: str = "row",
    modified_page_limit: int = 5000,
    modified_to_inclusive: bool = True,
    ties: _random.Random | None = None,
) -> Outcome:
    """Answer one admitted call to ``endpoint`` (raises ``Reject`` for a whole-call error).

    ``poison`` is the fake's (``poison_value``, ``poison_status``): a lead call carrying that
    value anywhere is rejected whole, as the service does for one bad row. ``page_limit``
    caps ``Leads/Retrieve/ByIds``'s PageSize; ``seed`` orders its answer. Under a ``schema``
    a write naming an attribute the account lacks is rejected whole the same way (HTTP 500,
    ``MXInvalidInputException``), nothing of it applied; so is one carrying a value its field
    refuses when ``bad_value_refuses`` is "call" (with "row" that row alone fails).
    ``modified_page_limit`` caps the pages of ``Leads.RecentlyModified`` and ``Leads.Get``,
    ``modified_to_inclusive`` says whether ``ToDate`` includes its own second, ``ties``
    orders leads that tie on the sort column.
    """
    marker, status = poison
    if marker is not None and endpoint in LEAD_ENDPOINTS:
        attribute = find_poison(body, marker)
        if attribute is not None:
            message = f"Invalid value for attribute {attribute}"
            raise Reject(status, "MXInvalidInputException", message)
    if schema is not None and endpoint in WRITE_ENDPOINTS:
        problem = schema.problem(body, values=bad_value_refuses == "call")
        if problem is not None:
            raise Reject(500, "MXInvalidInputException", problem)
    if endpoint == BULK_CREATE:
        return _leads_bulk.bulk_create(store, body, style, schema)
    if endpoint == BULK_CREATE_OR_UPDATE:
        return _leads_bulk.bulk_create_or_update(store, body, style, schema)
    if endpoint == BULK_UPDATE_V2:
        return _leads_bulk.bulk_update_v2(store, body, style, schema)
    if endpoint == BULK_UPDATE:
        return _leads_bulk.bulk_update(store, body, style, schema)
    if endpoint == LEAD_UPDATE:
        return _leads_single.lead_update(store, body, query, post_updated, schema)
    if endpoint == LEAD_CREATE:
        return _leads_single.lead_create(store, body, schema)
    if endpoint == LEAD_CREATE_OR_UPDATE:
        return _leads_single.lead_create_or_update(store, body, post_updated, schema)
    if endpoint == GET_BY_ID:
        return _lookups.get_by_id(store, query)
    if endpoint == GET_BY_EMAIL:
        return _lookups.get_by_email(store, query)
    if endpoint == GET_BY_PHONE:
        return _lookups.get_by_phone(store, query)
    if endpoint == RETRIEVE_BY_IDS:
        return _lookups.retrieve_by_ids(store, body, page_limit, seed)
    if endpoint == RECENTLY_MODIFIED:
        return _recent.recently_modified(
            store, body, modified_page_limit, modified_to_inclusive, ties or _random.Random(seed)
        )
    if endpoint == LEADS_GET:
        return _recent.leads_get(store, body, modified_page_limit, ties or _random.Random(seed))
    if endpoint == ACTIVITY_BY_LEAD_ID:
        return _activities.bulk_by_lead_id(store, body, style)
    if endpoint == ACTIVITY_BY_LEAD_FIELD:
        return _activities.bulk_by_lead_field(store, body, query, style)
    if endpoint == ACTIVITY_CREATE:
        return _activities.activity_create(store, body)
    if endpoint == LEADS_METADATA:
        assert schema is not None  # without one the fake has no such API (``_app``)
        return _lookups.leads_metadata(schema, query)
    if endpoint == USER_BY_ACCESS_KEY:
        return _lookups.user_by_access_key(user_id, host)
    raise AssertionError(f"no handler for {endpoint!r}")


def admin(
    path: str,
    method: str,
    query: dict[str, str],
    summary: Callable[[float | None], dict[str, object]],
    reset: Callable[[], None],
    store: LeadStore,
) -> tuple[int, object]:
    """The fake's own control endpoints (keys checked by the caller): (status, JSON payload).

    ``GET /_fake/summary[?window=S]`` the ledger in numbers, ``POST /_fake/reset`` forget
    everything, ``GET /_fake/leads`` every lead in creation order (``{"count", "leads"}``),
    ``GET /_fake/leads/{id}`` one lead (404 when there is none), ``GET
    /_fake/leads/{id}/activities`` its activities (``{"count", "activities"}``).
    """
    action = path[len(ADMIN_PREFIX) :].strip("/")
    lower = action.lower()
    if lower == "summary" and method == "GET":
        try:
            window = float(query["window"]) if "window" in query else None
        except ValueError:
            window = None
        return 200, summary(window)
    if lower == "reset" and method == "POST":
        reset()
        return 200, {"Status": "Success"}
    if lower == "leads" and method == "GET":
        leads = store.all()
        return 200, {"count": len(leads), "leads": leads}
    if lower.startswith("leads/") and lower.endswith("/activities") and method == "GET":
        lead_id = action[len("leads/") : -len("/activities")]
        if lead_id not in store:
            return 404, envelope("MXInvalidEntityException", f"No lead with id {lead_id}")
        activities = store.activities(lead_id)
        return 200, {"count": len(activities), "activities": activities}
    if lower.startswith("leads/") and method == "GET":
        lead_id = action[len("leads/") :]
        lead = store.get(lead_id)
        if lead is None:
            return 404, envelope("MXInvalidEntityException", f"No lead with id {lead_id}")
        return 200, lead
    return 404, envelope("MXInvalidInputException", f"No API at {path}")
