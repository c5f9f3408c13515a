"""Rate limits and the limiters that keep the client inside them.

A limiter hands out *grants*: one grant, one HTTP call. The service counts calls in a
sliding window ("at most 25 calls in any 5 seconds"), so every limiter here guarantees that
no window of ``period`` seconds ever holds more than ``calls`` grants, with a margin for the
jitter between the moment a call is granted and the moment the service counts it.
"""

from __future__ import annotations

import asyncio
import collections
import math
import re
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import attrs
from aiolimiter import AsyncLimiter

__all__ = [
    "Limiter",
    "RateLimit",
    "SlidingWindowLimiter",
    "TokenBucketLimiter",
    "missing_members",
    "parse_rate_limit_message",
]

_MESSAGE = re.compile(r"limit of\s+(\d+)\s+in\s+(\d+(?:\.\d+)?)\s+second", re.IGNORECASE)


def _positive_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an int >= 1, got {value!r}")


def _positive_float(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {value!r}")


@attrs.frozen
class RateLimit:
    """At most ``calls`` calls in any window of ``period`` seconds."""

    calls: int = attrs.field(default=25, validator=_positive_int)
    period: float = attrs.field(default=5.0, converter=float, validator=_positive_float)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Read ``"25/5"`` (calls per seconds) as a ``RateLimit``."""
        calls, sep, period = text.partition("/")
        try:
            if not sep:
                raise ValueError
            return cls(int(calls), float(period))
        except ValueError:
            raise ValueError(
                f"rate must look like CALLS/SECONDS, e.g. 25/5, got {text!r}"
            ) from None

    @property
    def interval(self) -> float:
        """Mean seconds between calls at the full rate."""
        return self.period / self.calls

    def __str__(self) -> str:
        return f"{self.calls}/{self.period:g}"


#: The default limit, one object for every limiter given none (it is frozen).
_DEFAULT_RATE = RateLimit()


def parse_rate_limit_message(message: str) -> RateLimit | None:
    """Read the limit a rate-limit rejection names ("limit of 20 in 5 second(s)")."""
    match = _MESSAGE.search(message)
    if match is None:
        return None
    try:
        return RateLimit(int(match.group(1)), float(match.group(2)))
    except ValueError:
        return None


@runtime_checkable
class Limiter(Protocol):
    """What the client needs from a limiter; plug your own in with ``limiter=``.

    Every member is used: ``Settings`` refuses a limiter that lacks one, naming it.
    """

    async def acquire(self) -> None:
        """Wait for one grant."""

    def delay(self) -> float:
        """Seconds until ``acquire`` would grant without waiting; 0.0 if the limiter cannot tell.

        The client waits this long before it asks for a grant, so that a bulk call takes its
        general and bulk grants at the same instant.
        """
        return 0.0  # what a class that subclasses Limiter without its own delay() says

    def pause(self, seconds: float) -> None:
        """Grant nothing for ``seconds``: the service said the window is full."""

    def adopt(self, rate: RateLimit) -> None:
        """Use ``rate`` from now on: the service announced a lower limit."""

    @property
    def rate(self) -> RateLimit:
        """The limit in force."""


#: Every member of ``Limiter``, in the order the protocol declares them.
LIMITER_MEMBERS = ("acquire", "delay", "pause", "adopt", "rate")


def missing_members(limiter: object) -> list[str]:
    """The members of the ``Limiter`` protocol that ``limiter`` lacks (none: it is one)."""
    return [name for name in LIMITER_MEMBERS if not hasattr(limiter, name)]


class _Pause:
    """A shared "not before" time, honoured by ``acquire``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.until = 0.0

    def extend(self, seconds: float) -> None:
        self.until = max(self.until, self._clock() + max(0.0, seconds))

    async def wait(self) -> None:
        while (delay := self.until - self._clock()) > 0:
            await asyncio.sleep(delay)


class TokenBucketLimiter:
    """The default: an aiolimiter bucket set up so that no window ever overflows.

    ``AsyncLimiter(25, 5)`` alone lets a full bucket burst 25 calls and then refill 25 more
    within the same 5 seconds, 49 in one window. Here the bucket holds one call and grants are
    spaced ``(period × (1 + margin) + jitter) / calls`` apart, so ``calls + 1`` grants span
    more than ``period`` plus ``margin × period + jitter`` seconds of slack for the delay
    between a grant and the service counting the call. With the defaults it sustains about
    0.97 of the ceiling at the real 25 calls per 5 s; it has no burst from idle.
    """

    def __init__(
        self,
        rate: RateLimit | None = None,
        *,
        margin: float = 0.03,
        jitter: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= margin < 0.5:
            raise ValueError(f"margin must be in [0, 0.5), got {margin!r}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1) seconds, got {jitter!r}")
        self._margin = margin
        self._jitter = jitter
        self._clock = clock
        self._pause = _Pause(clock)
        self._rate = rate or _DEFAULT_RATE
        self._bucket = self._make_bucket(self._rate)
        self._next_at = 0.0  # when the bucket has room again, on our clock

    def _spacing(self, rate: RateLimit) -> float:
        return (rate.period * (1 + self._margin) + self._jitter) / rate.calls

    def _make_bucket(self, rate: RateLimit) -> AsyncLimiter:
        return AsyncLimiter(1, self._spacing(rate))

    @property
    def rate(self) -> RateLimit:
        """The limit in force."""
        return self._rate

    async def acquire(self) -> None:
        """Wait for one grant."""
        while True:
            await self._pause.wait()
            await self._bucket.acquire()
            now = self._clock()
            self._next_at = now + self._spacing(self._rate)
            if self._pause.until <= now:
                return
            # A pause began while we waited in the bucket: this grant would be spent after it,
            # next to the one the bucket hands out when the pause ends. Drop it.

    def delay(self) -> float:
        """Seconds until ``acquire`` would grant without waiting (0: now)."""
        now = self._clock()
        return max(0.0, self._pause.until - now, self._next_at - now)

    def pause(self, seconds: float) -> None:
        """Grant nothing for ``seconds``."""
        self._pause.extend(seconds)

    def adopt(self, rate: RateLimit) -> None:
        """Use ``rate`` from now on."""
        if rate != self._rate:
            self._rate = rate
            self._bucket = self._make_bucket(rate)

    def __repr__(self) -> str:
        return f"TokenBucketLimiter(rate={self._rate}, margin={self._margin})"


class SlidingWindowLimiter:
    """An exact sliding-window log: at most ``calls`` grants in any ``period`` plus a margin.

    Allows a burst of ``calls`` from idle and sustains ``1 / (1 + margin)`` of the ceiling.
    """

    def __init__(
        self,
        rate: RateLimit | None = None,
        *,
        margin: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= margin < 0.5:
            raise ValueError(f"margin must be in [0, 0.5), got {margin!r}")
        self._margin = margin
        self._clock = clock
        self._pause = _Pause(clock)
        self._rate = rate or _DEFAULT_RATE
        self._grants: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()

    @property
    def rate(self) -> RateLimit:
        """The limit in force."""
        return self._rate

    def _window(self) -> float:
        return self._rate.period * (1 + self._margin)

    def delay(self) -> float:
        """Seconds until a grant would be available (0 when one is available now)."""
        now = self._clock()
        window = self._window()
        while self._grants and self._grants[0] <= now - window:
            self._grants.popleft()
        wait = self._pause.until - now
        if len(self._grants) >= self._rate.calls:
            wait = max(wait, self._grants[-self._rate.calls] + window - now)
        return max(0.0, wait)

    async def acquire(self) -> None:
        """Wait for one grant."""
        async with self._lock:
            while (wait := self.delay()) > 0:
                await asyncio.sleep(wait)
            self._grants.append(self._clock())

    def pause(self, seconds: float) -> None:
        """Grant nothing for ``seconds``."""
        self._pause.extend(seconds)

    def adopt(self, rate: RateLimit) -> None:
        """Use ``rate`` from now on."""
        self._rate = rate

    def __repr__(self) -> str:
        return f"SlidingWindowLimiter(rate={self._rate}, margin={self._margin})"
