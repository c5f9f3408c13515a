"""``consume``: a worker that writes the rows of a RabbitMQ queue through the batching client.

Each message carries one row (``_messages``). A message is settled only once its row's outcome
is known, as ``lsq.disposition`` says: acknowledged when done; published to the dead-letter
queue with the error in its headers, then acknowledged, when refused for good; returned to
the queue (``nack`` with requeue) after a back-off when it may succeed later; returned, with
consuming paused, while the quota is spent or the service cannot be reached; returned, with
the worker stopping, when no row can succeed (keys refused, wrong host).

Returning a message with ``nack`` is one atomic broker operation (no copy can be left behind
by a crash between a publish and an ack), and the broker marks it redelivered: a create that
comes back redelivered (returned, or held by a worker that died) is looked up by its
EmailAddress or Phone before it is sent again (``create_lead(..., look_up_first=True)``), so
that neither a crash nor a lost answer creates a lead twice. With ``--redis-url`` the replicas
share a journal (``_journal``) of the messages whose rows left in a call: only those are
looked up (a lookup costs a call per row), and a dead letter is not published twice.

The broker hands the worker at most ``prefetch`` unacknowledged messages (``basic_qos``), by
default the client's ``max_pending``: every message held is a row the client has room for,
nothing is buffered beyond it. SIGTERM (or Ctrl-C) drains: consuming stops, the rows in hand
are answered and their messages settled, the connection closes, and the exit code is 0; a
second signal exits at once (the messages not yet settled return to the queue, redelivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Literal, TextIO

import attrs

from .. import (
    AuthenticationError,
    CallEvent,
    CreateLead,
    Disposition,
    LeadSquaredClient,
    LeadSquaredError,
    MessageDecision,
    Outcome,
    RateLimit,
    Result,
    disposition,
)
from ._acks import Acks
from ._delivery import Delivered, cancel, subscribe
from ._importer import ROWS_PER_CALL, has_unique_field
from ._journal import Journal, digest
from ._messages import MessageError, Row, parse_message
from ._options import SchemaChoice, UsageError, account_settings

if TYPE_CHECKING:
    from aio_pika.abc import (
        AbstractChannel,
        AbstractConnection,
        AbstractQueue,
    )

__all__ = ["DEFAULT_AMQP_URL", "BrokerLost", "ConsumeConfig", "ConsumeReport", "headers_of", "run"]

logger = logging.getLogger("leadsq_async.consume")

#: The broker ``consume`` connects to unless told otherwise (RabbitMQ's local default).
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
#: The headers a dead letter carries (besides the original message's own).
ERROR_TYPE, ERROR_MESSAGE, ERROR_FIELD, SOURCE_QUEUE, REDELIVERED = (
    "x-leadsq-error-type",
    "x-leadsq-error-message",
    "x-leadsq-error-field",
    "x-leadsq-queue",
    "x-leadsq-redelivered",
)
_PROGRESS_EVERY = 2.0


@attrs.frozen
class ConsumeConfig:
    """Everything one ``consume`` run needs."""

    queue: str
    access_key: str = attrs.field(repr=False)
    secret_key: str = attrs.field(repr=False)
    base_url: str
    amqp_url: str = attrs.field(default=DEFAULT_AMQP_URL, repr=False)
    dead_letter_queue: str | None = None  # None: QUEUE.dead
    op: str | None = None  # the operation of messages that do not name one
    search_by: str | None = None
    event: int | None = None
    rate: RateLimit | None = None  # None: no client-side limit
    bulk_rate: RateLimit | None = None
    daily_quota: int | None = None
    spill: Literal["interactive", "all", "none"] = "interactive"
    max_pending: int | None = None
    prefetch: int | None = None  # None: max_pending
    retry_delay: float = 1.0
    quota_pause: float = 300.0
    grace: float = 30.0
    redis_url: str | None = attrs.field(default=None, repr=False)
    redis_prefix: str = "leadsq"
    schema: SchemaChoice = None
    progress_every: float = _PROGRESS_EVERY

    @property
    def dead_letters(self) -> str:
        """The dead-letter queue's name."""
        return self.dead_letter_queue or f"{self.queue}.dead"

    @property
    def pending(self) -> int:
        """Rows the client queues at most (10 calls' worth of the operation by default)."""
        return self.max_pending or ROWS_PER_CALL[self.op or "create"] * 10

    @property
    def ceiling(self) -> float | None:
        """Rows per second at the account's limits, full calls (None: no client-side limit)."""
        per_call = ROWS_PER_CALL[self.op or "create"]
        rates = [r.calls / r.period for r in (self.rate, self.bulk_rate) if r is not None]
        return min(rates) * per_call if rates else None


