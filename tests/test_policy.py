"""The retry policy (``_rules/policy.py``): verdict → action, a row's next try, the back-off.

Pure functions, so every row of these tables is a plain call: no client, no clock, no network.
Errors are compared by type and message (exceptions compare by identity).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

import leadsq_async as lsq
from leadsq_async._api import verdict as verdict_module
from leadsq_async._api.spec import UNANSWERED
from leadsq_async._api.verdict import (
    Answered,
    Failed,
    NoSuchEndpoint,
    RateLimited,
    Resend,
    Split,
    Verdict,
)
from leadsq_async._budgets import budgets as budgets_module
from leadsq_async._budgets.budgets import BULK, GENERAL, QUOTA, Lesson
from leadsq_async._rules import policy
from leadsq_async._rules.circuit import Circuit
from leadsq_async._rules.policy import (
    Action,
    Again,
    CloseRoad,
    Finish,
    GiveUp,
    Halve,
    Pause,
    QuotaSpent,
    Retry,
    Rules,
)
from leadsq_async.testing import FakeLeadSquared

from .conftest import MakeClient
from .scripted import CLIENT, Scripted, rate_limited, run_all, upserts

RULES = Rules(max_retries=3, backoff=0.5, backoff_max=30.0)
CREATED = lsq.LeadCreated("72f6999d-951f-45fc-984c-97e978ed3bc2")
DUP = lsq.LeadRejectedError("same email", "MXDuplicateEntryException")
AUTH = lsq.AuthenticationError("keys refused", "api.leadsquared.com")
UNSENT = lsq.ServiceError("request not sent: ConnectError")
BAD_5XX = lsq.ServiceError("HTTP 503 Service Unavailable")
REFUSED = lsq.LeadRejectedError("bad row", "MXInvalidInputException")
MISSING = lsq.EndpointNotFoundError("no such API at https://x/v2/Nope", "https://x/v2/Nope", 404)
LIMIT = lsq.RateLimit(25, 5)
SAID = "API calls exceeded the limit of 25 in 5 second(s)"


def err(error: BaseException) -> tuple[str, str]:
    """An error by type and message."""
    return (type(error).__name__, str(error))


def shape(action: Action) -> tuple[object, ...]:
    """An action's kind and fields, errors by type and message."""
    match action:
        case Finish(outcomes=outcomes):
            return ("Finish", outcomes)
        case GiveUp(error=error):
            return ("GiveUp", err(error))
        case Retry(cause=cause, delay=delay, reached=reached):
            return ("Retry", err(cause), delay, reached)
        case Halve(cause=cause):
            return ("Halve", err(cause))
        case Pause(budget=budget, pause=pause, cause=cause):
            return ("Pause", budget, pause, err(cause))
        case QuotaSpent(message=message, budget=budget):
            return ("QuotaSpent", message, budget)
        case CloseRoad(error=error):
            return ("CloseRoad", err(error))


def never() -> float:
    """A jitter for verdicts that must not draw one (the engine's draws stay as they were)."""
    raise AssertionError("drew a jitter")


P = pytest.param


@pytest.mark.parametrize(
    ("verdict", "attempt", "jitter", "lesson", "expected"),
    [
        # Answered: every row its outcome; an unanswered one is carried as it is.
        P(Answered((CREATED, DUP, UNANSWERED)), 1, never, None,
          ("Finish", (CREATED, DUP, UNANSWERED)), id="answered"),
        P(Answered((CREATED,)), 4, never, None, ("Finish", (CREATED,)), id="answered-late"),
        # Failed: one error for every row, whatever the attempt.
        P(Failed(AUTH), 1, never, None, ("GiveUp", err(AUTH)), id="failed"),
        # Resend: after a back-off of half to all of backoff * 2 ** (attempt - 1), capped.
        P(Resend(UNSENT, sent=False), 1, lambda: 0.0, None,
          ("Retry", err(UNSENT), 0.25, False), id="resend-unsent-first"),
        P(Resend(BAD_5XX, sent=True), 1, lambda: 0.5, None,
          ("Retry", err(BAD_5XX), 0.375, True), id="resend-sent-jitter"),
        P(Resend(BAD_5XX, sent=True), 3, lambda: 0.0, None,
          ("Retry", err(BAD_5XX), 1.0, True), id="resend-third-doubles-twice"),
        P(Resend(BAD_5XX, sent=True), 8, lambda: 0.0, None,
          ("Retry", err(BAD_5XX), 15.0, True), id="resend-capped-at-backoff-max"),
        P(Resend(BAD_5XX, sent=True), 5000, lambda: 1.0, None,
          ("Retry", err(BAD_5XX), 30.0, True), id="resend-huge-attempt-no-overflow"),
        # Split: the halves go again.
        P(Split(REFUSED), 1, never, None, ("Halve", err(REFUSED)), id="split"),
        # No such API: close the road.
        P(NoSuchEndpoint(MISSING), 1, never, None, ("CloseRoad", err(MISSING)), id="no-such-api"),
        # Rate limited: the budgets' lesson names the budget and the pause.
        P(RateLimited(SAID, LIMIT, None), 1, never, Lesson(GENERAL, pause=5.0),
          ("Pause", GENERAL, 5.0, ("ServiceError", f"rate limited: {SAID}")), id="rate-general"),
        P(RateLimited(SAID, LIMIT, 7.0), 9, never, Lesson(BULK, LIMIT, pause=7.0),
          ("Pause", BULK, 7.0, ("ServiceError", f"rate limited: {SAID}")),
          id="rate-bulk-any-attempt"),
        P(RateLimited("quota", lsq.RateLimit(10000, 86400), None), 1, never,
          Lesson(QUOTA, quota=10000, pause=3600.0), ("QuotaSpent", "quota", QUOTA),
          id="rate-quota"),
    ],
)  # fmt: skip
def test_decide(
    verdict: Verdict,
    attempt: int,
    jitter: Callable[[], float],
    lesson: Lesson | None,
    expected: tuple[object, ...],
) -> None:
    """Each verdict type becomes its one action; only a resend draws a jitter."""
    action = policy.decide(verdict, attempt=attempt, rules=RULES, jitter=jitter, lesson=lesson)
    assert shape(action) == expected


