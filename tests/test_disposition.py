"""The outcome → disposition table: every error type of the tree has its row."""

from __future__ import annotations

import pytest

import leadsq_async as lsq
from leadsq_async import Disposition

DONE, RETRY, PAUSE, DEAD, STOP = (
    Disposition.DONE,
    Disposition.RETRY_LATER,
    Disposition.PAUSE,
    Disposition.DEAD_LETTER,
    Disposition.STOP,
)
CREATE = lsq.CreateLead({"EmailAddress": "a@example.com"})
CREATE_BY_PHONE = lsq.CreateLead({"Phone": "+91-98765-43210"})
CREATE_BY_NAME = lsq.CreateLead({"FirstName": "Asha"})
UPSERT = lsq.UpsertLead({"EmailAddress": "a@example.com"})
ACTIVITY = lsq.PostActivity(event=201, lead_id="00000000-0000-4000-8000-000000000000")

#: One row per error type of the tree: (error, operation, disposition, delay, look_up_first).
TABLE: dict[type[lsq.LeadSquaredError], list[tuple[BaseException, lsq.Operation, object]]] = {
    lsq.LeadSquaredError: [(lsq.LeadSquaredError("odd"), CREATE, (DEAD, 0.0, False))],
    lsq.ValidationError: [(lsq.ValidationError("Phone", "too long"), CREATE, (DEAD, 0.0, False))],
    lsq.ClientClosedError: [(lsq.ClientClosedError("closed"), CREATE, (RETRY, 2.0, False))],
    lsq.WrongEventLoopError: [(lsq.WrongEventLoopError("loop"), CREATE, (STOP, 0.0, False))],
    lsq.QueueFullError: [(lsq.QueueFullError("full"), CREATE, (RETRY, 2.0, False))],
    lsq.AuthenticationError: [(lsq.AuthenticationError("401"), UPSERT, (STOP, 0.0, False))],
    lsq.EndpointNotFoundError: [(lsq.EndpointNotFoundError("404"), UPSERT, (STOP, 0.0, False))],
    lsq.LeadRejectedError: [
        (lsq.LeadRejectedError("duplicate", "MXDuplicateEntryException"), CREATE, (DEAD, 0, False))
    ],
    lsq.LeadNotFoundError: [(lsq.LeadNotFoundError("no lead"), UPSERT, (DEAD, 0.0, False))],
    lsq.RateLimitedError: [(lsq.RateLimitedError("429"), CREATE, (RETRY, 2.0, False))],
    lsq.DeliveryTimeoutError: [(lsq.DeliveryTimeoutError("late"), ACTIVITY, (RETRY, 2.0, False))],
    lsq.LimiterUnavailableError: [
        (lsq.LimiterUnavailableError("redis"), CREATE, (RETRY, 2, False))
    ],
    lsq.QuotaExhaustedError: [
        (lsq.QuotaExhaustedError("spent", resets_in=42.0), CREATE, (PAUSE, 42.0, False)),
        (lsq.QuotaExhaustedError("spent"), CREATE, (PAUSE, 600.0, False)),
    ],
    lsq.ServiceError: [(lsq.ServiceError("500"), UPSERT, (RETRY, 2.0, False))],
    lsq.ServiceUnavailableError: [
        (lsq.ServiceUnavailableError("down"), CREATE, (PAUSE, 10, False))
    ],
    lsq.OutcomeUnknownError: [
        (lsq.OutcomeUnknownError("lost", safe_to_resend=True), UPSERT, (RETRY, 2.0, False)),
        (lsq.OutcomeUnknownError("lost"), CREATE, (RETRY, 2.0, True)),
        (lsq.OutcomeUnknownError("lost"), CREATE_BY_PHONE, (RETRY, 2.0, True)),
        (lsq.OutcomeUnknownError("lost"), CREATE_BY_NAME, (DEAD, 0.0, False)),
        (lsq.OutcomeUnknownError("lost"), ACTIVITY, (DEAD, 0.0, False)),
    ],
    lsq.ResponseMismatchError: [
        (lsq.ResponseMismatchError("missing"), CREATE, (RETRY, 2.0, True)),
        (lsq.ResponseMismatchError("missing", safe_to_resend=True), UPSERT, (RETRY, 2, False)),
    ],
    lsq.InFlightTimeoutError: [
        (lsq.InFlightTimeoutError("late"), CREATE_BY_NAME, (DEAD, 0.0, False)),
        (lsq.InFlightTimeoutError("late", safe_to_resend=True), UPSERT, (RETRY, 2.0, False)),
    ],
}


def _tree(base: type[lsq.LeadSquaredError]) -> set[type[lsq.LeadSquaredError]]:
    found = {base}
    for sub in base.__subclasses__():
        # A private subclass (RedisLimiter's shared-quota error) is its public parent's kind.
        if sub.__module__.startswith("leadsq_async") and getattr(lsq, sub.__name__, None) is sub:
            found |= _tree(sub)
    return found


def test_every_error_type_of_the_tree_has_a_row() -> None:
    """A new error type added to the tree fails here until the table says what it means."""
    assert set(TABLE) == _tree(lsq.LeadSquaredError)
    exported = {getattr(lsq, name) for name in lsq._errors.__all__}
    assert set(TABLE) == exported


ROWS = [
    pytest.param(error, op, expected, id=f"{type(error).__name__}-{type(op).__name__}-{n}")
    for rows in TABLE.values()
    for n, (error, op, expected) in enumerate(rows)
]


@pytest.mark.parametrize(("error", "op", "expected"), ROWS)
def test_the_table(error: BaseException, op: lsq.Operation, expected: object) -> None:
    """Each outcome gets the disposition, delay and lookup its row of the table says."""
    decision = lsq.disposition(lsq.Outcome(op, error=error), retry_delay=2.0, quota_pause=600.0)
    assert (decision.disposition, decision.delay, decision.look_up_first) == expected
    assert decision.error_type == type(error).__name__
    assert decision.reason


def test_a_result_is_done() -> None:
    """A row that succeeded is acknowledged, with no error described."""
    created = lsq.LeadCreated("lead-1")
    decision = lsq.disposition(lsq.Outcome(CREATE, result=created))
    assert decision == lsq.MessageDecision(DONE)


def test_dead_letters_name_the_field() -> None:
    """A validation error's field is carried for the dead-letter headers."""
    decision = lsq.disposition(lsq.Outcome(CREATE, error=lsq.ValidationError("Phone", "bad")))
    assert (decision.field, decision.reason) == ("Phone", "Phone: bad")


def test_a_foreign_exception_is_dead_lettered() -> None:
    """An exception the library does not raise says nothing safe: dead-letter it."""
    decision = lsq.disposition(lsq.Outcome(CREATE, error=KeyError("x")))
    assert decision.disposition is DEAD
    assert decision.error_type == "KeyError"


def test_a_quota_reset_in_the_past_pauses_for_nothing() -> None:
    """A negative ``resets_in`` never becomes a negative delay."""
    decision = lsq.disposition(lsq.Outcome(CREATE, error=lsq.QuotaExhaustedError("x", -3.0)))
    assert decision.delay == 0.0
