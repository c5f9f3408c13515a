"""The retry policy: what becomes of a call's rows after its verdict; pure functions.

``decide`` turns a verdict (what the answer meant, ``_api.verdict``) into an *action* (what to
do with the call's rows): finish them, resend them after a back-off, split the call, pause a
budget and resend, give up, or close the road to an endpoint that does not exist. The engine
acts on the action and the events report it, so a verdict is read in one place. ``next_try``
is the per-row half (attempt counting and the retry cap); ``backoff`` the one back-off formula,
which the circuit spaces its probes by too. ``sort_out`` chooses how the rows of a call
refused whole are sorted out: one by one on their single-lead road, or in halves.

Nothing here reads a clock, sleeps or draws random numbers of its own: the jitter is a
function passed in, called only when a back-off is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Union

import attrs

from .._api.spec import Decoded
from .._api.verdict import Answered, Failed, NoSuchEndpoint, RateLimited, Resend, Split, Verdict
from .._budgets.budgets import QUOTA, Lesson
from .._budgets.limiters import RateLimit
from .._errors import (
    ClientClosedError,
    EndpointNotFoundError,
    LeadRejectedError,
    LeadSquaredError,
    OutcomeUnknownError,
    ResponseMismatchError,
    ServiceError,
)

__all__ = [
    "HALVE",
    "MAX_DOUBLINGS",
    "SINGLES",
    "Action",
    "Again",
    "CloseRoad",
    "Finish",
    "GiveUp",
    "Halve",
    "OneByOne",
    "Pause",
    "QuotaSpent",
    "Retry",
    "Rules",
    "backoff",
    "decide",
    "halving_grants",
    "in_flight_error",
    "jittered",
    "next_try",
    "sort_out",
]

#: Back-off doublings beyond this change nothing (``backoff_max`` caps the gap long before).
MAX_DOUBLINGS = 30


@attrs.frozen
class Rules:
    """The settings the policy reads: the retry cap and the back-off's base and ceiling."""

    max_retries: int
    backoff: float
    backoff_max: float


@attrs.frozen
class Finish:
    """Every row ends with its own outcome; an ``Unanswered`` one goes again (see ``Again``)."""

    outcomes: tuple[Decoded, ...]


@attrs.frozen
class GiveUp:
    """Every row of the call ends with ``error``."""

    error: LeadSquaredError


@attrs.frozen
class Retry:
    """Send the rows again after ``delay`` seconds; each counts an attempt (``next_try``).

    ``reached`` says whether the request may have reached the service (the circuit counts
    the calls that did not).
    """

    cause: ServiceError
    delay: float
    reached: bool


@attrs.frozen
class Halve:
    """The service refused the whole call, perhaps for one bad row: send it again in halves."""

    cause: LeadRejectedError


@attrs.frozen
class OneByOne:
    """The service refused the whole call: send its rows again one by one, each alone on its
    single-lead road (``sort_out`` chose it over halving)."""

    cause: LeadRejectedError


@attrs.frozen
class Pause:
    """A budget refused the call: the budgets paused it; the rows go again (not an attempt)."""

    budget: str
    pause: float
    cause: ServiceError  # what a row ends with if nobody waits for it any more


@attrs.frozen
class QuotaSpent:
    """The daily quota is spent: the call's rows, and every row waiting, fail at once."""

    message: str
    budget: str = QUOTA


@attrs.frozen
class CloseRoad:
    """No such API: the call's rows, and every row waiting for its endpoint, end with
    ``error``; nothing more goes to that endpoint."""

    error: EndpointNotFoundError


@attrs.frozen
class Again:
    """Rows an answer did not reach go again now; an attempt only when the answer reached
    none of the call's rows (``progress`` false)."""

    progress: bool


#: What ``decide`` gives.
Action = Union[Finish, GiveUp, Retry, Halve, OneByOne, Pause, QuotaSpent, CloseRoad]

#: ``sort_out``'s answers.
SINGLES, HALVE = "singles", "halve"


def halving_grants(rows: int) -> int:
    """The bulk calls halving a refused call of ``rows`` rows costs to isolate one bad row:
    one probe half a level (the other half rejoins full calls, or is the next level), as many
    levels as halvings down to one row, and the last row's own call."""
    return math.ceil(math.log2(rows)) + 1 if rows > 1 else 0