@attrs.define
class ConsumeReport:
    """How a ``consume`` run ended."""

    counts: Counter[str]
    dead_types: Counter[str]
    elapsed: float
    calls: int = 0
    rate_limited: int = 0
    stopped_by: BaseException | None = None
    cpu: float = 0.0  # this process's CPU seconds from the first message to the end

    @property
    def exit_code(self) -> int:
        """0 drained and stopped, 3 keys refused, service unusable or the broker lost."""
        return 0 if self.stopped_by is None else 3

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``--report``)."""
        return {
            "counts": dict(self.counts),
            "dead_letter_types": dict(self.dead_types),
            "elapsed": round(self.elapsed, 3),
            "calls": self.calls,
            "rate_limited": self.rate_limited,
            "cpu_seconds": round(self.cpu, 3),
            "stopped_by": None if self.stopped_by is None else type(self.stopped_by).__name__,
            "exit_code": self.exit_code,
        }


class BrokerLost(Exception):
    """The connection or channel to RabbitMQ closed while the worker was consuming."""


def headers_of(decision: MessageDecision, queue: str) -> dict[str, str]:
    """The headers that say why a message was dead-lettered (its error's type, text, field)."""
    headers = {
        ERROR_TYPE: decision.error_type or "",
        ERROR_MESSAGE: (decision.reason or "")[:1000],
        SOURCE_QUEUE: queue,
    }
    if decision.field is not None:
        headers[ERROR_FIELD] = decision.field
    return headers


def safe_url(url: str) -> str:
    """The AMQP URL with its password replaced by ``***`` (for messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    who, _, where = rest.rpartition("@")
    user = who.partition(":")[0]
    return f"{scheme}://{user}:***@{where}"


class Worker:
    """One consumer on one queue: settles each message as its row's outcome says."""

    def __init__(
        self,
        cfg: ConsumeConfig,
        client: LeadSquaredClient,
        channel: AbstractChannel,
        queue: AbstractQueue,
        err: TextIO,
        journal: Journal | None = None,
    ) -> None:
        self.cfg = cfg
        self.journal = journal
        #: The digest of each submitted operation's message until it is answered, to journal
        #: it when its call is about to leave.
        self.digest_of: dict[int, str] = {}
        self.client = client
        self.channel = channel
        self.queue = queue
        self.err = err
        self.counts: Counter[str] = Counter()
        self.dead_types: Counter[str] = Counter()
        self.draining = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.active = 0
        self.stopped_by: BaseException | None = None
        self._tag: str | None = None
        self._paused_until = 0.0
        self._pauser: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self.acks = Acks()
        self.first_cpu: float | None = None  # process CPU time when the first message came

    # -- consuming ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Ask the broker for messages (again)."""
        if self._tag is None and not self.draining.is_set():
            self._tag = await subscribe(self.channel, self.queue, self.on_message)

    async def stop(self) -> None:
        """Ask the broker for no more messages (those in hand are still settled)."""
        tag, self._tag = self._tag, None
        if tag is not None and not self.channel.is_closed:
            await cancel(self.channel, tag)

    def drain(self, why: BaseException | None = None) -> None:
        """Begin draining: no new messages; retries and pauses end at once."""
        if why is not None and self.stopped_by is None:
            self.stopped_by = why
        self.draining.set()

    def pause(self, delay: float, why: MessageDecision) -> None:
        """Stop consuming for ``delay`` seconds (extended by later pauses)."""
        until = self._loop.time() + delay
        if until <= self._paused_until:
            return
        self._paused_until = until
        if self._pauser is None:
            print(
                f"paused for {delay:.0f}s: {why.error_type}: {why.reason}",
                file=self.err,
                flush=True,
            )
            self._pauser = self._loop.create_task(self._pause())

    async def _pause(self) -> None:
        try:
            await self.stop()
            while not self.draining.is_set():
                left = self._paused_until - self._loop.time()
                if left <= 0:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.draining.wait(), left)
            self.counts["pauses"] += 1
            if not self.draining.is_set():
                print("resumed consuming", file=self.err, flush=True)
                await self.start()
        finally:
            self._pauser = None

    async def close_pauser(self) -> None:
        """End a pause in progress (draining)."""
        pauser = self._pauser
        if pauser is not None:
            await asyncio.gather(pauser, return_exceptions=True)

    # -- one message ----------------------------------------------------------------------------

    async def on_message(self, message: Delivered) -> None:
        """Settle one message; never raises (the broker's task would keep the exception)."""
        self.active += 1
        self.idle.clear()
        self.acks.hold(message)
        if self.first_cpu is None:
            self.first_cpu = time.process_time()
        try:
            await self._settle(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a broker error while settling: the message returns
            logger.warning("could not settle a message: %r", exc)
            self.counts["unsettled"] += 1
            if not isinstance(exc, LeadSquaredError):
                self.drain(BrokerLost(f"the broker failed while settling a message: {exc!r}"))
        finally:
            self.active -= 1
            if self.active == 0:
                self.idle.set()

    async def _settle(self, message: Delivered) -> None:
        try:
            row = parse_message(message.body, self.cfg.op, self.cfg.search_by, self.cfg.event)
        except MessageError as exc:
            bad = MessageDecision(
                Disposition.DEAD_LETTER,
                error_type=type(exc).__name__,
                reason=str(exc),
                field=exc.field,
            )
            await self._dead_letter(message, bad)
            return
        outcome = await self._write(row, message)
        decision = disposition(
            outcome, retry_delay=self.cfg.retry_delay, quota_pause=self.cfg.quota_pause
        )
        await self._act(message, decision, outcome)

    async def _write(self, row: Row, message: Delivered) -> Outcome:
        """Send the row; its outcome (a redelivered create that may have been applied is
        looked up first)."""
        op = row.operation
        result: Result = None
        key = digest(message.body, message.message_id)
        try:
            if isinstance(op, CreateLead) and self._may_be_applied(message, key, op):
                self.counts["looked_up"] += 1
                result = await self.client.create_lead(op.fields, look_up_first=True)
            else:
                self.digest_of[id(op)] = key
                try:
                    future = await self.client.submit(op)
                    result = await future
                finally:
                    self.digest_of.pop(id(op), None)
        except LeadSquaredError as error:
            return Outcome(op, error=error)
        return Outcome(op, result=result)

    def _may_be_applied(self, message: Delivered, key: str, op: CreateLead) -> bool:
        """Whether a create's row may already have been applied: its message was redelivered,
        it has a unique field to look it up by, and the journal (if any) saw its call leave."""
        if not message.redelivered or not has_unique_field(op.fields):
            return False
        if self.journal is None:
            return True
        return self.journal.seen("sent", key) is not False

    def on_call(self, event: CallEvent) -> None:
        """A call is about to leave: journal its rows' messages (the client's ``on_call``)."""
        if self.journal is not None:
            keys = [k for op in event.operations if (k := self.digest_of.get(id(op)))]
            self.journal.mark("sent", keys)

    async def _act(self, message: Delivered, decision: MessageDecision, outcome: Outcome) -> None:
        kind = decision.disposition
        if kind is Disposition.DONE:
            await self.acks.ack(message)
            self.counts["done"] += 1
        elif kind is Disposition.DEAD_LETTER:
            await self._dead_letter(message, decision)
        elif kind is Disposition.RETRY_LATER:
            if not self.draining.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.draining.wait(), decision.delay)
            await self.acks.nack(message)
            self.counts["returned"] += 1
        elif kind is Disposition.PAUSE:
            self.pause(decision.delay, decision)
            await self.acks.nack(message)
            self.counts["returned"] += 1
        else:  # STOP: nothing can succeed until the configuration is fixed
            await self.acks.nack(message)
            self.counts["returned"] += 1
            self.drain(outcome.error)

    async def _dead_letter(self, message: Delivered, decision: MessageDecision) -> None:
        """Publish the message to the dead-letter queue (confirmed), then acknowledge it.

        A redelivered message the journal saw dead-lettered is only acknowledged.
        """
        from aio_pika import DeliveryMode, Message

        key = digest(message.body, message.message_id)
        journal = self.journal
        if message.redelivered and journal is not None and journal.seen("dead", key):
            await self.acks.ack(message)
            self.counts["dead_letter_repeats"] += 1
            return
        headers: dict[str, Any] = dict(message.headers or {})
        headers.update(headers_of(decision, self.cfg.queue))
        if message.redelivered:
            headers[REDELIVERED] = "true"  # it may have been dead-lettered before
        copy = Message(
            message.body,
            headers=headers,
            content_type=message.content_type or "application/json",
            delivery_mode=DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
        )
        await self.channel.default_exchange.publish(copy, routing_key=self.cfg.dead_letters)
        if journal is not None:
            journal.mark("dead", [key])
        await self.acks.ack(message)
        self.counts["dead_lettered"] += 1
        self.dead_types[decision.error_type or "?"] += 1


