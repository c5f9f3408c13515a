"""Many accounts in one process: one client per account, connections shared per host.

``Accounts`` hands out one ``LeadSquaredClient`` per account (access key and host), made on
first use with the ``Accounts``' defaults and kept while the account is busy or was used
lately. Each client keeps its own budgets, queue and lanes, so one account's backlog never
waits on another's; the clients of one host share one HTTP connection pool. An account left
idle for ``idle_timeout`` seconds is closed and forgotten; ``max_clients`` closes the least
recently used idle account first, and never one with rows in hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import attrs
import httpx2

from ._api.lookups import DEFAULT_LEAD_COLUMNS
from ._api.schema import LeadSchema
from ._budgets.limiters import Limiter, RateLimit
from ._client import LeadSquaredClient
from ._dispatch.connections import own_http_client
from ._errors import ClientClosedError, ValidationError, WrongEventLoopError
from ._observe.events import CallEnded, CallHook, Event, EventHook, Telemetry, fan_out
from ._observe.stats import CloseReport, Stats
from ._settings import Settings

if TYPE_CHECKING:
    from typing import Unpack

__all__ = ["AccountOptions", "Accounts"]


class AccountOptions(TypedDict, total=False):
    """What ``Accounts.client()`` may set for one account over the ``Accounts``' defaults.

    Every ``Settings`` option but the keys and the host, plus ``limiter``/``bulk_limiter``
    (one account's own) and the hooks.
    """

    rate_limit: RateLimit | None
    bulk_rate_limit: RateLimit | None
    limiter: Limiter | None
    bulk_limiter: Limiter | None
    linger: float
    max_pending: int
    max_in_flight: int
    max_retries: int
    delivery_timeout: float
    timeout: float
    backoff: float
    backoff_max: float
    spill: Literal["interactive", "all", "none"]
    circuit_calls: int
    circuit_seconds: float
    daily_quota: int | None
    quota_reserve: float
    reconcile: bool
    redis_url: str | None
    redis_prefix: str
    redis_fallback: Literal["wait", "local"]
    lead_columns: Iterable[str] | str
    schema: Literal["account"] | LeadSchema | None
    on_call: CallHook | None
    on_event: EventHook | None
    telemetry: Telemetry | None


#: The names ``client()`` takes as overrides (checked at run time too: untyped callers).
_OVERRIDES = frozenset(AccountOptions.__annotations__)


def account_id(access_key: str, url: str) -> str:
    """The account's name in ``stats()`` and close reports: no secret, no access key.

    The first 12 hex digits of the access key's SHA-256 (the digest ``RedisLimiter`` names
    the account's keys by) and the API host.
    """
    digest = hashlib.sha256(access_key.encode()).hexdigest()[:12]
    return f"{digest}@{urllib.parse.urlsplit(url).netloc}"


@attrs.define(eq=False)
class _Entry:
    """One live account: its client, what it was made with, when it was last active.

    Its client's event hook too: it marks the account active at each call's end (one object
    per account, where a closure would keep a function, its cells and a list).
    """

    accounts: Accounts
    key: tuple[str, str]
    id: str
    overrides: Mapping[str, Any]
    last: float
    limiter: Any = None  # the RedisLimiter made for it on the shared Redis client, if any
    worked: bool = False  # a call of its own ended: it turned idle after work, not before
    client: LeadSquaredClient = attrs.field(init=False)  # made with the entry as its hook

    def __call__(self, event: Event) -> None:
        if type(event) is CallEnded:
            self.accounts._active(self)


def _busy(client: LeadSquaredClient) -> bool:
    """Whether the client holds rows (queued or in a call): such a client is never closed."""
    pending, in_flight = client._depth()
    return pending > 0 or in_flight > 0


async def _shut(entry: _Entry, timeout: float) -> CloseReport:  # noqa: ASYNC109 (a drain bound)
    """Close an account's client within ``timeout``, then the limiter made for it."""
    try:
        return await entry.client.aclose(timeout)
    finally:
        if entry.limiter is not None:
            await entry.limiter.aclose()  # writes what it learned; the Redis client stays


def _positive(name: str, value: object, *, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        kind = "an int" if integer else "a number"
        raise ValidationError(name, f"must be {kind} > 0 or None, got {value!r}")


class Accounts:
    """One ``LeadSquaredClient`` per account, made on first use, closed when idle.

    Use it as an async context manager; ``client(access_key, secret_key, host=...)`` gives
    that account's client (the same object while it lives). Every keyword not listed below is
    a ``Settings`` option, the default of every client (a ``client()`` call may override them
    for its account); ``limiter`` and ``bulk_limiter`` are one account's own, so they are
    ``client()`` overrides only.

    ``idle_timeout``: seconds after which an account with no rows in hand and no call is
    closed and forgotten (None: never). ``max_clients``: most clients alive at once; making
    one more first closes the least recently used idle one. When every client holds rows, the
    new one is made anyway (waiting would delay its rows behind other accounts' backlogs) and
    the excess is closed as soon as one turns idle. ``close_timeout``: the bound of each
    client's ``aclose()``. ``http_client``: one ``httpx2.AsyncClient`` for every account (used
    as given, not closed); without it each API host gets its own pool of ``max_connections``
    connections. ``clock`` is the clients' clock and the one idle time is measured on.
    """

    def __init__(
        self,
        *,
        idle_timeout: float | None = 300.0,
        max_clients: int | None = None,
        close_timeout: float = 30.0,
        http_client: httpx2.AsyncClient | None = None,
        max_connections: int = 100,
        clock: Callable[[], float] | None = None,
        rate_limit: RateLimit | None = None,
        bulk_rate_limit: RateLimit | None = None,
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
        on_call: CallHook | None = None,
        on_event: EventHook | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        if idle_timeout is not None:
            _positive("idle_timeout", idle_timeout)
        if max_clients is not None:
            _positive("max_clients", max_clients, integer=True)
        _positive("close_timeout", close_timeout)
        _positive("max_connections", max_connections, integer=True)
        settings: dict[str, Any] = {
            "rate_limit": rate_limit,
            "bulk_rate_limit": bulk_rate_limit,
            "linger": linger,
            "max_pending": max_pending,
            "max_in_flight": max_in_flight,
            "max_retries": max_retries,
            "delivery_timeout": delivery_timeout,
            "timeout": timeout,
            "backoff": backoff,
            "backoff_max": backoff_max,
            "spill": spill,
            "circuit_calls": circuit_calls,
            "circuit_seconds": circuit_seconds,
            "daily_quota": daily_quota,
            "quota_reserve": quota_reserve,
            "reconcile": reconcile,
            "redis_url": redis_url,
            "redis_prefix": redis_prefix,
            "redis_fallback": redis_fallback,
            "lead_columns": lead_columns,
            "schema": schema,
        }
        Settings("-", "-", **settings)  # a bad default fails here, naming its option
        self._defaults: dict[str, Any] = {
            **settings,
            "on_call": on_call,
            "on_event": on_event,
            "telemetry": telemetry,
        }
        self._idle_timeout = idle_timeout
        self._max_clients = max_clients
        self._close_timeout = close_timeout
        self._max_connections = max_connections
        self._clock = clock or time.monotonic
        self._http = http_client
        self._pools: dict[str, httpx2.AsyncClient] = {}
        self._redis: dict[str, Any] = {}  # one Redis client per redis_url, for every account
        # Least recently active first: the first entry is the next to fall idle.
        self._live: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._closing: set[asyncio.Task[CloseReport]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed = False
        self._close_task: asyncio.Task[dict[str, CloseReport]] | None = None
        self.idle_closed = 0
        """Clients closed for being idle ``idle_timeout`` seconds."""
        self.evicted = 0
        """Idle clients closed early to keep within ``max_clients``."""

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<Accounts live={len(self._live)} idle_timeout={self._idle_timeout} "
            f"max_clients={self._max_clients} {state}>"
        )

    def __len__(self) -> int:
        """How many clients are alive."""
        return len(self._live)

    # -- handing out clients --------------------------------------------------------------------

    def client(
        self,
        access_key: str,
        secret_key: str,
        *,
        host: str | None = None,
        base_url: str | None = None,
        **overrides: Unpack[AccountOptions],
    ) -> LeadSquaredClient:
        """The client of the account ``access_key`` at ``host`` (or ``base_url``).

        Made on first use from the defaults and ``overrides``; the same object while it lives
        (call this for each piece of work rather than holding the client across idle spells:
        an idle client is closed). ``ValidationError`` when the secret key or the overrides
        differ from those the live client was made with (no overrides: any are fine).
        """
        if self._closed:
            raise ClientClosedError("the Accounts is closed")
        self._bind()
        unknown = set(overrides) - _OVERRIDES
        if unknown:
            name = sorted(unknown)[0]
            shared = name in ("http_client", "clock")
            rule = "is set on Accounts(...) for every account" if shared else "is not an option"
            raise ValidationError(name, rule)
        url = Settings.resolve_url(host, base_url)
        key = (access_key, url)
        entry = self._live.get(key)
        if entry is not None:
            known = entry.client.settings.secret_key.encode()
            if not hmac.compare_digest(known, str(secret_key).encode()):
                raise ValidationError(
                    "secret_key", "differs from the one this account's live client uses"
                )
            if overrides and overrides != entry.overrides:
                raise ValidationError(
                    "overrides", "differ from those this account's live client was made with"
                )
            self._touch(key, entry)
            return entry.client
        entry = self._make(key, secret_key, host, base_url, dict(overrides))  # bad input: here
        self._trim(room=1)
        self._live[key] = entry
        self._wake.set()
        return entry.client

    def _make(
        self,
        key: tuple[str, str],
        secret_key: str,
        host: str | None,
        base_url: str | None,
        overrides: dict[str, Any],
    ) -> _Entry:
        access_key, url = key
        options = {**self._defaults, **overrides}
        limiter = self._redis_limiter(access_key, options)
        entry = _Entry(self, key, account_id(access_key, url), overrides, self._clock(), limiter)
        options["on_event"] = fan_out(options["on_event"], entry)
        entry.client = LeadSquaredClient(
            access_key,
            secret_key,
            host=host,
            base_url=base_url,
            http_client=self._pool(url),
            clock=self._clock,
            **options,
        )
        return entry

    def _redis_limiter(self, access_key: str, options: dict[str, Any]) -> Any:
        """With ``redis_url``: the account's ``RedisLimiter`` on one Redis client per URL.

        What the client would make from ``redis_url`` itself (keys named by the access key's
        digest, so each account's budgets are its own across processes), but sharing the
        connections: a thousand accounts do not open a thousand Redis pools. ``options`` is
        changed to pass it as the client's ``limiter``. None without ``redis_url``.
        """
        redis_url = options["redis_url"]
        if redis_url is None or options.get("limiter") is not None:
            return None
        from ._budgets.redis import RedisLimiter  # the redis extra
        from ._budgets.redis_store import client_from_url

        redis = self._redis.get(redis_url)
        if redis is None:
            redis = self._redis[redis_url] = client_from_url(redis_url)
        limiter = RedisLimiter(
            redis,
            access_key,
            options["rate_limit"],
            bulk_rate=options["bulk_rate_limit"],
            daily_quota=options["daily_quota"],
            quota_reserve=options["quota_reserve"],
            prefix=options["redis_prefix"],
            fallback=options["redis_fallback"],
            clock=self._clock,
        )
        options.update(limiter=limiter, rate_limit=None, redis_url=None)
        return limiter

    def _active(self, entry: _Entry) -> None:
        """A call of ``entry``'s client ended: mark the account active (if still live)."""
        live = self._live
        if live.get(entry.key) is entry:
            entry.last = self._clock()
            entry.worked = True
            live.move_to_end(entry.key)
            if self._max_clients is not None and len(live) > self._max_clients:
                self._wake.set()  # over the bound: this one may be idle now

    def _touch(self, key: tuple[str, str], entry: _Entry) -> None:
        entry.last = self._clock()
        self._live.move_to_end(key)

    def _pool(self, url: str) -> httpx2.AsyncClient:
        """The connection pool of ``url``'s host (the user's ``http_client`` if given)."""
        if self._http is not None:
            return self._http
        pool = self._pools.get(url)
        if pool is None:
            timeout = self._defaults["timeout"]
            pool = self._pools[url] = own_http_client(self._max_connections, timeout)
        return pool

    # -- closing idle clients ----------------------------------------------------------------

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._sweeper = loop.create_task(self._sweep(), name="leadsq-accounts-sweeper")
        elif self._loop is not loop:
            raise WrongEventLoopError("this Accounts is bound to another event loop")

    async def _sweep(self) -> None:
        """Close idle accounts when they fall due, and the excess over ``max_clients``."""
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            self._trim(room=0, worked_only=True)
            wait = self._close_idle()
            if wait is None:
                await self._wake.wait()
                continue
            timer = loop.call_later(wait, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()

    def _close_idle(self) -> float | None:
        """Close every account idle ``idle_timeout``; seconds until the next may be due."""
        if self._idle_timeout is None:
            return None
        live, now = self._live, self._clock()
        while live:
            key, entry = next(iter(live.items()))
            due = entry.last + self._idle_timeout
            if due > now:
                return due - now
            if _busy(entry.client):
                self._touch(key, entry)  # rows in hand: not idle; look again a period later
                continue
            self._retire(key, entry)
            self.idle_closed += 1
        return None

    def _trim(self, room: int, worked_only: bool = False) -> None:
        """Close least recently used idle clients until ``room`` more fit ``max_clients``.

        ``worked_only``: the excess left while every client held rows is closed as clients
        turn idle after work; one handed out and not used yet is its caller's, not idle.
        """
        if self._max_clients is None:
            return
        excess = len(self._live) + room - self._max_clients
        if excess <= 0:
            return
        for key, entry in list(self._live.items()):
            if excess <= 0:
                break
            if (entry.worked or not worked_only) and not _busy(entry.client):
                self._retire(key, entry)
                self.evicted += 1
                excess -= 1

    def _retire(self, key: tuple[str, str], entry: _Entry) -> None:
        """Forget the account now and close its client in the background, bounded."""
        del self._live[key]
        assert self._loop is not None
        task = self._loop.create_task(_shut(entry, self._close_timeout))
        self._closing.add(task)
        task.add_done_callback(self._closed_one)

    def _closed_one(self, task: asyncio.Task[CloseReport]) -> None:
        self._closing.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: aclose() answers its rows itself

    # -- looking ------------------------------------------------------------------------------

    def stats(self) -> dict[str, Stats]:
        """Each live account's ``Stats``, by its id (see ``account_id``)."""
        return {entry.id: entry.client.stats() for entry in self._live.values()}

    @staticmethod
    def account_id(access_key: str, *, host: str | None = None, base_url: str | None = None) -> str:
        """The id ``stats()`` and ``aclose()`` name this account by (sends nothing)."""
        return account_id(access_key, Settings.resolve_url(host, base_url))

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` has begun."""
        return self._closed

    # -- life ---------------------------------------------------------------------------------

    async def __aenter__(self) -> Accounts:
        self._bind()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ``timeout`` bounds each client's drain, as LeadSquaredClient.aclose's does.
    async def aclose(self, timeout: float | None = None) -> dict[str, CloseReport]:  # noqa: ASYNC109
        """Close every live client, each within ``timeout`` (default ``close_timeout``).

        Gives one ``CloseReport`` per account, by id; the clients close side by side, so the
        whole takes about ``timeout`` at most. Idempotent: later calls give the same reports.
        """
        if self._close_task is None:
            self._closed = True
            bound = self._close_timeout if timeout is None else timeout
            self._close_task = asyncio.get_running_loop().create_task(self._close(bound))
        return await asyncio.shield(self._close_task)

    async def _close(self, timeout: float) -> dict[str, CloseReport]:  # noqa: ASYNC109 (aclose's)
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        entries = list(self._live.values())
        self._live.clear()
        reports = await asyncio.gather(*(_shut(e, timeout) for e in entries))
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        for pool in self._pools.values():
            await pool.aclose()
        for redis in self._redis.values():
            await redis.aclose()
        return {entry.id: report for entry, report in zip(entries, reports, strict=True)}
