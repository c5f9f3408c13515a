"""The account's budgets as the engine spends them: general, bulk, and the daily quota.

Every call passes the general budget; bulk calls also pass the bulk budget (LeadSquared's
plans give bulk APIs a much smaller one); every call counts against the daily quota. A bulk
call takes its general and its bulk grant at the same instant, so that no window of either
budget sees it at another time than the service does, and it has first claim on the general
budget: a single-lead call waits rather than take the general grant a due bulk call needs.

``learn`` is the pure rule that reads a rate-limit rejection into what it teaches about the
budgets; ``Budgets`` keeps the limiters and acts on it (``rejected``, the one place a rejection
is learned from).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import math
from collections.abc import Callable

import attrs

from .limiters import Limiter, RateLimit, TokenBucketLimiter
from .quota import DAY, Quota

__all__ = ["BULK", "GENERAL", "QUOTA", "AccountLimiter", "Budgets", "Lesson", "learn"]

logger = logging.getLogger("leadsq_async")

GENERAL, BULK, QUOTA = "general", "bulk", "quota"
#: An announced window this long or longer is a quota, not a rate budget.
QUOTA_WINDOW = 3600.0
#: How long rejections naming no limit may go on, with nothing getting through, before the
#: client takes them for a spent daily quota; and the longest pause between them.
UNEXPLAINED_IS_QUOTA = 60.0
UNEXPLAINED_BEFORE_DOUBLING = 3
UNEXPLAINED_PAUSE_MAX = 900.0
#: The longest window an announced limit may have to be believed (LeadSquared's are seconds).
MAX_ANNOUNCED_PERIOD = 3600.0


@attrs.frozen
class Lesson:
    """What one rate-limit rejection teaches.

    ``budget`` is the budget that refused the call; ``adopt`` a lower limit for it (None: keep
    ours); ``quota`` the daily quota's size when the rejection names it; ``pause`` how long
    the budget grants nothing (``Budgets.rejected`` sets it; ``learn`` leaves it 0).
    """

    budget: str
    adopt: RateLimit | None = None
    quota: int | None = None
    pause: float = 0.0


def learn(
    announced: RateLimit | None,
    *,
    bulk_call: bool,
    general: RateLimit,
    bulk: RateLimit | None,
) -> Lesson:
    """Which budget a rejection of a call names, and what to adopt; a pure function.

    - A window of an hour or more is the daily quota.
    - A single-lead call passes only the general budget: its rejection is the general one.
    - A bulk call's rejection naming the bulk budget's numbers, or a limit below the general
      budget's, is the bulk budget (it slows only bulk calls); naming the general budget's
      numbers or more, it is the general budget.
    - Without numbers, a bulk call's rejection is blamed on the bulk budget when one is known.
    - A window longer than two days is no budget LeadSquared has: the numbers are not believed.
    """
    if announced is not None and announced.period > 2 * DAY:
        announced = None
    if announced is not None and announced.period >= QUOTA_WINDOW:
        return Lesson(QUOTA, quota=announced.calls if announced.period <= DAY * 1.01 else None)
    if not bulk_call:
        return Lesson(GENERAL, _lower(announced, general))
    if announced is None:
        return Lesson(BULK if bulk is not None else GENERAL)
    if bulk is not None and announced.calls == bulk.calls:
        return Lesson(BULK, _lower(announced, bulk))
    if announced.interval > general.interval:
        return Lesson(BULK, announced if bulk is None else _lower(announced, bulk))
    return Lesson(GENERAL, _lower(announced, general))


def _lower(announced: RateLimit | None, current: RateLimit) -> RateLimit | None:
    if announced is not None and announced.interval > current.interval:
        return announced
    return None


class Budgets:
    """The limiters of one account, spent by the engine's two lanes (bulk and general)."""

    def __init__(
        self,
        general: Limiter,
        bulk: Limiter | None,
        quota: Quota,
        *,
        clock: Callable[[], float],
        make_limiter: Callable[[RateLimit], Limiter] | None = None,
    ) -> None:
        self.general = general
        self.bulk = bulk
        self.quota = quota
        self._clock = clock
        self._make = make_limiter  # None: a TokenBucketLimiter (no closure kept per account)
        self._bulk_waiting = 0
        self._unexplained = 0  # rejections in a row that named no limit
        self._unexplained_since = 0.0
        # A dict used as a set: an empty dict is not tracked by the garbage collector.
        self._told: dict[tuple[str, object], None] = {}

    @property
    def bulk_rate(self) -> RateLimit | None:
        """The bulk budget in force (None while it is unknown)."""
        return self.bulk.rate if self.bulk is not None else None

    # -- granting ----------------------------------------------------------------------------

    def delay(self, bulk: bool, *, yielding: bool = False) -> float:
        """Seconds until a call of this kind could be granted (an estimate; ``inf``: never).

        A ``yielding`` single-lead call leaves the general budget's next grant to a bulk call
        that is due by then (rows spilled in bulk yield; a person waiting does not).
        """
        wait = _delay(self.general)
        if bulk and self.bulk is not None:
            wait = max(wait, _delay(self.bulk))
        elif yielding and self._bulk_waiting and self.bulk is not None:
            # A bulk call due within one general interval has first claim on the next grant.
            due = max(wait, _delay(self.bulk))
            if due <= wait + self.general.rate.interval:
                wait = due + self.general.rate.interval / 100
        return wait

    async def acquire(self, bulk: bool, *, yielding: bool = False) -> float:
        """Wait for a grant (general, and bulk too for a bulk call); give the seconds waited.

        The limiters are asked how long a grant is away until every budget the call needs is
        free, then spent together (a limiter that cannot tell says 0.0: it is simply asked).
        """
        started = self._clock()
        if bulk:
            self._bulk_waiting += 1
        try:
            while (wait := self.delay(bulk, yielding=yielding)) > 0:
                await asyncio.sleep(wait)
            await self.general.acquire()
            if bulk and self.bulk is not None:
                await self.bulk.acquire()
        finally:
            if bulk:
                self._bulk_waiting -= 1
        return self._clock() - started

    # -- learning ----------------------------------------------------------------------------

    def rejected(
        self, announced: RateLimit | None, retry_after: float | None, *, bulk_call: bool
    ) -> Lesson:
        """Act on a rate-limit rejection of a call: adopt, pause, note the quota.

        ``announced`` is the limit the rejection names and ``retry_after`` the pause it asks
        for (None: pause for the budget's period). The lesson says the budget and the pause.
        """
        bulk_rate = self.bulk_rate
        lesson = learn(announced, bulk_call=bulk_call, general=self.general.rate, bulk=bulk_rate)
        pause = _pause(lesson, retry_after, general=self.general.rate, bulk=bulk_rate)
        if announced is not None:
            self._unexplained = 0
        else:
            # Rejections naming no limit, one after another with nothing getting through: after
            # a few, each pause is twice the last (retrying every few seconds would hammer a
            # service whose quota is spent), and a run that outlasts UNEXPLAINED_IS_QUOTA
            # seconds is taken for the undocumented form of a spent daily quota.
            now = self._clock()
            if not self._unexplained:
                self._unexplained_since = now
            self._unexplained += 1
            if retry_after is None:  # a pause the service asked for is honoured as it is
                doubling = max(0, self._unexplained - UNEXPLAINED_BEFORE_DOUBLING)
                pause = min(UNEXPLAINED_PAUSE_MAX, pause * 2**doubling)
            if now - self._unexplained_since >= UNEXPLAINED_IS_QUOTA:
                lesson = Lesson(QUOTA)
        lesson = attrs.evolve(lesson, pause=pause)
        if lesson.budget == QUOTA:
            if lesson.quota is not None and self.quota.limit != lesson.quota:
                self._tell(
                    QUOTA, lesson.quota, "the service's daily quota is %s calls", lesson.quota
                )
                self.quota.limit = lesson.quota
            self.quota.exhaust(None)
            return lesson
        if lesson.budget == BULK:
            if self.bulk is None:
                rate = lesson.adopt or self.general.rate
                make = self._make
                self.bulk = make(rate) if make else TokenBucketLimiter(rate, clock=self._clock)
            elif lesson.adopt is not None:
                self.bulk.adopt(lesson.adopt)
            self.bulk.pause(pause)
        else:
            if lesson.adopt is not None:
                self.general.adopt(lesson.adopt)
            self.general.pause(pause)
        if lesson.adopt is not None:
            self._tell(
                lesson.budget,
                lesson.adopt,
                "the service announced a lower rate limit for the %s budget "
                "(%s calls per %gs); using it",
                lesson.budget,
                lesson.adopt.calls,
                lesson.adopt.period,
            )
        return lesson

    def answered(self) -> None:
        """A call got through: the budgets let it, and the quota is not spent."""
        self._unexplained = 0
        self.quota.recovered()

    def _tell(self, budget: str, value: object, message: str, *args: object) -> None:
        if (budget, value) not in self._told:
            self._told[budget, value] = None
            logger.warning(message, *args)