async def _connect(cfg: ConsumeConfig) -> AbstractConnection:
    try:
        import aio_pika
    except ImportError:
        raise UsageError(
            "`consume` reads RabbitMQ through aio-pika: pip install 'leadsq-async[amqp]'"
        ) from None
    try:
        return await aio_pika.connect(cfg.amqp_url, timeout=10)
    except Exception as exc:
        raise BrokerLost(
            f"cannot connect to RabbitMQ at {safe_url(cfg.amqp_url)}: {type(exc).__name__}"
        ) from None


async def _queue(
    connection: AbstractConnection, channel: AbstractChannel, name: str
) -> AbstractQueue:
    """The queue ``name`` as it is (a quorum queue stays one), declared durable if missing."""
    from aio_pika.exceptions import ChannelClosed

    probe = await connection.channel()
    try:
        await probe.get_queue(name, ensure=True)  # a passive declare
    except ChannelClosed:  # not there: the passive declare closed the probe's channel
        return await channel.declare_queue(name, durable=True)
    finally:
        if not probe.is_closed:
            await probe.close()
    return await channel.get_queue(name, ensure=False)


async def run(
    cfg: ConsumeConfig,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stop: asyncio.Event | None = None,
) -> ConsumeReport:
    """Consume until SIGTERM (or Ctrl-C, or ``stop`` is set), or until no row can succeed;
    then drain and print the summary."""
    out = out or sys.stdout
    err = err or sys.stderr
    started = time.monotonic()
    calls: list[Worker] = []  # the worker, once it exists (the client is made first)

    def on_call(event: CallEvent) -> None:
        if calls:
            calls[0].on_call(event)

    settings = account_settings(cfg, max_pending=cfg.pending)
    client = LeadSquaredClient.from_settings(settings, on_call=on_call)
    journal: Journal | None = None
    try:
        if cfg.redis_url:
            journal = Journal(cfg.redis_url, cfg.redis_prefix, cfg.queue)
        connection = await _connect(cfg)
    except BaseException:
        await client.aclose(timeout=1.0)
        if journal is not None:
            journal.close()
        raise
    worker: Worker | None = None
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    watcher: asyncio.Task[Literal[True]] | None = None
    try:
        channel = await connection.channel(publisher_confirms=True)
        prefetch = cfg.prefetch or cfg.pending
        await channel.set_qos(prefetch_count=prefetch)
        queue = await _queue(connection, channel, cfg.queue)
        await _queue(connection, channel, cfg.dead_letters)
        worker = Worker(cfg, client, channel, queue, err, journal)
        calls.append(worker)
        active = worker

        def lost(*_: object) -> None:
            if not active.draining.is_set():
                active.drain(BrokerLost("the channel to RabbitMQ closed"))

        channel.close_callbacks.add(lost)

        def on_signal() -> None:
            if active.draining.is_set():
                print("signalled again: stopping at once", file=err, flush=True)
                os._exit(130)  # unsettled messages return to the queue, redelivered
            print("draining: no new messages; settling those in hand", file=err, flush=True)
            active.drain()

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
                handled.append(sig)
        if stop is not None:
            watcher = loop.create_task(stop.wait())
            watcher.add_done_callback(lambda _: active.drain())
        await worker.start()
        print(
            f"consuming {cfg.queue} (prefetch {prefetch}; dead letters to {cfg.dead_letters}); "
            "SIGTERM drains",
            file=err,
            flush=True,
        )
        while not worker.draining.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(worker.draining.wait(), cfg.progress_every)
            print(_progress(worker, time.monotonic() - started, cfg), file=err, flush=True)
        await _drain(worker, client, cfg)
        if not channel.is_closed:
            channel.close_callbacks.discard(lost)
            await channel.close()
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        for sig in handled:
            loop.remove_signal_handler(sig)
        await client.aclose(timeout=1.0)
        with contextlib.suppress(Exception):
            await connection.close()
        if journal is not None:
            journal.close()
    assert worker is not None  # an error before it exists has been raised
    if worker.acks.frames:
        worker.counts["ack_frames"] = worker.acks.frames
    stats = client.stats()
    report = ConsumeReport(
        worker.counts,
        worker.dead_types,
        time.monotonic() - started,
        calls=stats.calls,
        rate_limited=stats.rate_limited,
        stopped_by=worker.stopped_by,
        cpu=0.0 if worker.first_cpu is None else time.process_time() - worker.first_cpu,
    )
    print(_summary(report, cfg), file=out, flush=True)
    return report


