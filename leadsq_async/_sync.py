"""The synchronous client: one ``LeadSquaredClient`` on an event loop in a background thread.

Sync code (Celery tasks, Django views and management commands, scripts) calls blocking
methods from as many threads as it likes; each call is handed to the one event loop with
``asyncio.run_coroutine_threadsafe`` and the calling thread waits for its answer. Every
thread's rows land in the same batches, under the same limiter, as the async client's would:
nothing here batches, retries or limits on its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import datetime as dt
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal, TypeVar

from ._api.encoding import FieldValue
from ._api.lookups import DEFAULT_LEAD_COLUMNS
from ._api.operations import (
    ActivityPosted,
    FieldUpdated,
    Lead,
    LeadCreated,
    LeadUpdated,
    LeadUpserted,
    Operation,
    Outcome,
    Priority,
    Result,
)
from ._api.ranges import MAX_PAGE, ExportCheckpoint
from ._api.schema import LeadSchema
from ._budgets.limiters import Limiter, RateLimit
from ._client import LeadSquaredClient
from ._dispatch.export import LeadsModified
from ._errors import ClientClosedError, ValidationError
from ._observe.events import CallHook, EventHook, Telemetry
from ._observe.stats import Stats
from ._settings import Settings
from ._threaded import (
    EXIT_TIMEOUT,
    SETTLE,
    HttpClientFactory,
    ThreadedClient,
    closed_during_stream,
)
from ._util.threadloop import Feed, Inbox, bridge, peek, relay

__all__ = ["SyncLeadSquaredClient", "SyncLeadsModified"]

T = TypeVar("T")

_NO_HTTP_CLIENT = "an httpx2.AsyncClient belongs to one event loop; pass http_client_factory"


class SyncLeadSquaredClient(ThreadedClient):
    """A blocking LeadSquared lead client for sync code, safe to share between threads.

    It owns one ``LeadSquaredClient`` on an event loop in a daemon thread; every method hands
    its work to that loop and waits, so calls from many threads (a Celery or Django worker's
    thread pool) ride the same bulk calls. Keyword arguments are ``Settings`` fields, and
    ``on_call``, ``on_event``, ``telemetry`` and ``clock`` as for ``LeadSquaredClient`` (the
    calling thread's trace context travels with its rows); ``http_client_factory`` builds the
    ``httpx2.AsyncClient`` in the loop thread (it is closed with the client; ``http_client`` is
    refused, an ``httpx2.AsyncClient`` being bound to one loop). Use it as a context manager
    or call ``close()``; a client still open at interpreter exit is closed then (sending for
    at most ``exit_timeout`` seconds, and leaving a stuck loop after at most
    ``exit_timeout`` + 2 s). Create it after forking, never before.
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        host: str | None = None,
        base_url: str | None = None,
        rate_limit: RateLimit | None = None,
        bulk_rate_limit: RateLimit | None = None,
        limiter: Limiter | None = None,
        bulk_limiter: Limiter | None = None,
        linger: float = 0.02,
        max_pending: int = 10_000,
        max_in_flight: int = 8,
        max_retries: int = 5,
        delivery_timeout: float = 300.0,
        timeout: float = 30.0,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        spill: Literal["interactive", "all", "none"] = "interactive",
        circuit_calls: int = 5,
        circuit_seconds: float = 10.0,
        daily_quota: int | None = None,
        quota_reserve: float = 0.1,
        reconcile: bool = True,
        redis_url: str | None = None,
        redis_prefix: str = "leadsq",
        redis_fallback: Literal["wait", "local"] = "wait",
        lead_columns: Iterable[str] | str = DEFAULT_LEAD_COLUMNS,
        schema: Literal["account"] | LeadSchema | None = None,
        http_client: None = None,
        http_client_factory: HttpClientFactory | None = None,
        on_call: CallHook | None = None,
        on_event: EventHook | None = None,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] | None = None,
        exit_timeout: float = EXIT_TIMEOUT,
    ) -> None:
        if http_client is not None:
            raise ValidationError("http_client", _NO_HTTP_CLIENT)
        settings = Settings(
            access_key,
            secret_key,
            host=host,
            base_url=base_url,
            rate_limit=rate_limit,
            bulk_rate_limit=bulk_rate_limit,
            limiter=limiter,
            bulk_limiter=bulk_limiter,
            linger=linger,
            max_pending=max_pending,
            max_in_flight=max_in_flight,
            max_retries=max_retries,
            delivery_timeout=delivery_timeout,
            timeout=timeout,
            backoff=backoff,
            backoff_max=backoff_max,
            spill=spill,
            circuit_calls=circuit_calls,
            circuit_seconds=circuit_seconds,
            daily_quota=daily_quota,
            quota_reserve=quota_reserve,
            reconcile=reconcile,
            redis_url=redis_url,
            redis_prefix=redis_prefix,
            redis_fallback=redis_fallback,
            lead_columns=lead_columns,
            schema=schema,
        )
        hooks = {"on_call": on_call, "on_event": on_event, "telemetry": telemetry}
        self._start(settings, http_client_factory, hooks, clock, exit_timeout)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        http_client_factory: HttpClientFactory | None = None,
        on_call: CallHook | None = None,
        on_event: EventHook | None = None,
        telemetry: Telemetry | None = None,
        clock: Callable[[], float] | None = None,
        exit_timeout: float = EXIT_TIMEOUT,
    ) -> SyncLeadSquaredClient:
        """Build a client from ``Settings``."""
        client = cls.__new__(cls)
        hooks = {"on_call": on_call, "on_event": on_event, "telemetry": telemetry}
        client._start(settings, http_client_factory, hooks, clock, exit_timeout)
        return client

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = "LSQ_", **options: Any
    ) -> SyncLeadSquaredClient:
        """Build a client from ``LSQ_*`` environment variables (see ``Settings.from_env``).

        Keyword ``options`` override the environment: ``Settings`` fields, and
        ``http_client_factory``, ``on_call``, ``on_event``, ``telemetry``, ``clock`` and
        ``exit_timeout`` as for the constructor.
        """
        if "http_client" in options:
            raise ValidationError("http_client", _NO_HTTP_CLIENT)
        names = ("http_client_factory", "on_call", "on_event", "telemetry", "clock", "exit_timeout")
        extra = {n: options.pop(n) for n in names if n in options}
        return cls.from_settings(Settings.from_env(environ, prefix=prefix, **options), **extra)

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        return f"<SyncLeadSquaredClient {self.base_url} {state}>"

    # -- life --------------------------------------------------------------------------------

    def __enter__(self) -> SyncLeadSquaredClient:
        self._check()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- submitting ----------------------------------------------------------------------------

    def submit(
        self, op: Operation, *, wait: bool = True, timeout: float | None = None
    ) -> cf.Future[Result]:
        """Queue ``op``; wait only for admission; give a ``concurrent.futures.Future``.

        As ``LeadSquaredClient.submit()``: ``wait=False`` raises ``QueueFullError`` instead of
        waiting for room, and cancelling the future before the row is put into a call withdraws
        it. ``timeout`` bounds the wait for admission (then ``TimeoutError``; withdrawn).
        """
        loop = self._loop

        async def admit(client: LeadSquaredClient) -> cf.Future[Result]:
            answer = bridge(await client.submit(op, wait=wait), loop)
            self._track(answer, self._answers)  # answered by close() even if the loop is stuck
            return answer

        return self._call(admit, timeout, cancel_on_timeout=True)

    def create_lead(
        self,
        fields: Mapping[str, FieldValue],
        *,
        look_up_first: bool = False,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> LeadCreated:
        """Create one lead; batched through ``Lead/Bulk/Create`` (see the async ``create_lead``).

        ``timeout`` (seconds) bounds this thread's wait: then ``TimeoutError``, and the row is
        still sent unless ``cancel_on_timeout`` (which withdraws it if it was not sent yet).
        The same two arguments, meaning the same, end every blocking method below.
        """
        return self._forward(
            LeadSquaredClient.create_lead,
            timeout,
            cancel_on_timeout,
            fields,
            look_up_first=look_up_first,
        )

    def upsert_lead(
        self,
        fields: Mapping[str, FieldValue],
        *,
        search_by: str | None = None,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> LeadUpserted:
        """Create or update one lead; batched through ``Lead/Bulk/CreateOrUpdate``."""
        return self._forward(
            LeadSquaredClient.upsert_lead, timeout, cancel_on_timeout, fields, search_by=search_by
        )

    def update_lead(
        self,
        fields: Mapping[str, FieldValue],
        *,
        search_by: str = "EmailAddress",
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> LeadUpdated:
        """Update the lead matched by ``search_by``; batched through ``Lead/Bulk/UpdateV2``."""
        return self._forward(
            LeadSquaredClient.update_lead, timeout, cancel_on_timeout, fields, search_by=search_by
        )

    def update_lead_by_id(
        self,
        lead_id: str,
        fields: Mapping[str, FieldValue],
        *,
        post_updated_lead: bool = False,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> LeadUpdated:
        """Update the lead with this id (``Lead.Update`` alone when ``post_updated_lead``)."""
        return self._forward(
            LeadSquaredClient.update_lead_by_id,
            timeout,
            cancel_on_timeout,
            lead_id,
            fields,
            post_updated_lead=post_updated_lead,
        )

    def update_field(
        self,
        lead_id: str,
        attribute: str,
        value: FieldValue,
        *,
        lead_type: str | None = None,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> FieldUpdated:
        """Set one field of one lead; batched through ``Lead/Bulk/Update``."""
        return self._forward(
            LeadSquaredClient.update_field,
            timeout,
            cancel_on_timeout,
            lead_id,
            attribute,
            value,
            lead_type=lead_type,
        )

    def lead_fields(
        self, *, timeout: float | None = None, cancel_on_timeout: bool = False
    ) -> LeadSchema:
        """The account's lead fields, fetched now by one ``LeadsMetaData.Get`` call."""
        return self._forward(LeadSquaredClient.lead_fields, timeout, cancel_on_timeout)

    def get_lead(
        self,
        lead_id: str,
        *,
        columns: Iterable[str] | str | None = None,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> Lead | None:
        """The lead with this id, or None; concurrent calls share ``Leads/Retrieve/ByIds``."""
        return self._forward(
            LeadSquaredClient.get_lead, timeout, cancel_on_timeout, lead_id, columns=columns
        )

    def find_lead(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> Lead | None:
        """The lead with this EmailAddress or phone number (give one), or None."""
        return self._forward(
            LeadSquaredClient.find_lead, timeout, cancel_on_timeout, email=email, phone=phone
        )

    def post_activity(
        self,
        lead_id: str | None = None,
        *,
        event: int,
        note: str | None = None,
        fields: Mapping[str, FieldValue] | None = None,
        at: dt.datetime | None = None,
        email: str | None = None,
        phone: str | None = None,
        timeout: float | None = None,
        cancel_on_timeout: bool = False,
    ) -> ActivityPosted:
        """Post one activity on the lead named by ``lead_id``, ``email`` or ``phone``."""
        return self._forward(
            LeadSquaredClient.post_activity,
            timeout,
            cancel_on_timeout,
            lead_id,
            event=event,
            note=note,
            fields=fields,
            at=at,
            email=email,
            phone=phone,
        )

    def flush(self, *, timeout: float | None = None) -> None:
        """Send every queued row now, without waiting for ``linger``, and wait for the answers.

        ``timeout`` bounds the wait (then ``TimeoutError``; the rows are still sent).
        """
        self._forward(LeadSquaredClient.flush, timeout, True)

    def stream(
        self, ops: Iterable[Operation], *, priority: Priority = Priority.BULK
    ) -> Iterator[Outcome]:
        """Submit ``ops`` as fast as admission allows; yield one ``Outcome`` each, in input order.

        As ``LeadSquaredClient.stream()``, as a plain iterator. ``ops`` is read in the calling
        thread, one operation whenever the stream has room for it (so a database cursor stays
        in its thread); an exception it raises comes out of the iterator after the outcomes
        before it. Leaving the loop early (``break``, an exception, ``close()`` of the
        iterator) withdraws the rows not yet sent before it returns. Raises
        ``ClientClosedError`` if the client closes while the stream runs.
        """
        self._check()
        return _lazily(lambda: self._stream(iter(ops), priority))

    def _stream(self, source: Iterator[Operation], priority: Priority) -> Iterator[Outcome]:
        inbox: Inbox = queue.SimpleQueue()
        feed: Feed[Operation] = Feed(inbox)

        async def consume(client: LeadSquaredClient) -> None:
            if feed.stopped:
                return
            feed.task = asyncio.current_task()
            self._feeds.add(feed)
            try:
                async with contextlib.aclosing(client.stream(feed, priority=priority)) as results:
                    async for outcome in results:
                        inbox.put(("item", outcome))
            finally:
                self._feeds.discard(feed)

        future = self._schedule(consume)
        return relay(self._loop, feed, source, future, closed_during_stream)

    def leads_modified(
        self,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        *,
        columns: Iterable[str] | str | None = None,
        resume_from: ExportCheckpoint | None = None,
        page_size: int = MAX_PAGE,
    ) -> SyncLeadsModified:
        """Every lead last modified in ``[since, until]``, once each, as a plain iterator.

        As ``LeadSquaredClient.leads_modified()``: each page is read in the client's loop,
        its leads are given out in the calling thread; ``checkpoint`` resumes.
        """
        self._check()
        inner = self._client.leads_modified(
            since, until, columns=columns, resume_from=resume_from, page_size=page_size
        )
        return SyncLeadsModified(self, inner)

    # -- looking --------------------------------------------------------------------------------

    def stats(self) -> Stats:
        """As ``LeadSquaredClient.stats()``; after ``close()``, the figures it ended with."""
        if self._final_stats is not None:
            return self._final_stats
        if threading.get_ident() == self._thread.ident:
            return self._client.stats()  # a hook may look
        self._check(open_=False)
        try:
            return peek(self._loop, self._client.stats, SETTLE)
        except (cf.TimeoutError, RuntimeError):  # the loop is stuck, or closed
            if self._closing:
                raise ClientClosedError("the client is closed") from None
            raise


class SyncLeadsModified:
    """A plain iterator of the leads modified in a range (``SyncLeadSquaredClient``'s
    ``leads_modified()``): as ``LeadsModified``, one page read in the client's loop at a time.
    """

    def __init__(self, client: SyncLeadSquaredClient, inner: LeadsModified) -> None:
        self._client = client
        self._inner = inner

    def __repr__(self) -> str:
        return f"<SyncLeadsModified pages={self.pages} leads={self.leads} done={self.done}>"

    @property
    def checkpoint(self) -> ExportCheckpoint:
        """Where the export stands: after the last lead given out."""
        return self._inner.checkpoint

    @property
    def pages(self) -> int:
        """Calls made (pages read)."""
        return self._inner.pages

    @property
    def leads(self) -> int:
        """Leads given out."""
        return self._inner.leads

    @property
    def done(self) -> bool:
        """True once every lead of the range was given out."""
        return self._inner.done

    def __iter__(self) -> SyncLeadsModified:
        return self

    def __next__(self) -> Lead:
        inner = self._inner
        while not inner.ready:

            async def fill(_: LeadSquaredClient) -> bool:
                return await inner.fill()

            if not self._client._call(fill, None, False):
                raise StopIteration
        return inner.take()


def _lazily(make: Callable[[], Iterator[T]]) -> Iterator[T]:
    """An iterator that calls ``make`` at its first ``next()`` (nothing starts before)."""
    yield from make()
