"""Rate limits, their parsing, and the two limiters' window safety."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Sequence

import pytest
from aiolimiter import AsyncLimiter
from hypothesis import given
from hypothesis import strategies as st

import leadsq_async as lsq
from leadsq_async._budgets.limiters import parse_rate_limit_message

# -- RateLimit ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calls", "period"),
    [
        pytest.param(0, 5.0, id="zero-calls"),
        pytest.param(-1, 5.0, id="negative-calls"),
        pytest.param(True, 5.0, id="bool-calls"),
        pytest.param(2.5, 5.0, id="float-calls"),
        pytest.param("25", 5.0, id="str-calls"),
        pytest.param(25, 0, id="zero-period"),
        pytest.param(25, -5, id="negative-period"),
        pytest.param(25, math.nan, id="nan-period"),
        pytest.param(25, math.inf, id="inf-period"),
        pytest.param(25, "soon", id="non-numeric-period"),
    ],
)
def test_rate_limit_rejects_bad_values(calls: object, period: object) -> None:
    """RateLimit refuses non-positive, non-integer call counts and non-finite periods."""
    with pytest.raises(ValueError):
        lsq.RateLimit(calls, period)  # type: ignore[arg-type]


def test_rate_limit_defaults_and_properties() -> None:
    """The default is 25 calls per 5 s; interval and str() follow from calls and period."""
    rate = lsq.RateLimit()
    assert (rate.calls, rate.period) == (25, 5.0)
    assert rate.interval == pytest.approx(0.2)
    assert str(rate) == "25/5"
    assert str(lsq.RateLimit(10, 0.5)) == "10/0.5"
    assert lsq.RateLimit(3, 2).period == 2.0
    assert isinstance(lsq.RateLimit(3, 2).period, float)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("25/5", lsq.RateLimit(25, 5), id="plain"),
        pytest.param("20/5", lsq.RateLimit(20, 5.0), id="twenty"),
        pytest.param("10/0.5", lsq.RateLimit(10, 0.5), id="fractional-period"),
        pytest.param(" 25 / 5 ", lsq.RateLimit(25, 5), id="spaces"),
        pytest.param("1/60", lsq.RateLimit(1, 60), id="one-per-minute"),
    ],
)
def test_rate_limit_parse(text: str, expected: lsq.RateLimit) -> None:
    """RateLimit.parse reads CALLS/SECONDS."""
    assert lsq.RateLimit.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("25", id="no-slash"),
        pytest.param("", id="empty"),
        pytest.param("/5", id="no-calls"),
        pytest.param("25/", id="no-period"),
        pytest.param("a/5", id="non-numeric-calls"),
        pytest.param("25/x", id="non-numeric-period"),
        pytest.param("2.5/5", id="fractional-calls"),
        pytest.param("0/5", id="zero-calls"),
        pytest.param("25/0", id="zero-period"),
        pytest.param("25/-5", id="negative-period"),
        pytest.param("25/inf", id="infinite-period"),
        pytest.param("25/nan", id="nan-period"),
        pytest.param("25/5/3", id="two-slashes"),
        pytest.param("25 per 5", id="words"),
    ],
)
def test_rate_limit_parse_rejects(text: str) -> None:
    """RateLimit.parse refuses malformed text with a ValueError that shows the expected form."""
    with pytest.raises(ValueError, match="CALLS/SECONDS"):
        lsq.RateLimit.parse(text)


@given(
    calls=st.integers(min_value=1, max_value=10**6),
    period=st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False),
)
def test_rate_limit_str_parse_round_trip(calls: int, period: float) -> None:
    """parse(str(rate)) gives back the rate (to str()'s precision)."""
    rate = lsq.RateLimit(calls, period)
    again = lsq.RateLimit.parse(str(rate))
    assert again.calls == calls
    assert again.period == pytest.approx(period, rel=1e-5)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            "API calls exceeded the limit of 20 in 5 second(s)",
            lsq.RateLimit(20, 5),
            id="service-message",
        ),
        pytest.param(
            "API calls exceeded the limit of 25 in 0.5 second(s)",
            lsq.RateLimit(25, 0.5),
            id="fractional-period",
        ),
        pytest.param(
            "Limit of 100 in 60.25 seconds", lsq.RateLimit(100, 60.25), id="fractional-plural"
        ),
        pytest.param(
            "API CALLS EXCEEDED THE LIMIT OF 5 IN 1 SECOND", lsq.RateLimit(5, 1), id="caps"
        ),
        pytest.param("limit of   7   in   3 second", lsq.RateLimit(7, 3), id="extra-spaces"),
        pytest.param("API calls exceeded the limit", None, id="no-numbers"),
        pytest.param("", None, id="empty"),
        pytest.param("limit of 0 in 5 second(s)", None, id="zero-calls"),
        pytest.param("limit of 20 in 0 second(s)", None, id="zero-period"),
        pytest.param("limit of 20 per 5 minutes", None, id="other-wording"),
    ],
)
def test_parse_rate_limit_message(message: str, expected: lsq.RateLimit | None) -> None:
    """The limit named in a rate-limit rejection is read, or None when there is none."""
    assert parse_rate_limit_message(message) == expected