def test_a_rate_limit_without_the_budgets_lesson_is_refused() -> None:
    """The budgets learn a rejection before the policy decides: without the lesson, no guess."""
    with pytest.raises(ValueError, match="lesson"):
        policy.decide(RateLimited(SAID, LIMIT, None), attempt=1, rules=RULES, jitter=never)


RETRY = Retry(BAD_5XX, 0.0, True)
PAUSE = Pause(GENERAL, 5.0, lsq.ServiceError(f"rate limited: {SAID}"))
GAVE_UP = ("ServiceError", f"gave up after 4 attempts: {BAD_5XX}")
PAGES = ("ResponseMismatchError", "the answers' pages never reached this row")


@pytest.mark.parametrize(
    ("action", "attempts", "live", "expected"),
    [
        # A retry counts an attempt; the one past max_retries (3) gives up.
        P(RETRY, 0, True, (1, None), id="retry-first"),
        P(RETRY, 2, True, (3, None), id="retry-at-the-cap-still-goes"),
        P(RETRY, 3, True, (4, GAVE_UP), id="retry-past-the-cap-gives-up"),
        P(RETRY, 0, False, (1, err(BAD_5XX)), id="retry-nobody-waits"),
        # Rows an answer did not reach: an attempt only when it reached none of the call's.
        P(Again(progress=True), 3, True, (3, None), id="again-progress-not-counted"),
        P(Again(progress=False), 2, True, (3, None), id="again-no-progress-counted"),
        P(Again(progress=False), 3, True, (4, PAGES), id="again-past-the-cap"),
        P(Again(progress=True), 0, False, (0, PAGES), id="again-nobody-waits"),
        # A pause is the budget's doing, not the row's: never counted, never past the cap.
        P(PAUSE, 7, True, (7, None), id="pause-not-counted"),
        P(PAUSE, 0, False, (0, ("ServiceError", f"rate limited: {SAID}")), id="pause-nobody-waits"),
    ],
)  # fmt: skip
def test_next_try(
    action: Retry | Again | Pause, attempts: int, live: bool, expected: tuple[object, ...]
) -> None:
    """A row sent again: its attempts now, and the error it ends with at the give-up edges."""
    count, error = policy.next_try(action, attempts, live=live, rules=RULES)
    assert (count, None if error is None else err(error)) == expected


def test_giving_up_keeps_the_last_failure_as_the_cause() -> None:
    """The give-up error chains the failure that used the last retry."""
    _, error = policy.next_try(RETRY, 3, live=True, rules=RULES)
    assert isinstance(error, lsq.ServiceError)
    assert error.__cause__ is BAD_5XX


@pytest.mark.parametrize(
    ("started", "idempotent", "expected"),
    [
        (False, False, ("ClientClosedError", "the client closed before this row was sent")),
        (False, True, ("ClientClosedError", "the client closed before this row was sent")),
        (True, True, ("ClientClosedError", "the client closed while the call was in flight")),
        (True, False, ("OutcomeUnknownError", "the client closed while the call was in flight")),
    ],
)
def test_in_flight_error(started: bool, idempotent: bool, expected: tuple[str, str]) -> None:
    """A row cut short by closing: safe unless its call had started and may have been applied."""
    assert err(policy.in_flight_error(started=started, idempotent=idempotent)) == expected


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 0.5), (1, 1.0), (5, 16.0), (6, 30.0), (10**6, 30.0)],
)
def test_backoff_doubles_up_to_its_ceiling(step: int, expected: float) -> None:
    """The one back-off formula: base doubling each step, capped (and no overflow)."""
    assert policy.backoff(step, 0.5, 30.0) == expected


