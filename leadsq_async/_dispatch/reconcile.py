"""Turning "outcome unknown" into an answer, for creates that carry a unique field.

A create whose call may have been applied (the connection dropped after sending, a 5xx
without an MX type, an answer that did not account for the row) is looked up by its
EmailAddress (or Phone): no lead means nothing was applied, so it is safe to send again (the
unique field would make a second copy a duplicate, never a second lead); a lead that matches
what was sent is the one the call created; a lead that differs is the duplicate the create
would have met. ``decide`` is that rule, a pure function; ``Reconciler`` queues the lookup
(``lookup_for`` says which) as an ordinary row of the batcher and acts on its answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union, cast

import attrs

from .._api.lead import Lead
from .._api.operations import CreateLead, FindLead, LeadCreated
from .._api.registry import route
from .._api.spec import Row, RowOutcome, value_of
from .._api.verdict import Answered, Failed, Verdict
from .._errors import (
    ClientClosedError,
    LeadRejectedError,
    LeadSquaredError,
    OutcomeUnknownError,
    ResponseMismatchError,
    ServiceError,
)
from .._queue.batcher import Batcher
from .._queue.rows import DONE, Call, Entry

if TYPE_CHECKING:
    from .._api.operations import Result

__all__ = [
    "RESEND",
    "Decision",
    "Reconciler",
    "decide",
    "lookup_for",
    "reconcilable",
    "unknown_creates",
]

_PHONE_NAMES = frozenset({"phone", "mobile"})

logger = logging.getLogger("leadsq_async")


@attrs.frozen
class _Resend:
    """Nothing was applied: send the create again."""


RESEND = _Resend()
Decision = Union[LeadCreated, LeadRejectedError, _Resend]


def lookup_for(row: Row) -> FindLead | None:
    """The lookup that can tell whether ``row`` (a create) was applied, if it has a key."""
    if not isinstance(row.op, CreateLead):
        return None
    email = value_of(row.items, "EmailAddress")
    if email is not None:
        return FindLead(email=email.strip())
    phone = value_of(row.items, "Phone")
    if phone is not None and any(c.isdigit() for c in phone):
        return FindLead(phone="".join(c for c in phone if c.isdigit()))
    return None


def reconcilable(row: Row, outcome: RowOutcome) -> bool:
    """Whether the client should look ``row`` up rather than answer it with ``outcome``."""
    return isinstance(outcome, OutcomeUnknownError) and lookup_for(row) is not None


def _same(name: str, sent: str, held: str) -> bool:
    if name.casefold() in _PHONE_NAMES:
        sent_digits = "".join(c for c in sent if c.isdigit())
        held_digits = "".join(c for c in held if c.isdigit())
        short, long = sorted((sent_digits, held_digits), key=len)
        return long.endswith(short) and len(long) - len(short) <= 3 and len(short) >= 7
    a, b = sent.strip().casefold(), held.strip().casefold()
    # The service writes dates with milliseconds ("2024-01-02 10:00:00.000").
    return a == b or (len(a) == 19 and b.startswith(a) and b[19:].strip(".0") == "")


def decide(items: Mapping[str, Any], lead: Lead | None) -> Decision:
    """What the lookup of a create's row (``items``: its wire values) says about the create."""
    if lead is None:
        return RESEND
    for name, value in items.items():
        if type(value) is not str or not value.strip():
            continue  # custom field sets and empty values are not compared
        held = lead.get(name)
        if held is not None and not _same(name, value, held):
            return LeadRejectedError(
                f"a lead with the same unique field already exists ({lead.lead_id}), "
                f"and its {name} differs from this create's",
                "MXDuplicateEntryException",
            )
    return LeadCreated(lead.lead_id, reconciled=True)