# -- limiter window safety ------------------------------------------------------------------

RATE = lsq.RateLimit(10, 0.1)


def max_in_window(times: Sequence[float], window: float) -> int:
    """The most grants in any half-open window ``(t - window, t]`` (two-pointer count)."""
    ordered = sorted(times)
    best = lo = 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_max_in_window_helper() -> None:
    """The window counter counts grants less than ``window`` apart together."""
    assert max_in_window([], 1.0) == 0
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.5], 1.0) == 3
    assert max_in_window([0.0, 1.0, 2.0], 1.0) == 1


async def grant_times(limiter: lsq.Limiter, n: int) -> list[float]:
    """Acquire ``n`` grants as fast as the limiter allows, noting when each arrived."""
    times = []
    for _ in range(n):
        await limiter.acquire()
        times.append(time.monotonic())
    return times


async def concurrent_grant_times(limiter: lsq.Limiter, n: int) -> list[float]:
    """Acquire ``n`` grants from ``n`` tasks at once, noting when each arrived."""
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        times.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(n)))
    return times


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: lsq.TokenBucketLimiter(RATE), id="token-bucket"),
        pytest.param(lambda: lsq.SlidingWindowLimiter(RATE), id="sliding-window"),
        pytest.param(lambda: lsq.TokenBucketLimiter(RATE, margin=0), id="token-bucket-no-margin"),
        pytest.param(
            lambda: lsq.SlidingWindowLimiter(RATE, margin=0), id="sliding-window-no-margin"
        ),
    ],
)
@pytest.mark.parametrize("gather", [False, True], ids=["sequential", "concurrent"])
async def test_no_window_overflows(make: object, gather: bool) -> None:
    """Driven flat out, no window of ``period`` ever holds more than ``calls`` grants."""
    limiter = make()  # type: ignore[operator]
    n = 25
    times = await (concurrent_grant_times if gather else grant_times)(limiter, n)
    assert len(times) == n
    assert max_in_window(times, RATE.period) <= RATE.calls


async def test_sliding_window_bursts_from_idle() -> None:
    """The sliding window grants ``calls`` at once from idle, then waits out the window."""
    limiter = lsq.SlidingWindowLimiter(RATE)
    start = time.monotonic()
    times = await grant_times(limiter, RATE.calls + 1)
    burst = times[: RATE.calls]
    assert burst[-1] - start < RATE.period / 2
    assert times[-1] - times[0] >= RATE.period * 1.02


@pytest.mark.parametrize(
    ("margin", "jitter"),
    [
        pytest.param(0.03, 0.02, id="defaults"),
        pytest.param(0.0, 0.0, id="no-slack"),
        pytest.param(0.1, 0.05, id="wide-slack"),
    ],
)
async def test_token_bucket_spaces_grants(margin: float, jitter: float) -> None:
    """The token bucket has no burst: grants are (period x (1+margin) + jitter)/calls apart."""
    limiter = lsq.TokenBucketLimiter(RATE, margin=margin, jitter=jitter)
    spacing = (RATE.period * (1 + margin) + jitter) / RATE.calls
    times = await grant_times(limiter, 8)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= spacing
    assert min(gaps) >= RATE.interval
    # ...and it does not wait far longer than it must.
    assert times[-1] - times[0] < 7 * spacing + 0.05


@pytest.mark.parametrize("jitter", [-0.01, 1.0], ids=["negative", "one-second"])
def test_token_bucket_rejects_bad_jitter(jitter: float) -> None:
    """TokenBucketLimiter refuses a jitter outside [0, 1) seconds."""
    with pytest.raises(ValueError, match="jitter"):
        lsq.TokenBucketLimiter(RATE, jitter=jitter)


async def test_plain_aiolimiter_overflows_a_window() -> None:
    """A bare AsyncLimiter(calls, period) admits well over ``calls`` in one window.

    This is why TokenBucketLimiter uses a one-call bucket: a full bucket bursts ``calls`` and
    then refills more within the same window.
    """
    plain = AsyncLimiter(RATE.calls, RATE.period)
    plain_times = []
    for _ in range(2 * RATE.calls):
        await plain.acquire()
        plain_times.append(time.monotonic())
    assert max_in_window(plain_times, RATE.period) > RATE.calls
    safe_times = await grant_times(lsq.TokenBucketLimiter(RATE), 2 * RATE.calls)
    assert max_in_window(safe_times, RATE.period) <= RATE.calls


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: lsq.TokenBucketLimiter(RATE), id="token-bucket"),
        pytest.param(lambda: lsq.SlidingWindowLimiter(RATE), id="sliding-window"),
    ],
)
async def test_pause_delays_next_grant(make: object) -> None:
    """pause(seconds) holds back the next grant for at least that long."""
    limiter = make()  # type: ignore[operator]
    await limiter.acquire()
    limiter.pause(0.05)
    start = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - start >= 0.05 - 1e-3


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: lsq.TokenBucketLimiter(RATE), id="token-bucket"),
        pytest.param(lambda: lsq.SlidingWindowLimiter(RATE), id="sliding-window"),
    ],
)
async def test_pause_announced_while_waiting_still_holds(make: object) -> None:
    """A pause announced while a caller already waits for a grant delays that caller too."""
    limiter = make()  # type: ignore[operator]
    for _ in range(RATE.calls):  # empty the bucket / fill the window
        await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    start = time.monotonic()
    limiter.pause(0.15)
    await waiter
    assert time.monotonic() - start >= 0.15 - 1e-3


