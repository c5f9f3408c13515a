"""Turning "outcome unknown" into an answer, for creates that carry a unique field.

A create whose call may have been applied (the connection dropped after sending, a 5xx
without an MX type, an answer that did not account for the row) is looked up by its
EmailAddress (or Phone): no lead means nothing was applied, so it is safe to send again (the
unique field would make a second copy a duplicate, never a second lead); a lead that matches
what was sent is the one the call created; a lead that differs is the duplicate the create
would have met. ``decide`` is that rule, a pure function; the engine acts on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Union

import attrs

from .._api.lead import Lead
from .._api.operations import CreateLead, FindLead, LeadCreated
from .._api.registry import route
from .._api.spec import Row, RowOutcome, value_of
from .._api.verdict import Answered, Failed, Verdict
from .._budgets.budgets import Budgets
from .._errors import LeadRejectedError, OutcomeUnknownError
from .._observe.stats import Counters
from .._queue.rows import Call, Entry
from .sender import Sender

__all__ = [
    "RESEND",
    "Decision",
    "decide",
    "look_up",
    "lookup_for",
    "reconcilable",
    "unknown_creates",
]

_PHONE_NAMES = frozenset({"phone", "mobile"})


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
    return {
        entry: outcome
        for entry, outcome in zip(call.entries, outcomes, strict=True)
        if isinstance(outcome, OutcomeUnknownError) and reconcilable(entry.row, outcome)
    }


async def look_up(row: Row, sender: Sender, budgets: Budgets, counters: Counters) -> object:
    """Find the lead a create's ``row`` would have made: a ``Lead``, None, or (failing) the
    outcome the lookup got instead. One call on the general budget."""
    find = lookup_for(row)
    assert find is not None
    endpoint = route(find)
    lookup = endpoint.prepare(find)
    await budgets.acquire(False)
    budgets.quota.spend()
    counters.count_call(endpoint.name, 1)
    verdict, _ = await sender.send(endpoint, [lookup])
    return verdict.outcomes[0] if isinstance(verdict, Answered) else verdict