def test_the_circuit_spaces_its_probes_by_the_policys_backoff() -> None:
    """A tripped circuit's next probe waits the policy's back-off for its failed probes."""
    circuit = Circuit(calls=1, seconds=10.0, backoff=0.5, backoff_max=30.0)
    gaps: list[float] = []
    for n in range(8):
        circuit.unsent(float(n), probe=n > 0)  # the first call trips it; then failed probes
        assert circuit.next_call_at(circuit.last) == circuit.last + policy.backoff(
            circuit.probes, 0.5, 30.0
        )
        gaps.append(circuit.next_call_at(circuit.last) - circuit.last)
    assert gaps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


@pytest.mark.vtime
@pytest.mark.client_options(**CLIENT)
async def test_a_rejection_is_learned_from_once(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient
) -> None:
    """One rate-limit rejection: learn() runs once, in the budgets, and the limit is adopted."""
    lessons: list[Lesson] = []
    real = budgets_module.learn

    def counted(*args: object, **kwargs: object) -> Lesson:
        lessons.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return lessons[-1]

    monkeypatch.setattr(budgets_module, "learn", counted)
    monkeypatch.setattr(verdict_module, "learn", counted, raising=False)

    transport = Scripted(FakeLeadSquared(rate_limit=None), rate_limited(1, 5))
    async with await make_client(transport, spill="none") as client:
        await run_all(client, upserts(3))
        bulk_rate = client.stats().bulk_rate_limit
    assert bulk_rate is not None
    assert [lesson.budget for lesson in lessons] == [BULK]
    assert bulk_rate == lsq.RateLimit(1, 5)


# -- sorting out a call refused whole ------------------------------------------------------

#: Each published plan's budgets per 5 s (general, bulk), and how a refused call of 50 rows
#: that can go one by one is sorted out: alone on the general budget where its spare grants
#: carry 50 rows sooner than the bulk budget carries halving's probes (7 for 50 rows).
SORT_OUT_PLANS = [
    ("lite-a", (2, 5), (1, 5), policy.HALVE),  # 0.2 spare/s: 250 s against 35 s
    ("pro-a", (5, 5), (1, 5), policy.HALVE),  # 0.8 spare/s: 62.5 s against 35 s
    ("basic-a", (10, 5), (1, 5), policy.SINGLES),  # 1.8 spare/s: 27.8 s against 35 s
    ("standard-a", (15, 5), (1, 5), policy.SINGLES),
    ("enterprise-a", (25, 5), (1, 5), policy.SINGLES),  # 4.8 spare/s: 10.4 s against 35 s
    ("pro-b", (10, 5), (5, 5), policy.HALVE),  # 1 spare/s: 50 s against 7 s
    ("super-b", (20, 5), (10, 5), policy.HALVE),
]


@pytest.mark.parametrize(("plan", "general", "bulk", "how"), SORT_OUT_PLANS)
def test_sort_out_on_the_published_plans(
    plan: str, general: tuple[int, int], bulk: tuple[int, int], how: str
) -> None:
    """A refused call of 50 rows goes one by one where the general budget carries it sooner."""
    chosen = policy.sort_out(
        50, singles=True, general=lsq.RateLimit(*general), bulk=lsq.RateLimit(*bulk)
    )
    assert chosen == how, plan


ENTERPRISE, ENTERPRISE_BULK = lsq.RateLimit(25, 5), lsq.RateLimit(1, 5)


@pytest.mark.parametrize(
    ("rows", "singles", "general", "bulk", "how"),
    [
        # No single-lead road for some row: halving is the only way.
        (50, False, ENTERPRISE, ENTERPRISE_BULK, policy.HALVE),
        # One row refused is that row's own refusal: nothing to sort out.
        (1, True, ENTERPRISE, ENTERPRISE_BULK, policy.HALVE),
        (2, True, ENTERPRISE, ENTERPRISE_BULK, policy.SINGLES),
        (200, True, ENTERPRISE, ENTERPRISE_BULK, policy.SINGLES),  # 41.7 s against 45 s
        (300, True, ENTERPRISE, ENTERPRISE_BULK, policy.HALVE),  # 62.5 s against 50 s
        # No bulk budget known: bulk calls spend general grants, as single calls do, and
        # halving never costs more calls than one by one (a tie halves, as it always did).
        (2, True, ENTERPRISE, None, policy.HALVE),
        (3, True, ENTERPRISE, None, policy.HALVE),
        (50, True, ENTERPRISE, None, policy.HALVE),
        # A bulk budget as large as the general one leaves no general grant spare.
        (50, True, ENTERPRISE, ENTERPRISE, policy.HALVE),
    ],
)
def test_sort_out_table(
    rows: int, singles: bool, general: lsq.RateLimit, bulk: lsq.RateLimit | None, how: str
) -> None:
    """``sort_out``: singles only with a single-lead road, when the spare general is sooner."""
    assert policy.sort_out(rows, singles=singles, general=general, bulk=bulk) == how


@pytest.mark.parametrize(("rows", "grants"), [(1, 0), (2, 2), (3, 3), (25, 6), (50, 7)])
def test_halving_grants(rows: int, grants: int) -> None:
    """Halving costs one probe a level and the bad row's own call."""
    assert policy.halving_grants(rows) == grants
