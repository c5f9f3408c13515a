"""The export iterator: the leads modified in a range, page by page, exactly once.

It asks the plan (``_api.ranges``) which page to read, reads it through ``fetch`` (the
client's own row on the batcher: budgets, retries, circuit, quota and hooks as for any
lookup) and gives out the leads the plan picks. It holds one page at a time, and knows its
checkpoint after every lead it gave out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from .._api.lead import Lead
from .._api.modified import ModifiedPage, ReadModifiedPage
from .._api.ranges import ExportCheckpoint, after_page, next_query
from .._errors import ResponseMismatchError

__all__ = ["LeadsModified"]

Fetch = Callable[[ReadModifiedPage], Awaitable[ModifiedPage]]


class LeadsModified:
    """An async iterator of the leads modified in a range (``client.leads_modified()``).

    Each lead comes once. ``checkpoint`` is where the export stands after the last lead
    given out: start again from it (``resume_from=``) and the leads not yet given come, none
    twice. ``pages`` counts the calls made, ``leads`` the leads given out.
    """

    def __init__(
        self,
        fetch: Fetch,
        start: ExportCheckpoint,
        columns: tuple[str, ...],
        wanted: tuple[str, ...],
        page_size: int,
        fix_start: Callable[[], ExportCheckpoint] | None = None,
    ) -> None:
        self._fetch = fetch
        # A default ``until`` is fixed when the iteration starts: the start is made again then.
        self._fix_start = fix_start
        self._before = start  # the checkpoint before the page held
        self._end = start  # the checkpoint once the page held is given out
        self._columns = columns
        self._wanted = frozenset(name.casefold() for name in wanted)
        self._page_size = page_size
        self._leads: list[Lead] = []
        self._keys: list[tuple[int, int]] = []
        self._next = 0
        self.pages = 0
        """Calls made (pages read)."""
        self.leads = 0
        """Leads given out."""

    def __repr__(self) -> str:
        return f"<LeadsModified pages={self.pages} leads={self.leads} done={self.done}>"

    @property
    def checkpoint(self) -> ExportCheckpoint:
        """Where the export stands: after the last lead given out."""
        if self._next >= len(self._leads):
            return self._end
        if self._next == 0:
            return self._before
        return attrs.evolve(self._before, after=self._keys[self._next - 1])

    @property
    def done(self) -> bool:
        """True once every lead of the range was given out."""
        return self._end.done and self._next >= len(self._leads)

    @property
    def ready(self) -> bool:
        """Whether a lead of the page held waits to be taken."""
        return self._next < len(self._leads)

    def __aiter__(self) -> LeadsModified:
        return self

    async def __anext__(self) -> Lead:
        while not self.ready:
            if not await self.fill():
                raise StopAsyncIteration
        return self.take()

    async def fill(self) -> bool:
        """Read the next page unless leads of this one wait; False when the range is done."""
        if self._next < len(self._leads):
            return True
        if self._fix_start is not None:
            self._before = self._end = self._fix_start()
            self._fix_start = None
        query = next_query(self._end, self._page_size)
        if query is None:
            return False
        page = await self._fetch(ReadModifiedPage(query, self._columns))
        self.pages += 1
        try:
            given, end = after_page(self._end, query, page.count, page.keys)
        except ValueError as error:
            raise ResponseMismatchError(f"Leads.RecentlyModified: {error}") from None
        self._before, self._end = self._end, end
        self._leads = [self._trim(page.leads[i]) for i in given]
        self._keys = [page.keys[i] for i in given]
        self._next = 0
        return True

    def take(self) -> Lead:
        """The next lead of the page held (after ``fill()`` said there is one)."""
        lead = self._leads[self._next]
        self._next += 1
        self.leads += 1
        return lead

    def _trim(self, lead: Lead) -> Lead:
        fields = {k: v for k, v in lead.fields.items() if k.casefold() in self._wanted}
        return lead if len(fields) == len(lead.fields) else Lead(lead.lead_id, fields)
