"""What the fake serves: endpoint names, their routes, row limits, and the demo keys."""

from __future__ import annotations

__all__ = [
    "BULK_ENDPOINTS",
    "DEMO_ACCESS_KEY",
    "DEMO_SECRET_KEY",
    "ENDPOINTS",
    "LEAD_ENDPOINTS",
]

DEMO_ACCESS_KEY = "u$rdemo0000000000000000000000000000"
"""The access key the fake accepts by default."""
DEMO_SECRET_KEY = "demo0000000000000000000000000000000000000"
"""The secret key the fake accepts by default."""

BULK_CREATE = "Lead/Bulk/Create"
BULK_UPDATE = "Lead/Bulk/Update"
BULK_UPDATE_V2 = "Lead/Bulk/UpdateV2"
BULK_CREATE_OR_UPDATE = "Lead/Bulk/CreateOrUpdate"
LEAD_UPDATE = "Lead.Update"
LEAD_CREATE = "Lead.Create"
LEAD_CREATE_OR_UPDATE = "Lead.CreateOrUpdate"
GET_BY_ID = "Leads.GetById"
GET_BY_EMAIL = "Leads.GetByEmailaddress"
GET_BY_PHONE = "RetrieveLeadByPhoneNumber"
RETRIEVE_BY_IDS = "Leads/Retrieve/ByIds"
ACTIVITY_CREATE = "ProspectActivity.svc/Create"
ACTIVITY_BY_LEAD_ID = "ProspectActivity.svc/Bulk/CustomActivity/Add/ByLeadId"
ACTIVITY_BY_LEAD_FIELD = "ProspectActivity.svc/Bulk/CustomActivity/Add/ByLeadField"
USER_BY_ACCESS_KEY = "UserByAccessKey.Get"
LEADS_METADATA = "LeadsMetaData.Get"
RECENTLY_MODIFIED = "Leads.RecentlyModified"
LEADS_GET = "Leads.Get"

ENDPOINTS = (
    BULK_CREATE,
    BULK_UPDATE,
    BULK_UPDATE_V2,
    BULK_CREATE_OR_UPDATE,
    LEAD_UPDATE,
    LEAD_CREATE,
    LEAD_CREATE_OR_UPDATE,
    GET_BY_ID,
    GET_BY_EMAIL,
    USER_BY_ACCESS_KEY,
    GET_BY_PHONE,
    RETRIEVE_BY_IDS,
    ACTIVITY_CREATE,
    ACTIVITY_BY_LEAD_ID,
    ACTIVITY_BY_LEAD_FIELD,
    LEADS_METADATA,
    RECENTLY_MODIFIED,
    LEADS_GET,
)
"""Every endpoint the fake serves, as the ledger names them."""
BULK_ACTIVITIES = frozenset({ACTIVITY_BY_LEAD_ID, ACTIVITY_BY_LEAD_FIELD})
"""The bulk activity APIs (bulk APIs: they pass the bulk budget too)."""
BULK_ENDPOINTS = frozenset(
    {BULK_CREATE, BULK_UPDATE, BULK_UPDATE_V2, BULK_CREATE_OR_UPDATE, *BULK_ACTIVITIES}
)
"""The endpoints that must also pass ``bulk_rate_limit``."""
LEAD_ENDPOINTS = frozenset(ENDPOINTS) - {USER_BY_ACCESS_KEY}
"""The endpoints fault plans apply to."""
SINGLE_LEAD_WRITES = frozenset({LEAD_UPDATE, LEAD_CREATE, LEAD_CREATE_OR_UPDATE})
"""The single-lead writes: one lead a call, the general budget only."""
LOOKUPS = frozenset({GET_BY_ID, GET_BY_EMAIL, GET_BY_PHONE})
"""The single-lead lookups (GET, one lead a call)."""
PAGED_READS = frozenset({RECENTLY_MODIFIED, LEADS_GET})
"""The reads of many leads (POST, a page of leads a call)."""

MAX_ROWS = {BULK_CREATE: 50, BULK_UPDATE: 50, BULK_UPDATE_V2: 25, BULK_CREATE_OR_UPDATE: 25}
"""The most rows each bulk endpoint takes in one call."""

ROUTES: dict[str, tuple[str, str]] = {
    **{f"/v2/leadmanagement.svc/{name.lower()}": (name, "POST") for name in MAX_ROWS},
    **{f"/v2/leadmanagement.svc/{name.lower()}": (name, "POST") for name in SINGLE_LEAD_WRITES},
    **{f"/v2/leadmanagement.svc/{name.lower()}": (name, "GET") for name in LOOKUPS},
    f"/v2/leadmanagement.svc/{LEADS_METADATA.lower()}": (LEADS_METADATA, "GET"),
    f"/v2/leadmanagement.svc/{RETRIEVE_BY_IDS.lower()}": (RETRIEVE_BY_IDS, "POST"),
    **{f"/v2/leadmanagement.svc/{name.lower()}": (name, "POST") for name in PAGED_READS},
    **{
        f"/v2/{name.lower()}": (name, "POST")
        for name in (ACTIVITY_CREATE, ACTIVITY_BY_LEAD_ID, ACTIVITY_BY_LEAD_FIELD)
    },
    f"/v2/authentication.svc/{USER_BY_ACCESS_KEY.lower()}": (USER_BY_ACCESS_KEY, "GET"),
}
"""Lower-cased path (no trailing slash) -> (endpoint, method): the service ignores case."""

ADMIN_PREFIX = "/_fake/"
"""Paths under this prefix control the fake itself (not part of LeadSquared's API)."""


def count_rows(endpoint: str, body: object) -> int:
    """The rows a request body carries, as the ledger counts them (0 when unreadable)."""
    if endpoint in SINGLE_LEAD_WRITES or endpoint in LOOKUPS or endpoint in PAGED_READS:
        return 1
    if endpoint == ACTIVITY_CREATE:
        return 1
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        if endpoint == RETRIEVE_BY_IDS:
            search = body.get("SearchParameters")
            inner = search.get("LeadIds") if isinstance(search, dict) else None
        else:
            inner = body.get("LeadIds" if endpoint == BULK_UPDATE else "LeadPropertiesList")
        if isinstance(inner, list):
            return len(inner)
    return 0
