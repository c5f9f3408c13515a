"""Rows waiting to be sent, and how they become calls.

The batcher admits rows under ``max_pending`` (``Admission``), keeps them in groups of rows
that may share a call (``Group``, one queue per priority) and in per-lead order
(``LeadOrder``), merges two queued updates of one lead into one row, and turns rows into a
call only when the engine holds a grant, so that while the limit is the bottleneck every call
leaves full. Every change of a row's state goes through ``_move``, which keeps the counts.
The batcher decides nothing about answers: the engine tells it what to do with a call's rows.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from .._api.registry import Endpoint, Row, RowOutcome
from .._errors import (
    ClientClosedError,
    DeliveryTimeoutError,
    InFlightTimeoutError,
    LeadSquaredError,
    LimiterUnavailableError,
)
from .._rules.gate import Gate
from .._util.signal import Broadcast, Signal
from .admission import Admission
from .groups import SCAN_LIMIT, Group
from .ordering import LeadOrder
from .rows import (
    BULK,
    DONE,
    INTERACTIVE,
    PENDING,
    SENDING,
    Alone,
    Call,
    Entry,
    RowFuture,
    State,
    move,
)

if TYPE_CHECKING:
    from .._api.operations import Result

__all__ = ["NO_SPILL", "Batcher", "Spill"]


@attrs.frozen
class Spill:
    """Which rows may leave alone on their single-lead road now (the engine decides)."""

    interactive: bool = False  # interactive rows: the bulk budget is further away
    bulk: bool = False  # bulk rows too (``spill="all"``)
    interactive_lone: bool = False  # a bulk grant is not spent on interactive rows alone

    @property
    def any(self) -> bool:
        """Whether any row may spill."""
        return self.interactive or self.bulk

    @property
    def queues(self) -> tuple[int, ...]:
        """The priorities whose rows may spill."""
        return (INTERACTIVE, BULK) if self.bulk else (INTERACTIVE,)


NO_SPILL = Spill()


class Batcher:
    """Groups rows, admits them, and hands out full calls at grant time."""

    def __init__(
        self,
        *,
        linger: float,
        max_pending: int,
        delivery_timeout: float,
        clock: Callable[[], float],
        gate: Gate | None = None,
    ) -> None:
        self.linger = linger
        self.delivery_timeout = delivery_timeout
        #: The loop the rows' futures belong to, once the engine started in it.
        self.loop: asyncio.AbstractEventLoop | None = None
        self._clock = clock
        self._admission = Admission(max_pending)
        #: Take room for one more row if there is some now, without waiting (the admission's
        #: own method, not one that calls it: this runs once per row).
        self.try_admit = self._admission.try_acquire
        self._groups: dict[Hashable, Group] = {}
        self._order = LeadOrder()
        self._sending: set[Entry] = set()
        self.pending = 0  # rows waiting unsent
        self.flushing = False
        self.changed = Broadcast()  # set when a call may have become possible
        self.idle = asyncio.Event()  # set when no row is pending or in flight
        self.idle.set()
        self.deadline_changed = Signal()
        self.limiter_error: LimiterUnavailableError | None = None
        self.gate = gate  # asked which single-lead roads rows may spill onto (None: any)
        self._ended = [0, 0, 0]  # rows that ended with a result, an error, abandoned
        self._alone = 0  # rows of refused calls going one by one (``Alone``) not yet ended
        self._refused: dict[Alone, list[Entry]] = {}  # those rows, by the call refused
        # Dicts used as sets: an empty dict is not tracked by the garbage collector, an empty
        # set is, and these stay empty unless calls are refused whole.
        self._found: dict[Alone, None] = {}  # those calls whose bad row was refused alone
        self._held: dict[Entry, None] = {}  # their good rows, held by ``found_bad``
        # Halving a refused call: a probe half's cohort -> the other half, held until the
        # probe is answered (refused: the others rejoin full calls; through: they are halved).
        self._halves: dict[object, list[Entry]] = {}

    @property
    def max_pending(self) -> int:
        """At most this many rows wait unsent."""
        return self._admission.limit

    @property
    def alone(self) -> int:
        """Rows of calls refused whole going one by one on their single-lead road, not ended."""
        return self._alone

    def ended(self) -> tuple[int, int, int]:
        """Rows ended so far: with a result, with an error, abandoned at close."""
        return (self._ended[0], self._ended[1], self._ended[2])

    # -- the one place a row changes state -------------------------------------------------

    def _group(self, entry: Entry) -> Group:
        group = self._groups.get(entry.row.group)
        if group is None:
            group = self._groups[entry.row.group] = Group(entry.endpoint)
        return group

    def _move(self, entry: Entry, to: State, *, announce: bool = True) -> None:
        """Change ``entry``'s state and everything that counts it.

        ``announce=False`` leaves telling the lanes to the caller (once for many rows).
        """
        was = move(entry, to)
        if was is PENDING:
            self._groups[entry.row.group].left(entry)  # a waiting row's group is there
            self.pending -= 1
        elif was is SENDING:
            self._sending.discard(entry)
        if to is PENDING:  # back from a call: resent or split
            self._group(entry).push(entry)
            self.pending += 1
            self.changed.set()
            self.deadline_changed.set()
        elif to is SENDING:
            self._sending.add(entry)
            if entry.slots:  # the row no longer waits: let the next one in
                self._admission.release(entry.slots)
                entry.slots = 0
        else:
            self._order.remove(entry)
            self._held.pop(entry, None)
            cohort = entry.cohort
            if cohort is not None:
                if type(cohort) is Alone:
                    self._alone -= 1
                    rows = self._refused.get(cohort)
                    if rows is not None and all(e.state is DONE for e in rows):
                        del self._refused[cohort]
                        self._found.pop(cohort, None)
                        if self._held and not self._sorting(entry.row.group):
                            self._release_good(entry.row.group)
                elif was is PENDING and self._halves:
                    self._rejoin(self._halves.pop(entry.cohort, ()))  # its probe never left
            if entry.slots:
                self._admission.release(entry.slots)
                entry.slots = 0
            entry.forget_callers()
            if announce:
                self.changed.set()
        if not self.pending and not self._sending:
            self._rest()

    def _rest(self) -> None:
        """No row is pending or in flight: tell ``idle``'s waiters, and the reaper, which has
        no deadline left to keep (it ends now rather than when its last timer fires)."""
        self.idle.set()
        self.deadline_changed.set()

    # -- admission -------------------------------------------------------------------------

    async def admit(self, wait: bool) -> None:
        """Wait for room for one more row (``QueueFullError`` when ``wait`` is false)."""
        await self._admission.acquire(wait)

    def release_admission(self) -> None:
        """Give back a slot taken by ``admit`` that will not be used."""
        self._admission.release(1)

    def add(
        self,
        row: Row,
        endpoint: Endpoint,
        future: asyncio.Future[Result],
        priority: int = INTERACTIVE,
    ) -> Entry:
        """Queue an admitted row, merging it into a queued update of the same lead; give the
        entry that carries it."""
        now = self._clock()
        deadline = now + self.delivery_timeout
        last = self._order.merge_target(row.identities) if endpoint.merges else None
        if last is not None and last.endpoint is endpoint:
            merged = endpoint.merge(last.row, row)
            if merged is not None:
                last.join(future, row, merged, deadline)
                if priority < last.priority:  # an interactive caller now waits for it
                    self._group(last).reprioritize(last, priority)
                self.changed.set()
                return last
        entry = Entry(self, row, endpoint, future, now, deadline, priority)
        # ``_group`` and ``Group.push`` inline: this runs once per row.
        group = self._groups.get(row.group)
        if group is None:
            group = self._groups[row.group] = Group(endpoint)
        group.queues[priority].append(entry)
        waiting = group.waiting
        waiting[priority] += 1
        identities = row.identities
        # ``self._order.add`` inline for a row of one lead that has no other row queued.
        if len(identities) != 1 or self._order.leads.setdefault(identities[0], entry) is not entry:
            self._order.add(entry)
        self.pending += 1
        if self.pending == 1:
            self.idle.clear()
        total = waiting[0] + waiting[1]
        # The lanes wake for a group's first row (its linger starts) and for each call's worth
        # (a lane that took one full call looks again by itself); interactive rows and flushes
        # go at once.
        if total % endpoint.max_rows == 0 or total == 1 or priority == INTERACTIVE or self.flushing:
            self.changed.set()
        # A new row's deadline is later than any queued or in flight before it (deadlines are
        # admission plus one delivery_timeout): the reaper needs waking only if it had none.
        if self.pending == 1 and not self._sending:
            self.deadline_changed.set()
        return entry

    def add_lookup(
        self, row: Row, endpoint: Endpoint, future: asyncio.Future[Result], settles: Entry
    ) -> Entry:
        """Queue the interactive lookup that settles ``settles`` (a create); give its entry.

        The lookup is the create's own work: it takes room beyond ``max_pending``, counts as
        admitted with the create and shares its deadline, and goes whenever the create could
        (``LeadOrder``); no caller's row is merged into it.
        """
        self._admission.take()
        entry = Entry(self, row, endpoint, future, settles.admitted, settles.deadline, INTERACTIVE)
        entry.settles = settles
        group = self._group(entry)
        group.push(entry)
        queue = group.queues[INTERACTIVE]
        if len(queue) > 1 and queue[-2].admitted > entry.admitted:
            group.resort()  # as old as its create: queues (and deadlines) in admission order
        self.pending += 1
        self.idle.clear()
        self.changed.set()
        self.deadline_changed.set()
        return entry

    def hold(self, entry: Entry) -> None:
        """Keep a queued ``entry`` from going until ``release`` (its lookup answers first)."""
        entry.not_before = float("inf")

    def release(self, entry: Entry) -> None:
        """Let a held ``entry`` go."""
        if entry.state is PENDING:
            entry.not_before = 0.0
            self.changed.set()

    def withdraw(self, entry: Entry, future: asyncio.Future[Any]) -> None:
        """A caller gave up (cancelled, or its deadline passed) before its row was sent.

        Its fields come back out of a merged row (the others keep theirs, as before the
        merge); the row itself is withdrawn when nobody else waits for it.
        """
        if entry.state is not PENDING or future not in entry.futures:
            return
        entry.leave(future)
        self._admission.release(1)
        if not entry.futures:
            self._move(entry, DONE)

    # -- making calls ----------------------------------------------------------------------

    def _eligible(self, now: float, *, alone: bool = False) -> Callable[[Entry], bool]:
        """Rows that may go now; those going one by one (``Alone``) only when ``alone``."""
        order = self._order
        leads = order.leads

        def eligible(entry: Entry) -> bool:
            if not (
                entry.state is PENDING
                and entry.not_before <= now
                and (alone or type(entry.cohort) is not Alone)
            ):
                return False
            if entry.settles is None:
                # ``order.is_head`` inline while the row is the only one of its leads (nearly
                # always): each row of a call passes here.
                for identity in entry.row.identities:
                    if leads[identity] is not entry:
                        return order.is_head(entry)
                return True
            return order.is_head(entry)

        return eligible

    def ready_at(self, bulk: bool, spill: Spill = NO_SPILL) -> float:
        """When the next call of a lane should leave (``inf``: nothing to send).

        The bulk lane carries the bulk groups; the general lane carries the groups of
        single-lead endpoints and, as ``spill`` allows, rows alone on their single-lead road
        (at once: a single-lead call has nothing to wait for), as well as the rows of refused
        calls going one by one (``Alone``), whatever ``spill`` says.
        """
        now = self._clock()
        eligible = self._eligible(now)
        best = float("inf")
        for key, group in list(self._groups.items()):
            if group.total == 0:
                del self._groups[key]
                continue
            if group.endpoint.bulk is not bulk:
                if not bulk and (spill.any or self._alone):
                    first, retry_at = group.first(
                        self._spillable(now, spill), now, self._spill_queues(spill)
                    )
                    if first is not None:
                        return now
                    if self._alone:  # a row going alone that waits out a back-off
                        best = min(best, retry_at)
                continue
            first, retry_at = group.first(eligible, now)
            if first is None:
                best = min(best, retry_at)
            elif group.ready(first, self.linger, now, self.flushing):
                return now
            else:
                best = min(best, first.admitted + self.linger)
        return best

    def _spill_queues(self, spill: Spill) -> tuple[int, ...]:
        return (INTERACTIVE, BULK) if self._alone else spill.queues

    def _spillable(self, now: float, spill: Spill) -> Callable[[Entry], bool]:
        eligible = self._eligible(now, alone=True)
        gate = self.gate

        def spillable(entry: Entry) -> bool:
            if type(entry.cohort) is Alone:
                return eligible(entry)  # its road was open when it was sent this way
            allowed = spill.interactive if entry.priority == INTERACTIVE else spill.bulk
            return (
                allowed
                and entry.row.single is not None
                and (gate is None or gate.road_open(entry.row.single.name))
                and entry.cohort is None
                and eligible(entry)
            )

        return spillable

    def take(self, bulk: bool, spill: Spill = NO_SPILL) -> Call | None:
        """Rows for one call of a lane, taken now that its grant has arrived.

        Interactive rows come first: the group whose oldest interactive row is oldest gets the
        grant. Otherwise the group holding the oldest row that may go gets it (a ready group
        first; any group rather than waste the grant). A bulk call is filled from that group up
        to its size, interactive rows before bulk rows; but while rows may spill onto their
        single-lead road, a group holding only interactive rows that can go that way gets a
        bulk grant only when no other group waits for one.
        """
        now = self._clock()
        eligible = self._eligible(now)
        spillable = self._spillable(now, spill)
        chosen: tuple[bool, int, bool, float] | None = None
        chosen_group: Group | None = None
        chosen_first: Entry | None = None
        for group in self._groups.values():
            if group.total == 0:
                continue
            if group.endpoint.bulk is bulk:
                first, _ = group.first(eligible, now)
            elif not bulk and (spill.any or self._alone):
                first, _ = group.first(spillable, now, self._spill_queues(spill))
            else:
                continue
            if first is None:
                continue
            waits = first.priority == BULK and not group.ready(
                first, self.linger, now, self.flushing
            )
            could_spill = (
                bulk
                and spill.interactive_lone
                and first.priority == INTERACTIVE
                and not group.waiting[BULK]
                and first.row.single is not None
            )
            rank = (could_spill, first.priority, waits, first.admitted)
            if chosen is None or rank < chosen:
                chosen, chosen_group, chosen_first = rank, group, first
        if chosen_group is None or chosen_first is None:
            return None
        if chosen_group.endpoint.bulk is not bulk:  # one row, alone on its single-lead road
            single = chosen_first.row.single
            assert single is not None
            # Out of its queue now (it is found near the front): a row that comes back from
            # its call is queued again, and must not be there twice.
            chosen_group.queues[chosen_first.priority].remove(chosen_first)
            self._move(chosen_first, SENDING)
            return Call(single, [chosen_first])
        taken = chosen_group.fill(chosen_first, eligible, lambda e: self._move(e, DONE))
        self._send_all(chosen_group, taken)
        return Call(chosen_group.endpoint.carrier([e.row for e in taken]), taken)

    def _send_all(self, group: Group, taken: list[Entry]) -> None:
        """``_move(entry, SENDING)`` for each waiting row of one call, taken from ``group``.

        The same steps in one pass (a call carries up to 50 rows): one admission release for
        all of them, the pending count changed once.
        """
        sending = self._sending
        waiting = group.waiting
        released = 0
        for entry in taken:
            entry.state = SENDING  # PENDING -> SENDING (``fill`` takes pending rows only)
            waiting[entry.priority] -= 1
            sending.add(entry)
            if entry.slots:  # the row no longer waits: let the next one in
                released += entry.slots
                entry.slots = 0
        self.pending -= len(taken)
        if released:
            self._admission.release(released)

    def fail_pending(
        self, matches: Callable[[Entry], bool], error_for: Callable[[Entry], LeadSquaredError]
    ) -> int:
        """End every queued row ``matches`` accepts with its ``error_for``; give how many."""
        count = 0
        for group in list(self._groups.values()):
            for queue in group.queues:
                for entry in list(queue):
                    if entry.state is PENDING and matches(entry):
                        count += 1
                        self.finish(entry, error_for(entry))
        return count

    # -- what the engine does with a call's rows -----------------------------------------------

    def finish(self, entry: Entry, outcome: RowOutcome, *, announce: bool = True) -> None:
        """The row ended with ``outcome``: answer its callers."""
        if entry.state is DONE:
            return
        if not isinstance(outcome, BaseException):
            self._ended[0] += 1
        else:
            self._ended[2 if isinstance(outcome, ClientClosedError) else 1] += 1
        entry.resolve(outcome)
        self._move(entry, DONE, announce=announce)

    def finish_all(self, ended: Iterable[tuple[Entry, RowOutcome]]) -> None:
        """``finish`` each row with its outcome; tell the lanes once, not once per row.

        A row back from its call that travels in no cohort (nearly every row) takes
        ``finish``'s steps inline: this runs for every row the client sends.
        """
        counts = self._ended
        sending = self._sending
        remove = self._order.remove
        leads = self._order.leads
        released = 0
        for entry, outcome in ended:
            if entry.state is not SENDING or entry.cohort is not None:
                self.finish(entry, outcome, announce=False)
                continue
            future = entry.future
            if not isinstance(outcome, BaseException):
                counts[0] += 1
                if entry.parts is None:  # its only caller (nearly always): ``resolve`` inline
                    if future is not None and not future.done():
                        future.set_result(outcome)
                else:
                    entry.resolve(outcome)
            else:
                counts[2 if isinstance(outcome, ClientClosedError) else 1] += 1
                entry.resolve(outcome)
            entry.state = DONE  # SENDING -> DONE: always a legal move
            sending.discard(entry)
            identities = entry.row.identities
            # ``remove`` inline for a row of one lead, that lead's only row (nearly always).
            if len(identities) == 1 and entry.settles is None and leads.get(identities[0]) is entry:
                del leads[identities[0]]
            else:
                remove(entry)
            if entry.slots:
                released += entry.slots
                entry.slots = 0
            if entry.parts is None:  # ``forget_callers`` inline
                if isinstance(future, RowFuture):
                    future._entry = None
                entry.future = None
            else:
                entry.forget_callers()
        if released:
            self._admission.release(released)
        if not self.pending and not sending:
            self._rest()
        self.changed.set()

    def requeue(self, entries: list[Entry], not_before: float) -> None:
        """Put rows of a call back in line, to go no sooner than ``not_before``."""
        touched: dict[Hashable, Group] = {}
        back: set[Entry] = set()
        for entry in entries:
            if entry.state is SENDING:
                entry.not_before = not_before
                self._move(entry, PENDING)
                touched[entry.row.group] = self._group(entry)
                back.add(entry)
        for group in touched.values():
            group.resort(back)  # rows that come back are older than the ones that came since

    def split(self, entries: list[Entry], cause: LeadSquaredError) -> None:
        """Queue the rows of a call the service refused whole again, to be halved.

        The first half goes alone (no other row joins it) as a probe; the other half waits for
        its answer (``half_ended``). Halving again on each refusal, the bad rows end up alone.
        """
        live = [e for e in entries if e.state is SENDING]
        for entry in live:
            entry.last_error = cause
        self.requeue(live, 0.0)
        self._probe(live)

    def one_by_one(self, entries: list[Entry], cause: LeadSquaredError) -> None:
        """Queue the rows of a call the service refused whole again, each to go alone on its
        single-lead road (the general lane takes them, whatever the spill says)."""
        live = [e for e in entries if e.state is SENDING]
        cohort = Alone()
        for entry in live:
            assert entry.row.single is not None  # the engine chose this for such rows only
            entry.cohort = cohort
            entry.cap = 1
            entry.last_error = cause
        self._alone += len(live)
        self._refused[cohort] = live
        self.requeue(live, 0.0)

    def road_closed(self, road: str, sent: list[Entry]) -> int:
        """The single-lead road ``road`` turned out not to exist: its rows go back to their
        bulk road. ``sent`` are the rows of the call that found it out (the answer proves
        none was applied); a spilled row joins calls as any row, and the rows of a refused
        call that were being sorted out one by one on that road are halved on the bulk road
        instead (or, its bad row already found, rejoin full calls). Gives how many rows
        went back."""
        back = [e for e in sent if e.state is SENDING]
        moved = len(back)
        self.requeue(back, 0.0)
        groups: set[Hashable] = set()
        for cohort, rows in list(self._refused.items()):
            single = rows[0].row.single
            if single is None or single.name != road:
                continue
            del self._refused[cohort]
            found = cohort in self._found
            self._found.pop(cohort, None)
            waiting = [e for e in rows if e.state is PENDING]
            # Out of the cohort (``_rejoin`` and ``_probe`` give each row its new one).
            self._alone -= len(waiting)
            moved += sum(1 for e in waiting if e not in back)
            groups.add(rows[0].row.group)
            if found or len(waiting) < 2:
                self._rejoin(waiting)
            else:
                self._probe(waiting)
        # Rows that were in flight on the road when an earlier answer closed it: their
        # refused call was halved without them, so they rejoin full calls (a bad one among
        # them is sorted out again, by halving now).
        stray = [e for e in back if type(e.cohort) is Alone]
        self._alone -= len(stray)
        self._rejoin(stray)
        for key in groups:
            if self._held and not self._sorting(key):
                self._release_good(key)
        self.changed.set()
        return moved

    def found_bad(self, entry: Entry) -> None:
        """``entry``, a row of a refused call going alone, was refused alone: the bad row of
        its call is found, so its rows still waiting are taken to be good. They rejoin the
        bulk road if no other row waits for it (it would idle while they go one by one);
        otherwise they stay on the spare general budget, as bulk grants are the scarcer.

        While another refused call of the group is still being sorted out (its rows wait to
        go alone), the good rows are held: they would only slow that sorting down on the
        general budget, or leave in a short call of their own. They rejoin with that call's
        good rows once its bad row is found (or its rows have all gone): one call, not two
        short ones.
        """
        cohort = entry.cohort
        if type(cohort) is not Alone or cohort not in self._refused:
            return
        self._found[cohort] = None
        key = entry.row.group
        group = self._groups.get(key)
        if group is not None and any(
            e.state is PENDING and type(e.cohort) is not Alone and e not in self._held
            for queue in group.queues
            for e in itertools.islice(queue, SCAN_LIMIT)
        ):
            return
        sorting = self._sorting(key)
        for found in [c for c in self._found if self._refused[c][0].row.group == key]:
            del self._found[found]
            for row in self._refused.pop(found):
                if row.state is PENDING:
                    row.cohort, row.cap = None, 0
                    self._alone -= 1
                    if sorting:
                        row.not_before = float("inf")
                        self._held[row] = None
        if not sorting:
            self._release_good(key)
        self.changed.set()

    def _sorting(self, key: Hashable) -> bool:
        """Whether a refused call of group ``key`` whose bad row is not found yet still has
        rows waiting to go alone."""
        return any(
            cohort not in self._found
            and rows[0].row.group == key
            and any(e.state is PENDING for e in rows)
            for cohort, rows in self._refused.items()
        )

    def _release_good(self, key: Hashable) -> None:
        """The good rows of sorted-out calls of group ``key`` held by ``found_bad`` go now."""
        for entry in [e for e in self._held if e.row.group == key]:
            del self._held[entry]
            if entry.state is PENDING:
                entry.not_before = 0.0
                self.changed.set()

    def half_ended(self, entries: list[Entry], *, refused: bool) -> None:
        """The probe half carried by ``entries`` was answered: ``refused`` whole (or its row
        alone), and the other half is taken to be good and rejoins full calls; or through,
        and the other half holds the bad row and is halved in its turn."""
        if not entries or not self._halves:
            return
        rest = [e for e in self._halves.pop(entries[0].cohort, ()) if e.state is PENDING]
        if refused:
            self._rejoin(rest)
        elif rest:
            self._probe(rest)

    def _probe(self, rows: list[Entry]) -> None:
        """Send the first half of queued ``rows`` alone, holding the rest until it is answered."""
        middle = (len(rows) + 1) // 2
        probe, rest = rows[:middle], rows[middle:]
        key = object()
        for entry in probe:
            entry.cohort, entry.cap, entry.not_before = key, len(probe), 0.0
        if rest:
            held = object()
            for entry in rest:
                entry.cohort, entry.cap, entry.not_before = held, len(rest), float("inf")
            self._halves[key] = rest
        self.changed.set()

    def _rejoin(self, rows: Iterable[Entry]) -> None:
        """Held rows go again as any other row, in full calls."""
        for entry in rows:
            if entry.state is PENDING:
                entry.cohort, entry.cap, entry.not_before = None, 0, 0.0
                self.changed.set()

    # -- deadlines -------------------------------------------------------------------------

    def next_deadline(self) -> float:
        """The earliest deadline of any caller still owed an answer."""
        soonest = float("inf")
        horizon = self._clock() - self.delivery_timeout
        for group in self._groups.values():
            for queue in group.queues:
                # Rows wait in admission order, so their first callers' deadlines are in order;
                # a merged row whose first caller has left may still hold later callers.
                for entry in queue:
                    if entry.state is PENDING:
                        soonest = min(soonest, entry.soonest())
                        if entry.admitted > horizon:
                            break
        for entry in self._sending:
            soonest = min(soonest, entry.soonest())
        return soonest

    def expire(self) -> None:
        """Answer every caller whose delivery deadline has passed.

        A caller of a queued row gets ``DeliveryTimeoutError`` (``LimiterUnavailableError``
        while the limiter cannot be reached) and its row, or its share of a merged row, is
        withdrawn: nothing of it will be sent. A caller of a row whose call is in flight is
        answered now with ``InFlightTimeoutError`` (the row may be applied); the row keeps
        its place until the call ends. Each caller of a merged row has its own deadline.
        """
        now = self._clock()
        horizon = now - self.delivery_timeout
        for group in list(self._groups.values()):
            for queue in group.queues:
                while queue and queue[0].state is not PENDING:
                    queue.popleft()
                due: list[Entry] = []
                for entry in queue:
                    if entry.admitted > horizon:
                        break  # first callers' deadlines are in admission order
                    if entry.state is PENDING:
                        due.append(entry)
                for entry in due:
                    for future, deadline in entry.callers():
                        if deadline <= now and entry.state is PENDING:
                            future.set_exception(self._timeout_error(entry))
                            self._ended[1] += 1
                            self.withdraw(entry, future)
        for entry in list(self._sending):
            for future, deadline in entry.callers():
                if deadline <= now:
                    future.set_exception(
                        InFlightTimeoutError(
                            "the delivery deadline passed while the call was in flight; "
                            + (
                                "the row may have been applied (safe to resend)"
                                if entry.endpoint.idempotent
                                else "a create is not resent, it may have been applied"
                            ),
                            safe_to_resend=entry.endpoint.idempotent,
                        )
                    )

    def _timeout_error(self, entry: Entry) -> DeliveryTimeoutError | LimiterUnavailableError:
        if self.limiter_error is not None:
            unavailable = LimiterUnavailableError(
                f"the limiter could not be reached before the delivery deadline: "
                f"{self.limiter_error}"
            )
            unavailable.__cause__ = self.limiter_error
            return unavailable
        reason = f"; last error: {entry.last_error}" if entry.last_error else ""
        error = DeliveryTimeoutError(
            f"not delivered within delivery_timeout={self.delivery_timeout:g}s{reason}"
        )
        error.__cause__ = entry.last_error
        return error

    # -- closing ---------------------------------------------------------------------------

    def close_admission(self) -> None:
        """Refuse new rows; callers waiting for room get ``ClientClosedError``."""
        self._admission.close()
        self.flushing = True
        self.changed.set()

    def abandon(self, error_for: Callable[[Entry], LeadSquaredError]) -> int:
        """Fail every queued row; give how many were failed."""
        return self.fail_pending(lambda _: True, error_for)

    def sending(self) -> Iterator[Entry]:
        """Rows whose call is in flight."""
        return iter(list(self._sending))

    @property
    def in_flight(self) -> int:
        """Rows whose call is in flight."""
        return len(self._sending)
