"""The account's lead fields as the client holds them: fetched once, shared, refreshed rarely.

``AccountFields`` keeps the ``LeadSchema`` every write is checked against at the call. With
``schema="account"`` the first write waits for the one fetch (concurrent writes share it),
the answer is kept for the client's life, and a refusal naming an attribute the schema has
(the account changed) makes the next write fetch it again, at most once every
``REFETCH_INTERVAL`` seconds. A fetch that fails for good is said once, in a warning naming
why, and writes go on unchecked: the schema is a help, never a reason to fail a write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .._api.metadata import unknown_attribute
from .._api.operations import (
    CreateLead,
    Operation,
    UpdateField,
    UpdateLead,
    UpdateLeadById,
    UpsertLead,
)
from .._api.schema import LeadSchema
from .._errors import ClientClosedError, EndpointNotFoundError

__all__ = ["REFETCH_INTERVAL", "AccountFields"]

#: The fewest seconds between two fetches of the account's fields.
REFETCH_INTERVAL = 300.0
#: The operations checked against the schema (lookups and activities are not lead writes).
WRITES = frozenset({CreateLead, UpsertLead, UpdateLead, UpdateLeadById, UpdateField})

logger = logging.getLogger("leadsq_async")


class AccountFields:
    """The schema writes are checked against: given (offline), or fetched with ``fetch``."""

    def __init__(
        self,
        schema: LeadSchema | None,
        fetch: Callable[[], Awaitable[LeadSchema]] | None,
        clock: Callable[[], float],
        interval: float = REFETCH_INTERVAL,
    ) -> None:
        self.schema = schema
        self._fetch = fetch
        self._clock = clock
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._fetched_at: float | None = None
        self._stale = False
        self._given_up = False

    @property
    def watches(self) -> bool:
        """Whether refusals are worth reading (the schema can be fetched again)."""
        return self._fetch is not None

    def waits(self, op: Operation) -> bool:
        """Whether ``op`` must wait for a fetch before it is checked (a write only)."""
        if self._fetch is None or type(op) not in WRITES:
            return False
        if self._task is not None:
            return True
        if self.schema is None:
            return not self._given_up
        return self._stale and self._clock() >= (self._fetched_at or 0.0) + self._interval

    async def ready(self) -> None:
        """Wait for the fetch in progress, starting it if none is."""
        task = self._task
        if task is None:
            task = self._task = asyncio.get_running_loop().create_task(self._refresh())
        await asyncio.shield(task)

    async def _refresh(self) -> None:
        assert self._fetch is not None
        self._fetched_at = self._clock()
        self._stale = False
        try:
            self.schema = await self._fetch()
        except ClientClosedError:
            self._given_up = self.schema is None  # closing: nothing left to check
        except Exception as error:  # whatever it is, the writes go on without it
            if self.schema is None:
                self._given_up = True
                logger.warning(
                    "cannot check rows against the account's lead fields: %s; rows are sent "
                    "unchecked",
                    _why(error),
                )
            else:
                logger.warning(
                    "fetching LeadsMetaData.Get again failed (%s); rows are checked against "
                    "the fields fetched before",
                    error,
                )
        finally:
            self._task = None

    def check(self, op: Operation) -> Operation:
        """``op`` as it is to be sent (a dropdown re-spelled), or ``ValidationError``."""
        schema = self.schema
        return op if schema is None else schema.check(op)

    def refused(self, future: asyncio.Future[Any]) -> None:
        """A write's done-callback: a refusal of an attribute the schema has makes it stale."""
        if future.cancelled() or self.schema is None:
            return
        error = future.exception()
        if error is None:
            return
        name = unknown_attribute(error)
        if name is not None and name in self.schema:
            self._stale = True


def _why(error: Exception) -> str:
    """Why the fields could not be had, in the warning's words."""
    if isinstance(error, EndpointNotFoundError):
        # An account (or a fake without a schema) may lack this API; a wrong host makes the
        # writes' own 404 say so next.
        return f"no LeadsMetaData.Get at {error.url} (HTTP {error.status})"
    return f"fetching LeadsMetaData.Get failed ({error})"