async def test_token_bucket_adopt_changes_spacing() -> None:
    """adopt() of a slower rate widens the token bucket's spacing from the next grant."""
    limiter = lsq.TokenBucketLimiter(RATE)
    slower = lsq.RateLimit(5, 0.1)
    limiter.adopt(slower)
    assert limiter.rate == slower
    times = await grant_times(limiter, 5)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= slower.interval
    assert max_in_window(times, slower.period) <= slower.calls


async def test_sliding_window_adopt_changes_ceiling() -> None:
    """adopt() of a lower rate caps the sliding window's burst at the new count."""
    limiter = lsq.SlidingWindowLimiter(RATE)
    limiter.adopt(lsq.RateLimit(4, 0.1))
    times = await grant_times(limiter, 5)
    assert max_in_window(times, 0.1) <= 4
    assert times[4] - times[0] >= 0.1


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda m: lsq.TokenBucketLimiter(RATE, margin=m), id="token-bucket"),
        pytest.param(lambda m: lsq.SlidingWindowLimiter(RATE, margin=m), id="sliding-window"),
    ],
)
@pytest.mark.parametrize("margin", [-0.01, 0.5, 1.0], ids=["negative", "half", "one"])
def test_margin_must_be_small(make: object, margin: float) -> None:
    """Both limiters refuse a margin outside [0, 0.5)."""
    with pytest.raises(ValueError, match="margin"):
        make(margin)  # type: ignore[operator]


def test_limiters_satisfy_protocol_and_repr() -> None:
    """Both limiters are Limiters, default to 25/5 and name their rate in repr()."""
    for limiter in (lsq.TokenBucketLimiter(), lsq.SlidingWindowLimiter()):
        assert isinstance(limiter, lsq.Limiter)
        assert limiter.rate == lsq.RateLimit(25, 5)
        assert "25/5" in repr(limiter)


# -- SlidingWindowLimiter with a fake clock -----------------------------------------------


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_sliding_window_delay_exact() -> None:
    """delay() is exactly the time until the oldest grant in the window ages out."""
    clock = FakeClock()
    limiter = lsq.SlidingWindowLimiter(lsq.RateLimit(3, 10), margin=0.02, clock=clock)
    window = 10 * 1.02
    assert limiter.delay() == 0
    for step in (0.0, 1.0, 2.0):
        clock.now = 100.0 + step
        await limiter.acquire()
    assert limiter.delay() == pytest.approx(100.0 + window - 102.0)
    clock.now = 105.0
    assert limiter.delay() == pytest.approx(100.0 + window - 105.0)
    clock.now = 100.0 + window
    assert limiter.delay() == 0  # the first grant has just left the window
    await limiter.acquire()
    assert limiter.delay() == pytest.approx(101.0 + window - clock.now)


async def test_sliding_window_delay_with_pause_and_adopt() -> None:
    """delay() honours pause() and a rate adopted later."""
    clock = FakeClock()
    limiter = lsq.SlidingWindowLimiter(lsq.RateLimit(3, 10), margin=0, clock=clock)
    limiter.pause(4)
    assert limiter.delay() == pytest.approx(4)
    limiter.pause(1)  # a shorter pause never shortens a longer one
    assert limiter.delay() == pytest.approx(4)
    clock.now += 4
    assert limiter.delay() == 0
    await limiter.acquire()
    clock.now += 1
    await limiter.acquire()
    assert limiter.delay() == 0
    limiter.adopt(lsq.RateLimit(2, 10))
    assert limiter.delay() == pytest.approx(9)
    limiter.pause(20)
    assert limiter.delay() == pytest.approx(20)


async def test_sliding_window_zero_margin_boundary() -> None:
    """With margin 0 a grant exactly ``period`` old no longer counts."""
    clock = FakeClock()
    limiter = lsq.SlidingWindowLimiter(lsq.RateLimit(1, 5), margin=0, clock=clock)
    await limiter.acquire()
    clock.now += 4.999
    assert limiter.delay() == pytest.approx(0.001)
    clock.now = 105.0
    assert limiter.delay() == 0
