"""The read-only endpoints: leads by id or email, and the account behind the keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._wire import Outcome, bad

if TYPE_CHECKING:
    from ._store import LeadStore

__all__ = ["get_by_email", "get_by_id", "user_by_access_key"]


def get_by_id(store: LeadStore, query: dict[str, str]) -> Outcome:
    """``Leads.GetById?id=``: a list of 0 or 1 lead."""
    lead_id = query.get("id", "").strip()
    if not lead_id:
        raise bad("The id parameter is required")
    lead = store.get(lead_id)
    return Outcome([] if lead is None else [lead], False)


def get_by_email(store: LeadStore, query: dict[str, str]) -> Outcome:
    """``Leads.GetByEmailaddress?emailaddress=``: a list of 0 or 1 lead."""
    email = query.get("emailaddress", "").strip()
    if not email:
        raise bad("The emailaddress parameter is required")
    lead = store.find_by_email(email)
    return Outcome([] if lead is None else [lead], False)


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
