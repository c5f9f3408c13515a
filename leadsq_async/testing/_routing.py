"""Which function answers which endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _leads_bulk, _leads_single, _lookups
from ._endpoints import (
    BULK_CREATE,
    BULK_CREATE_OR_UPDATE,
    BULK_UPDATE,
    BULK_UPDATE_V2,
    GET_BY_EMAIL,
    GET_BY_ID,
    LEAD_UPDATE,
    USER_BY_ACCESS_KEY,
)

if TYPE_CHECKING:
    from ._store import LeadStore
    from ._wire import Outcome

__all__ = ["handle"]


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
) -> Outcome:
    """Answer one admitted call to ``endpoint`` (raises ``Reject`` for a whole-call error)."""
    if endpoint == BULK_CREATE:
        return _leads_bulk.bulk_create(store, body, style)
    if endpoint == BULK_CREATE_OR_UPDATE:
        return _leads_bulk.bulk_create_or_update(store, body, style)
    if endpoint == BULK_UPDATE_V2:
        return _leads_bulk.bulk_update_v2(store, body, style)
    if endpoint == BULK_UPDATE:
        return _leads_bulk.bulk_update(store, body, style)
    if endpoint == LEAD_UPDATE:
        return _leads_single.lead_update(store, body, query, post_updated)
    if endpoint == GET_BY_ID:
        return _lookups.get_by_id(store, query)
    if endpoint == GET_BY_EMAIL:
        return _lookups.get_by_email(store, query)
    if endpoint == USER_BY_ACCESS_KEY:
        return _lookups.user_by_access_key(user_id, host)
    raise AssertionError(f"no handler for {endpoint!r}")
