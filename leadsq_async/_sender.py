"""Sending calls: the limiter, the HTTP request, what the answer means, and retries.

Every HTTP call passes the limiter first. An answer is classified once for the whole call,
then either read into one outcome per row or turned into a retry that is safe for the
endpoint: a request that never left, or a rate-limit rejection, is resent for every endpoint;
one that may have been applied is resent only where the endpoint is idempotent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable

import httpx

from ._batcher import Batcher, Call, Entry, State
from ._endpoints import RowOutcome
from ._errors import (
    AuthenticationError,
    ClientClosedError,
    LeadRejectedError,
    LeadSquaredError,
    OutcomeUnknownError,
    ResponseMismatchError,
    ServiceError,
)
from ._limits import Limiter, RateLimit, parse_rate_limit_message
from ._stats import Counters
from ._wire import NOT_JSON, ErrorEnvelope, WireError, parse_json, structure

__all__ = ["Sender"]

logger = logging.getLogger("leadsq_async")

_RATE_LIMITED = "MXAPIRateLimitExceededException"
#: Whole-call refusals raised while checking the input, before anything is written.
#: The longest window an announced limit may have to be believed (LeadSquared's are seconds).
_MAX_ANNOUNCED_PERIOD = 3600.0
_VALIDATION_TYPES = frozenset({"MXInvalidInputException", "MXMandatoryAttributeMissingException"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class _RateLimited(Exception):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class _SystemError(Exception):
    """A failure after which the service may or may not have acted."""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 3600 else None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Sender:
    """Gets grants, sends calls, and settles their rows in the batcher."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        limiter: Limiter,
        bulk_limiter: Limiter | None,
        batcher: Batcher,
        counters: Counters,
        max_in_flight: int,
        backoff: float,
        backoff_max: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._headers = headers
        self._timeout = timeout
        self.limiter = limiter
        self.bulk_limiter = bulk_limiter
        self._batcher = batcher
        self._counters = counters
        self._slots = asyncio.Semaphore(max_in_flight)
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._clock = clock
        self._random = random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self._warned_limits: set[RateLimit] = set()

    # -- grants ----------------------------------------------------------------------------

    async def grant(self, bulk: bool) -> bool:
        """Wait for an in-flight slot and a grant; say whether bulk calls may use it."""
        await self._slots.acquire()
        started = self._clock()
        try:
            await self.limiter.acquire()
            if bulk and self.bulk_limiter is not None:
                await self.bulk_limiter.acquire()
        except BaseException:
            self._slots.release()
            raise
        finally:
            self._counters.limiter_wait += self._clock() - started
        return bulk or self.bulk_limiter is None

    def unused_grant(self) -> None:
        """A grant arrived but no row was left to send."""
        self._slots.release()

    # -- sending ---------------------------------------------------------------------------

    def start(self, call: Call) -> None:
        """Send ``call`` in its own task; a caller cancelling its await never cancels it.

        The task's end, not its body, answers whatever rows are left and frees the in-flight
        slot: a task cancelled (by ``aclose``) before its first step never runs its body.
        """
        task = asyncio.get_running_loop().create_task(self._send(call))
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._ended(call, done))

    def _ended(self, call: Call, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if not task.cancelled():
            return  # the body answered every row (or requeued it)
        for entry in call.entries:
            if entry.state is not State.SENDING:
                continue
            if not call.started:
                error: LeadSquaredError = ClientClosedError(
                    "the client closed before this row was sent"
                )
            elif entry.endpoint.idempotent:
                error = ClientClosedError("the client closed while the call was in flight")
            else:
                error = OutcomeUnknownError("the client closed while the call was in flight")
            self._batcher.finish(entry, error)

    @property
    def tasks(self) -> set[asyncio.Task[None]]:
        """Calls in flight."""
        return self._tasks

    async def _send(self, call: Call) -> None:
        call.started = True
        endpoint = call.endpoint
        entries = call.entries
        started = self._clock()
        status: int | str = "-"
        try:
            params, body = endpoint.request(call.rows)
            content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            self._counters.count_call(endpoint.name, len(entries))
            try:
                response = await self._http.post(
                    self._base_url + endpoint.path,
                    params=params or None,
                    content=content,
                    headers=self._headers,
                    timeout=self._timeout,
                )
            except _NOT_SENT as exc:
                status = type(exc).__name__
                self._retry(entries, ServiceError(f"request not sent: {type(exc).__name__}"))
                return
            except httpx.HTTPError as exc:
                status = type(exc).__name__
                self._maybe_applied(call, f"{type(exc).__name__} after the request was sent")
                return
            status = response.status_code
            self._settle(call, response)
        except Exception as exc:  # a defect must still answer every caller
            logger.exception("unexpected error while sending a call")
            for entry in entries:
                self._batcher.finish(entry, ResponseMismatchError(f"internal error: {exc!r}"))
        finally:
            logger.debug(
                "%s rows=%d status=%s elapsed=%.3fs",
                endpoint.name,
                len(entries),
                status,
                self._clock() - started,
            )

    def _settle(self, call: Call, response: httpx.Response) -> None:
        status = response.status_code
        data = parse_json(response.content)
        envelope = None
        if isinstance(data, dict):
            try:
                envelope = structure(data, ErrorEnvelope)
            except WireError:
                envelope = None
        exception_type = envelope.exception_type if envelope else None
        message = (envelope.exception_message if envelope else None) or ""
        if status == 429 or exception_type == _RATE_LIMITED:
            self._rate_limited(call, message or "HTTP 429", _retry_after(response))
            return
        if status == 401:
            error: LeadSquaredError = AuthenticationError(
                "the service refused the access key or secret key (HTTP 401)"
            )
            self._finish_all(call, error)
            return
        if exception_type and exception_type.startswith("MX"):
            self._rejected(call, exception_type, message or f"HTTP {status}", status)
            return
        if 200 <= status < 300:
            if envelope is not None and (envelope.status or "").casefold() == "error":
                self._maybe_applied(call, f"HTTP {status} with Status Error: {_short(message)}")
                return
            if data is NOT_JSON:
                self._finish_all(
                    call, ResponseMismatchError(f"HTTP {status} with a body that is not JSON")
                )
                return
            try:
                outcomes = call.endpoint.decode(call.rows, data)
            except WireError as exc:
                self._finish_all(call, ResponseMismatchError(f"HTTP {status}: {exc}"))
                return
            for entry, outcome in zip(call.entries, outcomes, strict=False):
                self._batcher.finish(entry, outcome)
            return
        if status == 400:
            text = response.content.decode("utf-8", "replace")  # whatever charset it claims
            reason = message or _short(text) or "HTTP 400 Bad Request"
            self._rejected(call, None, reason, status)
            return
        if status in (403, 404, 405, 413, 414, 415, 422):
            self._finish_all(call, ServiceError(f"HTTP {status} {response.reason_phrase}"))
            return
        # 5xx without an MX type, and anything else unexpected: the service may have acted.
        self._maybe_applied(call, f"HTTP {status} {response.reason_phrase}".strip())

    def _finish_all(self, call: Call, error: LeadSquaredError) -> None:
        for entry in call.entries:
            self._batcher.finish(entry, error)

    def _rejected(self, call: Call, exception_type: str | None, message: str, status: int) -> None:
        """The service refused the whole call: resending it unchanged would not help.

        A bulk call may have been refused for one bad row, so it is split and the halves sent
        alone until the bad rows are isolated; for creates only when the refusal proves
        nothing was applied (a 400, or an input-validation MX type).
        """
        endpoint = call.endpoint
        if (
            len(call.entries) > 1
            and endpoint.bulk
            and (endpoint.idempotent or status == 400 or exception_type in _VALIDATION_TYPES)
        ):
            self._counters.splits += 1
            logger.info(
                "%s refused a call of %d rows (%s); sending it again in halves",
                endpoint.name,
                len(call.entries),
                exception_type or f"HTTP {status}",
            )
            self._batcher.split(call.entries, LeadRejectedError(message, exception_type))
            return
        for entry in call.entries:
            if exception_type == "MXInvalidEntityException":
                outcome: RowOutcome = entry.endpoint.not_found(entry.row, message, exception_type)
            else:
                outcome = LeadRejectedError(message, exception_type)
            self._batcher.finish(entry, outcome)

    def _maybe_applied(self, call: Call, what: str) -> None:
        """The request reached the service but the answer is unusable."""
        if call.endpoint.idempotent:
            self._retry(call.entries, ServiceError(what))
            return
        for entry in call.entries:
            self._batcher.finish(
                entry,
                OutcomeUnknownError(f"{what}; a create is not resent, it may have been applied"),
            )

    def _retry(self, entries: list[Entry], cause: LeadSquaredError) -> None:
        attempt = max((e.attempts for e in entries), default=0)
        ceiling = min(self._backoff_max, self._backoff * 2**attempt)
        delay = ceiling / 2 + self._random.uniform(0, ceiling / 2)
        self._counters.retries += 1
        logger.info("retrying %d rows in %.2fs: %s", len(entries), delay, cause)
        self._batcher.retry(entries, delay, cause, counted=True)

    def _rate_limited(self, call: Call, message: str, retry_after: float | None) -> None:
        self._counters.rate_limited += 1
        limiter = self.bulk_limiter if self._is_bulk_message(call, message) else self.limiter
        assert limiter is not None
        announced = parse_rate_limit_message(message)
        if announced is not None and announced.period > _MAX_ANNOUNCED_PERIOD:
            announced = None  # not a plausible limit: keep ours rather than stop for good
        if announced is not None and announced.interval > limiter.rate.interval:
            limiter.adopt(announced)
            if announced not in self._warned_limits:
                self._warned_limits.add(announced)
                logger.warning(
                    "the service announced a lower rate limit (%s calls per %gs); using it",
                    announced.calls,
                    announced.period,
                )
        pause = retry_after if retry_after is not None else min(limiter.rate.period, 3600.0)
        logger.warning("rate limited by the service; pausing all calls for %.2fs", pause)
        self.limiter.pause(pause)
        if self.bulk_limiter is not None:
            self.bulk_limiter.pause(pause)
        self._batcher.retry(
            call.entries, 0.0, ServiceError(f"rate limited: {message}"), counted=False
        )

    def _is_bulk_message(self, call: Call, message: str) -> bool:
        if self.bulk_limiter is None or not call.endpoint.bulk:
            return False
        announced = parse_rate_limit_message(message)
        return announced is not None and announced.calls == self.bulk_limiter.rate.calls