def _pause(
    lesson: Lesson, retry_after: float | None, *, general: RateLimit, bulk: RateLimit | None
) -> float:
    """How long to grant nothing after a rejection: ``Retry-After``, else the period of the
    budget it names (an adopted lower limit's, which is the one now in force)."""
    if retry_after is not None:
        return retry_after
    if lesson.budget == QUOTA:
        return MAX_ANNOUNCED_PERIOD
    if lesson.adopt is not None:
        rate = lesson.adopt
    else:
        rate = bulk if lesson.budget == BULK and bulk is not None else general
    return min(rate.period, MAX_ANNOUNCED_PERIOD)


def _delay(limiter: Limiter) -> float:
    value = float(limiter.delay())
    return value if math.isfinite(value) else math.inf


class AccountLimiter(Limiter, abc.ABC):
    """A limiter that keeps the account's budgets itself (``RedisLimiter``: shared through
    Redis by every process): the client's engine spends the ``Budgets`` it gives."""

    @abc.abstractmethod
    def account_budgets(
        self,
        bulk_limiter: Limiter | None,
        bulk_rate: RateLimit | None,
        daily_quota: int | None,
        quota_reserve: float,
    ) -> Budgets | None:
        """The budgets the client spends; the client's ``bulk_rate``, ``daily_quota`` and
        ``quota_reserve`` fill in what the limiter was not given. None: this limiter cannot
        keep them with that ``bulk_limiter``, and the client keeps them in-process."""