async def _drain(worker: Worker, client: LeadSquaredClient, cfg: ConsumeConfig) -> None:
    """Stop consuming, answer the rows in hand within the grace, settle every message."""
    await worker.stop()
    await worker.close_pauser()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(worker.idle.wait(), cfg.grace)
    # Rows still unsent end with ClientClosedError: their messages are returned.
    await client.aclose(timeout=1.0)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(worker.idle.wait(), 5.0)


def _progress(worker: Worker, elapsed: float, cfg: ConsumeConfig) -> str:
    c = worker.counts
    rate = (c["done"] + c["dead_lettered"]) / elapsed if elapsed > 0 else 0.0
    ceiling = "" if cfg.ceiling is None else f" (ceiling {cfg.ceiling:.0f})"
    return (
        f"{c['done']} done, {c['dead_lettered']} dead-lettered, {c['returned']} returned, "
        f"{worker.active} in hand; {rate:.0f} rows/s{ceiling}"
    )


def _summary(report: ConsumeReport, cfg: ConsumeConfig) -> str:
    c = report.counts
    lines = [
        f"consumed {cfg.queue} for {report.elapsed:.1f}s: {c['done']} done, "
        f"{c['dead_lettered']} dead-lettered (to {cfg.dead_letters}), "
        f"{c['returned']} returned to the queue",
    ]
    if report.dead_types:
        kinds = ", ".join(f"{k} {n}" for k, n in report.dead_types.most_common())
        lines.append(f"dead letters by error: {kinds}")
    if c["looked_up"]:
        lines.append(f"redelivered creates looked up before sending: {c['looked_up']}")
    lines.append(f"calls: {report.calls} (rate limited: {report.rate_limited})")
    if isinstance(report.stopped_by, AuthenticationError):
        lines.append("stopped: the service refused the keys; check LSQ_ACCESS_KEY and the host")
    elif report.stopped_by is not None:
        lines.append(f"stopped: {type(report.stopped_by).__name__}: {report.stopped_by}")
    return "\n".join(lines)
