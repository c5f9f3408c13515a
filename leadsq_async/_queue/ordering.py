"""Per-lead ordering: rows that touch the same lead are applied in submission order.

A row may go only while it is the oldest unfinished row of every lead it touches (its
identities), so two rows of one lead are never in flight together, whatever road each takes;
rows that commute (their endpoints share a ``commutes`` label: lookups, activities) need no
order among themselves, so such a row may also go while only such rows of its lead are older.
A lookup the client queues to settle a create (``Entry.settles``) is outside this order: it
goes whenever its create could, since it asks about nothing older than the create, and every
newer row of the lead waits for the create, which waits for the lookup's answer.
The newest row of a lead is also where a later update of it may be merged.
"""

from __future__ import annotations

from collections.abc import Hashable

from .rows import DONE, PENDING, Entry

__all__ = ["LeadOrder"]


class LeadOrder:
    """Per lead, the rows not yet ended, oldest first."""

    def __init__(self) -> None:
        # The row itself while it is a lead's only one, which it nearly always is: rows can
        # wait by the hundred thousand, and a list per lead would cost 64 bytes each. The
        # batcher reads it to take that case inline, as each row is added, taken and ended.
        self.leads: dict[Hashable, Entry | list[Entry]] = {}

    def add(self, entry: Entry) -> None:
        """``entry`` is the newest row of each of its leads."""
        leads = self.leads
        for identity in entry.row.identities:
            queue = leads.get(identity)
            if queue is None:
                leads[identity] = entry
            elif isinstance(queue, list):
                queue.append(entry)
            else:
                leads[identity] = [queue, entry]

    def remove(self, entry: Entry) -> None:
        """``entry`` ended: the next row of each of its leads may go."""
        if entry.settles is not None:
            return  # a lookup settling a create was never in the order
        leads = self.leads
        for identity in entry.row.identities:
            queue = leads.get(identity)
            if queue is entry:
                del leads[identity]
            elif isinstance(queue, list):
                queue.remove(entry)
                if len(queue) == 1:
                    leads[identity] = queue[0]

    def is_head(self, entry: Entry) -> bool:
        """Whether ``entry`` may go: every older unfinished row of its leads commutes with it."""
        settles = entry.settles
        if settles is not None:
            return settles.state is DONE or self.is_head(settles)
        leads = self.leads
        label = entry.endpoint.commutes
        for identity in entry.row.identities:
            head = leads[identity]
            if not isinstance(head, list):
                if head is not entry:
                    return False
                continue
            for older in head:
                if older is entry:
                    break
                if label is None or older.endpoint.commutes != label:
                    return False
        return True

    def merge_target(self, identities: tuple[Hashable, ...]) -> Entry | None:
        """The newest row of the lead ``identities`` name, if it still waits unsent and whole."""
        if not identities:
            return None
        queue = self.leads.get(identities[0])
        if queue is None:
            return None
        last = queue[-1] if isinstance(queue, list) else queue
        if last.state is not PENDING or last.cohort is not None:
            return None
        return last if last.row.identities == identities else None