def unknown_creates(call: Call, verdict: Verdict) -> dict[Entry, OutcomeUnknownError]:
    """The creates of ``call`` that ``verdict`` leaves unknown and a lookup can settle."""
    if call.endpoint.idempotent:
        return {}
    if isinstance(verdict, Failed):
        outcomes: Sequence[object] = [verdict.error] * len(call.entries)
    elif isinstance(verdict, Answered):
        outcomes = verdict.outcomes
    else:
        return {}
    # The outcomes' types first, in C: nearly every answer holds none unknown.
    if len(outcomes) == len(call.entries) and not any(
        issubclass(kind, OutcomeUnknownError) for kind in set(map(type, outcomes))
    ):
        return {}
    return {
        entry: outcome
        for entry, outcome in zip(call.entries, outcomes, strict=True)
        if isinstance(outcome, OutcomeUnknownError) and reconcilable(entry.row, outcome)
    }


class Reconciler:
    """Settles creates by lookups that are ordinary interactive rows of the batcher.

    Each lookup is announced, rate limited, retried, checked against the circuit and the
    quota like any caller's; when it answers, ``decide`` says what becomes of its create, and
    a create found not applied goes back to the engine (``send_again``, under its retry cap).
    """

    def __init__(self, batcher: Batcher, send_again: Callable[[Entry, ServiceError], None]) -> None:
        self._batcher = batcher
        self._send_again = send_again

    def look_up_first(self, entry: Entry) -> None:
        """Hold a queued create until the lookup by its unique field says whether to send it."""
        if lookup_for(entry.row) is None:
            return
        self._batcher.hold(entry)
        lookup = self.look_up(entry, None)
        future = entry.future
        if lookup is None or future is None:
            return

        def withdrawn(_: object) -> None:
            # A caller who leaves before the create is sent withdraws its lookup too.
            if entry.state is DONE and lookup.future is not None:
                self._batcher.withdraw(lookup, lookup.future)

        future.add_done_callback(withdrawn)

    def look_up(self, entry: Entry, unknown: OutcomeUnknownError | None) -> Entry | None:
        """Queue the lookup that settles the create ``entry``; give the lookup's row.

        With ``unknown`` the create was sent and may have been applied: it stays in flight
        (without its call's slot), so later rows of its lead keep waiting for it. Without,
        it waits unsent (``look_up_first``).
        """
        batcher = self._batcher
        if unknown is not None and not entry.live:
            batcher.finish(entry, unknown)  # nobody waits for what a lookup would say
            return None
        find = lookup_for(entry.row)
        assert find is not None
        try:
            endpoint = route(find)
            row = endpoint.prepare(find)
        except LeadSquaredError as error:  # a key the lookup refuses settles nothing
            logger.warning("cannot look up a create by its unique field: %s", error)
            batcher.finish(entry, error if unknown is None else unknown)
            return None
        found: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        lookup = batcher.add_lookup(row, endpoint, found, entry)
        found.add_done_callback(lambda _: self._settle(entry, unknown, found))
        return lookup

    def _settle(
        self, entry: Entry, unknown: OutcomeUnknownError | None, found: asyncio.Future[Result]
    ) -> None:
        """Answer the create ``entry``, or send it (again), as its lookup's answer decides.

        A lookup that ends without an answer leaves a sent create's outcome unknown, and
        ends an unsent one with the lookup's error.
        """
        error = (
            ClientClosedError("the client closed before the lookup was sent")
            if found.cancelled()
            else found.exception()
        )
        if entry.state is DONE:
            return  # its callers were answered meanwhile (a deadline, the circuit, closing)
        if error is not None:
            if not isinstance(error, LeadSquaredError):  # rows only ever end with these
                error = ResponseMismatchError(f"internal error: {error!r}")
            self._batcher.finish(entry, error if unknown is None else unknown)
            return
        decision = decide(entry.row.items, cast("Lead | None", found.result()))
        if not isinstance(decision, _Resend):
            self._batcher.finish(entry, decision)
        elif unknown is None:
            self._batcher.release(entry)  # no such lead: the create goes as usual
        else:
            self._send_again(entry, ServiceError(f"not applied, sent again: {unknown}"))
