"""The engine: the one loop that turns queued rows into calls and acts on every verdict.

grant → take → send → apply: the dispatcher waits until a call should leave, gets a grant,
takes the rows for it from the batcher and sends it in a task of its own; when the verdict
comes back, ``apply`` is the single place that acts on it: the retry policy
(``_rules.policy``) turns it into an action (answering rows, resending with back-off under the
retry cap, splitting, pausing the limiters), and the engine does what the action says. The
reaper answers callers whose deadline passed. One clock, injected, times all of it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import operator
import random
from collections.abc import Callable, Mapping, Sequence
from math import inf
from typing import cast

from .._api.spec import RowOutcome, Unanswered
from .._api.verdict import Failed, RateLimited, Verdict
from .._budgets.budgets import Budgets, Lesson
from .._errors import (
    ClientClosedError,
    EndpointNotFoundError,
    LeadRejectedError,
    LimiterUnavailableError,
    OutcomeUnknownError,
    ResponseMismatchError,
    ServiceError,
    ServiceUnavailableError,
)
from .._observe.events import CallHook, EventHook, announce, call_ended, emit
from .._observe.stats import CloseReport, Counters
from .._queue.batcher import NO_SPILL, Batcher, Spill
from .._queue.groups import TICK
from .._queue.rows import BULK, SENDING, Call, Entry
from .._rules import policy
from .._rules.circuit import Phase
from .._rules.gate import Gate, QuotaLets, Send
from .._rules.policy import (
    Action,
    Again,
    CloseRoad,
    Finish,
    GiveUp,
    Halve,
    OneByOne,
    Pause,
    QuotaSpent,
    Retry,
    Rules,
)
from .._util.signal import Signal
from .reconcile import Reconciler, unknown_creates
from .sender import Sender

__all__ = ["Engine"]

_NONE: Mapping[Entry, OutcomeUnknownError] = {}
_ATTEMPTS: Callable[[Entry], int] = operator.attrgetter("attempts")

logger = logging.getLogger("leadsq_async")

#: Seconds between attempts to reach a limiter that is unavailable.
LIMITER_RETRY = 0.2

#: The engine's jobs, by their place in ``Engine._loops``: the two lanes and the reaper.
_BULK, _GENERAL, _REAPER = 0, 1, 2

#: The retry jitter of every engine not given its own generator (one per engine would be a
#: 2.5 KiB state each for a few draws).
_JITTER = random.Random()


class Engine:
    """Owns the two lanes (bulk and general), the reaper, the calls in flight, and closing.

    The bulk lane spends bulk grants (general and bulk budgets together) on bulk calls; the
    general lane spends general grants on single-lead endpoints and, as ``spill`` allows, on
    rows alone on their single-lead road when the bulk budget is further away. A job with
    nothing to wait for while no row is pending or in flight ends (parks on its signal), and
    the next change starts it again: an idle client keeps no task.
    """

    def __init__(
        self,
        *,
        batcher: Batcher,
        sender: Sender,
        budgets: Budgets,
        counters: Counters,
        max_retries: int,
        max_in_flight: int,
        backoff: float,
        backoff_max: float,
        spill: str,
        gate: Gate,
        clock: Callable[[], float],
        on_call: CallHook | None = None,
        on_event: EventHook | None = None,
        reconcile: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.batcher = batcher
        self.sender = sender
        self.budgets = budgets
        self.counters = counters
        self._rules = Rules(max_retries, backoff, backoff_max)
        self._slots = asyncio.Semaphore(max_in_flight)
        self._spill = spill
        self._reconcile = reconcile
        self._clock = clock
        self._on_call = on_call
        self._on_event = on_event
        self._random = rng or _JITTER
        # By job (_BULK, _GENERAL, _REAPER); None while the job is parked.
        self._loops: list[asyncio.Task[None] | None] = []
        # What each lane waits on; the reaper waits on ``batcher.deadline_changed``.
        self._bulk_changed = batcher.changed.listen()
        self._general_changed = batcher.changed.listen()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._context: contextvars.Context | None = None  # every job's, restarted ones too
        self._stopped = False  # closing cancelled the jobs: none starts again
        # A dict used as a set: once empty, not tracked by the garbage collector.
        self._calls: dict[asyncio.Task[None], None] = {}
        self.gate = gate  # may a call leave now: the quota, closed roads, the circuit
        self.circuit = gate.circuit  # told here whether each call reached the service
        self._told_open = False  # the circuit's opening was logged
        self._reconciler: Reconciler | None = None  # made for the first create to settle

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the two lanes and the reaper in ``loop``."""
        batcher = self.batcher
        batcher.loop = loop
        self._loop = loop
        self._context = contextvars.copy_context()
        self._loops = [self._spawn(job, first=True) for job in (_BULK, _GENERAL, _REAPER)]

    def _spawn(self, job: int, *, first: bool = False) -> asyncio.Task[None]:
        """Run ``job`` in a task of its own, in the context the engine started in.

        A parked job starts again inside ``Signal.set``, in the middle of a change to the
        batcher: as an ``asyncio.Task`` made directly, which is never eager (an eager task
        factory would run the lane right there, and enter the shared context twice).
        """
        loop = self._loop
        assert loop is not None
        coro = self._reap() if job == _REAPER else self._lane(bulk=job == _BULK)
        if first:
            task = loop.create_task(coro, context=self._context)
        else:
            task = asyncio.Task(coro, loop=loop, context=self._context)
        task.add_done_callback(_background_done)
        return task

    def resumed(self, signal: Signal) -> None:
        """The signal a job parked on was raised: start the job again, as its wait would end."""
        if not self._stopped:
            if signal is self._bulk_changed:
                job = _BULK
            else:
                job = _GENERAL if signal is self._general_changed else _REAPER
            self._loops[job] = self._spawn(job)

    # -- the lanes ---------------------------------------------------------------------------

    def spill(self) -> Spill:
        """Which rows may go alone on their single-lead road now.

        Only while the bulk budget is further away than the general one by more than a
        general interval: otherwise a bulk call carries them as soon, and costs no extra call.
        """
        budgets = self.budgets
        if self._spill == "none" or budgets.bulk is None:
            return NO_SPILL  # without a bulk budget, a bulk call is never the later one
        general = budgets.delay(bulk=False)
        later = budgets.delay(bulk=True) > general + max(budgets.general.rate.interval, TICK)
        return Spill(interactive=later, bulk=later and self._spill == "all", interactive_lone=True)

    async def _lane(self, *, bulk: bool) -> None:
        """Turn queued rows into calls of one lane, one grant at a time."""
        batcher, budgets = self.batcher, self.budgets
        changed = self._bulk_changed if bulk else self._general_changed
        while True:
            changed.clear()
            send_at = self._circuit_gate(self._clock())
            spill = NO_SPILL if bulk else self.spill()
            when = max(batcher.ready_at(bulk, spill), send_at)
            now = self._clock()
            if when > now:
                if batcher.pending:  # a holding circuit opens then: its rows fail at once
                    when = min(when, max(now, self.gate.opens_at()))
                timeout = None if when == inf else when - now
                if not bulk and self._spill != "none" and batcher.pending:
                    # Whether rows may spill changes with the budgets as well as with rows.
                    later = budgets.delay(bulk=True)
                    if later > 0:
                        timeout = later if timeout is None else min(timeout, later)
                if timeout is None and batcher.idle.is_set() and changed.park(self):
                    self._loops[_BULK if bulk else _GENERAL] = None
                    return  # nothing to wait for: the next change starts the lane again
                await changed.wait(timeout)
                continue
            if not self._quota_allows(bulk):
                continue
            await self._slots.acquire()
            try:
                # Rows spilled in bulk, and rows of refused calls going one by one, leave the
                # general budget's next grant to a bulk call due by then: they are import work.
                yielding = self._spill == "all" or (not bulk and batcher.alone > 0)
                waited = await budgets.acquire(bulk, yielding=yielding)
            except LimiterUnavailableError as error:
                self._slots.release()
                # Rows stay queued; the reaper fails them at their deadline with this error.
                if batcher.limiter_error is None:
                    logger.warning("the limiter is unavailable; rows wait for it: %s", error)
                batcher.limiter_error = error
                await asyncio.sleep(LIMITER_RETRY)
                continue
            except BaseException:
                self._slots.release()
                raise
            self.counters.limiter_wait += waited
            if batcher.limiter_error is not None:
                logger.warning("the limiter is available again")
                batcher.limiter_error = None
            # The spill decided before the grant holds for it: the grant itself moved the
            # general budget's next grant away, which must not turn the decision around.
            send = self.gate.may_send(self._clock())
            if send is Send.NO:
                self._slots.release()  # the other lane's probe left while this one waited
                continue
            call = batcher.take(bulk, spill if not bulk else self.spill())
            if call is None or not call.entries:
                self._slots.release()
                continue
            call.waited = waited
            missing = self.gate.road_error(call.endpoint.name)
            if missing is not None:  # rows admitted while the answer that proved it came
                self._slots.release()
                for entry in call.entries:
                    batcher.finish(entry, missing)
                continue
            if send is Send.PROBE:
                call.probe = True
                self.circuit.probe()
            self._launch(call)

    def _quota_allows(self, bulk: bool) -> bool:
        """Whether the daily quota lets the lane make a call; fail the rows it cannot carry."""
        lets = self.gate.quota_lets()
        if lets is QuotaLets.ALL:
            return True
        interactive_allowed = lets is QuotaLets.INTERACTIVE
        error = self.gate.quota_error()
        spent = self.batcher.fail_pending(
            lambda e: not interactive_allowed or e.priority == BULK, lambda _: error
        )
        if spent:
            logger.warning("the daily quota is spent: %d waiting rows failed at once", spent)
        return interactive_allowed

    # -- the circuit for an unreachable service --------------------------------------------

    def _circuit_gate(self, now: float) -> float:
        """When the circuit lets the next call leave (``now`` while closed); while it is open
        and no probe may leave, every waiting row fails at once."""
        if self.gate.unreachable(now):
            self._fail_unreachable()
        return self.gate.send_at(now)

    def _unavailable_error(self) -> ServiceUnavailableError:
        """The error a row fails with at once while the service cannot be reached."""
        return self.gate.unavailable_error(self._clock())

    def _fail_unreachable(self) -> None:
        failed = self.batcher.fail_pending(lambda _: True, lambda _: self._unavailable_error())
        if not self._told_open:
            self._told_open = True
            logger.warning("%s (%d waiting rows failed)", self._unavailable_error(), failed)

    def _reach(self, call: Call, action: Action) -> bool:
        """Tell the circuit whether ``call`` reached the service; whether its rows (and every
        waiting row) must now fail at once because the circuit is open."""
        circuit = self.circuit
        now = self._clock()
        if not (isinstance(action, Retry) and not action.reached):
            if circuit.reached(probe=call.probe):
                self._told_open = False
                logger.warning("the service is reachable again; calls go as usual")
                self.batcher.changed.set()
            return False
        was = circuit.phase(now)
        url = self.sender.base_url + call.endpoint.path
        cause = str(action.cause).rsplit(": ", 1)[-1]
        circuit.unsent(now, probe=call.probe, url=url, cause=cause)
        phase = circuit.phase(now)
        if phase is Phase.HOLDING and was is Phase.CLOSED:
            logger.warning(
                "%d calls in a row never reached %s; one call at a time until one does",
                circuit.streak,
                url,
            )
        self.batcher.changed.set()  # the next call's time changed
        return phase is Phase.OPEN

    def _launch(self, call: Call) -> None:
        """Send ``call`` in its own task; a caller cancelling its await never cancels it.

        The task's end, not its body, answers the rows still in the call and frees the
        in-flight slot: a task cancelled (by ``aclose``) before its first step never runs.
        """
        task = asyncio.get_running_loop().create_task(self._run(call))
        self._calls[task] = None
        task.add_done_callback(lambda done: self._ended(call, done))

    async def _run(self, call: Call) -> None:
        call.started = True
        endpoint, entries = call.endpoint, call.entries
        started = self._clock()
        status: int | str = "-"
        action: Action | None = None
        event = announce(call, self._on_call, self._on_event)
        self.counters.count_call(endpoint.name, len(entries))
        if entries and entries[0].cohort is not None:  # a half, or a row going alone
            self.counters.sorting_calls += 1
        self.budgets.quota.spend()
        try:
            verdict, status = await self.sender.send(endpoint, call.rows)
            held = unknown_creates(call, verdict) if self._reconcile else {}
            action = self.apply(call, verdict, held=held)
            for entry, error in held.items():
                self._reconciling().look_up(entry, error)
        except Exception as exc:  # a defect must still answer every caller
            logger.exception("unexpected error while sending a call")
            action = self.apply(call, Failed(ResponseMismatchError(f"internal error: {exc!r}")))
        finally:
            elapsed = self._clock() - started
            logger.debug(
                "%s rows=%d status=%s elapsed=%.3fs", endpoint.name, len(entries), status, elapsed
            )
            if event is not None and self._on_event is not None:
                emit(self._on_event, call_ended(event, action, status, elapsed))

    def _ended(self, call: Call, task: asyncio.Task[None]) -> None:
        self._calls.pop(task, None)
        self._slots.release()
        if not task.cancelled():
            return  # the body applied a verdict to every row
        for entry in call.entries:
            if entry.state is not SENDING:
                continue
            error = policy.in_flight_error(
                started=call.started, idempotent=entry.endpoint.idempotent
            )
            self.batcher.finish(entry, error)

    async def _reap(self) -> None:
        """Answer callers whose delivery deadline passed."""
        batcher = self.batcher
        signal = batcher.deadline_changed
        while True:
            signal.clear()
            batcher.expire()
            soonest = batcher.next_deadline()
            if soonest == inf and batcher.idle.is_set() and signal.park(self):
                self._loops[_REAPER] = None
                return  # no deadline to keep: the next row starts the reaper again
            timeout = None if soonest == inf else max(0.0, soonest - self._clock())
            await signal.wait(timeout)

    # -- acting on verdicts --------------------------------------------------------------------

    def apply(
        self, call: Call, verdict: Verdict, held: Mapping[Entry, OutcomeUnknownError] = _NONE
    ) -> Action:
        """Act on what the answer to ``call`` means; the only place verdicts are acted on.

        The policy turns ``verdict`` into the action given back (the call's event reports
        it); a call refused whole is sorted out as ``policy.sort_out`` chooses. Rows in
        ``held`` (creates whose outcome is unknown, to be looked up) stay in flight.
        """
        batcher = self.batcher
        entries = [e for e in call.entries if e not in held] if held else call.entries
        action = policy.decide(
            verdict,
            attempt=1 + max(map(_ATTEMPTS, entries), default=0),
            rules=self._rules,
            jitter=self._random.random,
            lesson=self._learn(call, verdict),
        )
        if isinstance(action, Halve):
            action = self._sort_out(call, entries, action)
        if not isinstance(action, (Retry, Pause, QuotaSpent)):
            self.budgets.answered()  # the service answered: the quota is not spent
        if not isinstance(action, (Retry, Pause)):
            # A probe half's answer says where the bad row is: before its rows are halved again.
            batcher.half_ended(call.entries, refused=not isinstance(action, Finish))
        if self._reach(call, action):  # unreachable for too long: no row waits for it
            for entry in entries:
                batcher.finish(entry, self._unavailable_error())
            self._fail_unreachable()
            return action
        if len(entries) == 1 and _refused_alone(action):
            batcher.found_bad(entries[0])  # its call's rows still waiting are taken to be good
        match action:
            case Finish(outcomes=outcomes):
                if (
                    not held
                    and len(outcomes) == len(call.entries)
                    and not any(issubclass(kind, Unanswered) for kind in set(map(type, outcomes)))
                ):
                    # Every row answered (nearly every call): no row to sort out one by one.
                    answered = cast("Sequence[RowOutcome]", outcomes)  # none is Unanswered
                    batcher.finish_all(zip(call.entries, answered, strict=True))
                    return action
                again: list[Entry] = []
                ended: list[tuple[Entry, RowOutcome]] = []
                for entry, outcome in zip(call.entries, outcomes, strict=True):
                    if entry in held:
                        continue
                    if isinstance(outcome, Unanswered):
                        again.append(entry)
                    else:
                        ended.append((entry, outcome))
                batcher.finish_all(ended)
                if again:
                    batcher.requeue(self._next_try(again, Again(len(again) < len(entries))), 0.0)
            case GiveUp(error=error):
                batcher.finish_all((entry, error) for entry in entries)
            case Retry(cause=cause, delay=delay):
                self.counters.retries += 1
                logger.info("retrying %d rows in %.2fs: %s", len(entries), delay, cause)
                batcher.requeue(self._next_try(entries, action), self._clock() + delay)
            case Pause(budget=budget, pause=pause):
                logger.warning(
                    "rate limited by the service (%s budget); pausing it for %.2fs", budget, pause
                )
                batcher.requeue(self._next_try(call.entries, action), 0.0)
            case QuotaSpent(message=message):
                error = self.gate.quota_error()
                for entry in call.entries:
                    batcher.finish(entry, error)
                spent = batcher.fail_pending(lambda _: True, lambda _: error)
                logger.warning(
                    "the service says the daily quota is spent (%s); %d waiting rows failed "
                    "at once",
                    message,
                    spent,
                )
            case CloseRoad(error=missing):
                self._no_such_endpoint(call, missing)
            case OneByOne(cause=refused):
                self.counters.calls_refused_whole += 1
                logger.info(
                    "%s refused a call of %d rows (%s); sending them again one by one",
                    call.endpoint.name,
                    len(entries),
                    refused.exception_type or "HTTP 400",
                )
                batcher.one_by_one(entries, refused)
            case Halve(cause=refused):
                self.counters.calls_refused_whole += 1
                self.counters.splits += 1
                logger.info(
                    "%s refused a call of %d rows (%s); sending it again in halves",
                    call.endpoint.name,
                    len(entries),
                    refused.exception_type or "HTTP 400",
                )
                batcher.split(entries, refused)
        return action

    def _sort_out(self, call: Call, entries: list[Entry], halve: Halve) -> Halve | OneByOne:
        """Halve a call refused whole, or send its rows one by one, as the policy chooses."""
        gate, budgets = self.gate, self.budgets
        singles = self._spill != "none" and all(
            e.row.single is not None and gate.road_open(e.row.single.name) for e in entries
        )
        how = policy.sort_out(
            len(entries), singles=singles, general=budgets.general.rate, bulk=budgets.bulk_rate
        )
        return OneByOne(halve.cause) if how == policy.SINGLES else halve

    def _learn(self, call: Call, verdict: Verdict) -> Lesson | None:
        """Let the budgets learn from a rate-limit rejection (the one place that learns)."""
        if not isinstance(verdict, RateLimited):
            return None
        self.counters.rate_limited += 1
        return self.budgets.rejected(
            verdict.announced, verdict.retry_after, bulk_call=call.endpoint.bulk
        )

    # -- reconciling unknown outcomes ------------------------------------------------------

    def look_up_first(self, entry: Entry) -> None:
        """Hold a queued create until the lookup by its unique field says whether to send it."""
        self._reconciling().look_up_first(entry)

    def _reconciling(self) -> Reconciler:
        if self._reconciler is None:
            self._reconciler = Reconciler(self.batcher, self._send_again)
        return self._reconciler

    def _send_again(self, entry: Entry, cause: ServiceError) -> None:
        """Send a create a lookup found not applied again, now, within ``max_retries``."""
        logger.info("a create whose outcome was unknown was not applied; sending it again")
        self.batcher.requeue(self._next_try([entry], Retry(cause, 0.0, True)), self._clock())

    def _next_try(self, entries: list[Entry], action: Retry | Again | Pause) -> list[Entry]:
        """The rows of a call still in flight that ``action`` sends again, as the policy's
        ``next_try`` says (counting their attempts); the rest end with its error."""
        back: list[Entry] = []
        for entry in entries:
            if entry.state is not SENDING:
                continue
            if not isinstance(action, Again):
                entry.last_error = action.cause
            entry.attempts, error = policy.next_try(
                action, entry.attempts, live=entry.live, rules=self._rules
            )
            if error is None:
                back.append(entry)
            else:
                self.batcher.finish(entry, error)
        return back

    def _no_such_endpoint(self, call: Call, error: EndpointNotFoundError) -> None:
        """No such API at the URL called: end the call's rows, and every row waiting for that
        endpoint, with ``error``; send nothing more to it (no split, no retry).

        A row that came onto this single-lead road from its bulk endpoint (spilled, or sorted
        out one by one) is not ended: the answer proves it was not applied, so it goes back
        to its bulk road, and so do the rows waiting to follow it one by one.
        """
        endpoint = call.endpoint
        first = self.gate.close_road(endpoint.name, error)
        back = 0
        if not endpoint.bulk:
            back = self.batcher.road_closed(
                endpoint.name, [e for e in call.entries if e.endpoint.name != endpoint.name]
            )
        for entry in call.entries:
            if entry.state is SENDING:
                self.batcher.finish(entry, error)
        failed = self.batcher.fail_pending(
            lambda e: e.endpoint.name == endpoint.name,
            lambda _: self.gate.road_error(endpoint.name) or error,
        )
        if first and not endpoint.asker_reports:
            logger.warning(
                "%s; nothing more is sent to %s (%d waiting rows failed at once%s)",
                error,
                endpoint.name,
                failed,
                f"; {back} rows bound for it go by their bulk API instead" if back else "",
            )

    # -- flushing and closing ----------------------------------------------------------------

    async def flush(self, closed: bool) -> None:
        """Send every queued row now, without waiting for ``linger``; wait for the answers."""
        batcher = self.batcher
        if batcher.idle.is_set():
            return
        batcher.flushing = True
        batcher.changed.set()
        try:
            await batcher.idle.wait()
        finally:
            batcher.flushing = closed

    # ``timeout`` is aclose()'s drain deadline: rows unsent by then are answered, not cancelled.
    async def close(self, timeout: float) -> CloseReport:  # noqa: ASYNC109
        """Stop admitting, send what was admitted within ``timeout``, answer the rest."""
        batcher = self.batcher
        before = batcher.ended()
        batcher.close_admission()
        try:
            await asyncio.wait_for(batcher.idle.wait(), timeout)
        except TimeoutError:
            logger.warning("aclose(timeout=%g) expired; abandoning unsent rows", timeout)
        batcher.abandon(lambda _: ClientClosedError("the client closed before this row was sent"))
        self._stopped = True
        for signal in (self._bulk_changed, self._general_changed, batcher.deadline_changed):
            signal.unpark()
        running = [*(task for task in self._loops if task is not None), *self._calls]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for entry in batcher.sending():  # creates whose lookup the close abandoned
            batcher.finish(
                entry, OutcomeUnknownError("the client closed before this create was looked up")
            )
        after = batcher.ended()
        return CloseReport(
            sent=after[0] - before[0],
            failed=after[1] - before[1],
            abandoned=after[2] - before[2],
        )


def _refused_alone(action: Action) -> bool:
    """Whether ``action`` ends the one row of its call refused by the service."""
    if isinstance(action, GiveUp):
        return isinstance(action.error, LeadRejectedError)
    if isinstance(action, Finish):
        return len(action.outcomes) == 1 and isinstance(action.outcomes[0], LeadRejectedError)
    return False


def _background_done(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("leadsq_async background task failed", exc_info=task.exception())