def sort_out(rows: int, *, singles: bool, general: RateLimit, bulk: RateLimit | None) -> str:
    """How to sort out the ``rows`` of a bulk call the service refused whole: ``SINGLES`` (each
    row alone on its single-lead road, spending the general budget) or ``HALVE`` (halves on the
    bulk road until the bad row stands alone).

    ``singles`` says whether every row has a single-lead road open. Singles win when the
    general budget carries the ``rows`` single calls sooner than the bulk road carries
    halving's ``halving_grants``: the general budget's spare rate is what the bulk calls
    (which spend a general grant each) leave of it; without a bulk budget a bulk call costs a
    general grant only, so both compete for the same one. A tie halves (the way it always did).
    """
    if not singles or rows < 2:
        return HALVE
    if bulk is None:
        spare, halving = 1 / general.interval, 1 / general.interval
    else:
        halving = min(1 / bulk.interval, 1 / general.interval)
        spare = 1 / general.interval - halving
    if spare <= 0:
        return HALVE
    return SINGLES if rows / spare < halving_grants(rows) / halving else HALVE


def backoff(step: int, base: float, ceiling: float) -> float:
    """The longest wait before try ``step + 1`` (``step`` 0 is the first retry): ``base``
    doubling with each step, capped at ``ceiling``."""
    return min(ceiling, base * 2.0 ** min(step, MAX_DOUBLINGS))


def jittered(step: int, rules: Rules, jitter: Callable[[], float]) -> float:
    """A back-off between half and all of ``backoff``'s, so that resends spread out;
    ``jitter`` gives a number in [0, 1)."""
    top = backoff(step, rules.backoff, rules.backoff_max)
    return top / 2 + top / 2 * jitter()


def decide(
    verdict: Verdict,
    *,
    attempt: int,
    rules: Rules,
    jitter: Callable[[], float],
    lesson: Lesson | None = None,
) -> Action:
    """What to do with the rows of a call that ended with ``verdict``.

    ``attempt`` is the call's attempt (1 + the most attempts any of its rows already had);
    ``lesson`` is what the budgets learned from a rate-limit rejection (required for one).
    """
    match verdict:
        case Answered(outcomes=outcomes):
            return Finish(outcomes)
        case Failed(error=error):
            return GiveUp(error)
        case Resend(cause=cause, sent=sent):
            return Retry(cause, jittered(attempt - 1, rules, jitter), sent)
        case Split(cause=refused):
            return Halve(refused)
        case NoSuchEndpoint(error=missing):
            return CloseRoad(missing)
        case RateLimited(message=message):
            if lesson is None:
                raise ValueError("a rate-limit rejection needs the budgets' lesson")
            if lesson.budget == QUOTA:
                return QuotaSpent(message)
            return Pause(lesson.budget, lesson.pause, ServiceError(f"rate limited: {message}"))


def next_try(
    action: Retry | Again | Pause, attempts: int, *, live: bool, rules: Rules
) -> tuple[int, LeadSquaredError | None]:
    """A row that ``action`` sends again, after ``attempts`` attempts: its attempts now, and
    the error it ends with instead (None: it goes again).

    A row nobody waits for any more (not ``live``) is not sent again. A retry counts an
    attempt, and the one beyond ``max_retries`` gives up; so does an answer that reached none
    of a call's rows (its rows end with ``ResponseMismatchError``); a pause counts none.
    """
    if isinstance(action, Retry):
        attempts += 1
        if not live:
            return attempts, action.cause
        if attempts > rules.max_retries:
            error = ServiceError(f"gave up after {attempts} attempts: {action.cause}")
            error.__cause__ = action.cause
            return attempts, error
        return attempts, None
    if isinstance(action, Again):
        attempts += 0 if action.progress else 1
        if not live or attempts > rules.max_retries:
            return attempts, ResponseMismatchError("the answers' pages never reached this row")
        return attempts, None
    return attempts, None if live else action.cause


def in_flight_error(*, started: bool, idempotent: bool) -> LeadSquaredError:
    """The error a row of a call cut short by closing ends with: ``started`` says whether the
    call had begun to send; only an ``idempotent`` endpoint's row is known safe then."""
    if not started:
        return ClientClosedError("the client closed before this row was sent")
    if idempotent:
        return ClientClosedError("the client closed while the call was in flight")
    return OutcomeUnknownError("the client closed while the call was in flight")
