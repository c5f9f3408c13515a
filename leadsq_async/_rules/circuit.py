"""The circuit for an unreachable service: when calls stop reaching it, rows stop waiting.

Pure bookkeeping on explicit times (the engine passes its clock's ``now``): the engine says
when a call never reached the service (connection refused, no such host, connect timeout),
when one did, and when a probe leaves; the circuit says whether and when a call may leave and
whether rows must fail at once. The engine is the one that acts on it::

    closed ──N calls in a row never reached the service──▶ holding
      ▲                                                     │ one probe call at a time, with
      │                                                     │ back-off; rows wait
      │                           T seconds since the first ▼ of them, still nothing reached
      └──── any call reaches the service ◀──────────────── open: rows fail at once with
                                                           ServiceUnavailableError; one probe
                                                           at a time, with back-off

A short outage (under T seconds) costs a few probes and no row; a long one costs at most
N calls and a probe per back-off step, instead of every row retrying until its deadline.
"""

from __future__ import annotations

import enum
from math import inf

import attrs

from .._errors import ServiceUnavailableError
from . import policy

__all__ = ["Circuit", "Phase"]


class Phase(enum.Enum):
    """Where the circuit is."""

    CLOSED = "closed"  # calls go as usual
    HOLDING = "holding"  # N calls in a row never reached the service: one probe at a time
    OPEN = "open"  # ... for T seconds: rows fail at once; one probe at a time


@attrs.define
class Circuit:
    """Counts calls in a row that never reached the service, and spaces the probes.

    ``calls`` (N) and ``seconds`` (T) say when it opens; ``backoff`` and ``backoff_max`` space
    the probes (doubling after each that fails: the retry policy's ``backoff``, unjittered).
    """

    calls: int = 5
    seconds: float = 10.0
    backoff: float = 0.5
    backoff_max: float = 30.0
    streak: int = 0  # calls in a row that never reached the service
    since: float = 0.0  # when the first of them ended
    last: float = 0.0  # when the latest of them ended
    probes: int = 0  # probes of this streak that failed
    probing: bool = False  # a probe is in flight
    url: str = ""  # the URL the latest of them was for
    cause: str = ""  # and why it never reached the service

    def phase(self, now: float) -> Phase:
        """Where the circuit is at ``now``."""
        if self.streak < self.calls:
            return Phase.CLOSED
        if now - self.since >= self.seconds:
            return Phase.OPEN
        return Phase.HOLDING

    def opens_at(self) -> float:
        """When a holding circuit opens (``inf`` when it is closed)."""
        return self.since + self.seconds if self.streak >= self.calls else inf

    def next_call_at(self, now: float) -> float:
        """When the next call may leave: ``now`` when closed, else when the next probe may
        (``inf`` while one is in flight)."""
        if self.streak < self.calls:
            return now
        if self.probing:
            return inf
        return self.last + policy.backoff(self.probes, self.backoff, self.backoff_max)

    @property
    def tripped(self) -> bool:
        """Whether enough calls in a row failed to reach the service to hold or open it."""
        return self.streak >= self.calls

    def refuses(self, now: float) -> bool:
        """Whether a row must fail at once: open, and no probe may leave now."""
        return self.phase(now) is Phase.OPEN and self.next_call_at(now) > now

    def probe(self) -> None:
        """A probe call leaves (one at a time)."""
        self.probing = True

    def unsent(self, now: float, *, probe: bool, url: str = "", cause: str = "") -> None:
        """A call to ``url`` never reached the service (``cause``); ``probe`` says whether it
        was the probe."""
        self.url, self.cause = url, cause
        if self.streak == 0:
            self.since = now
        self.streak += 1
        self.last = max(self.last, now)
        if probe:
            self.probing = False
            if self.streak > self.calls:
                self.probes += 1

    def reached(self, *, probe: bool) -> bool:
        """A call reached the service: the circuit closes. Whether it was not closed."""
        was_closed = self.streak < self.calls
        self.streak = 0
        self.probes = 0
        if probe:
            self.probing = False
        return not was_closed

    def error(self, now: float) -> ServiceUnavailableError:
        """The error a row fails with at once while the service cannot be reached."""
        return ServiceUnavailableError(
            f"could not reach {self.url}: no call has reached the service for "
            f"{now - self.since:.0f} s ({self.streak} calls in a row; last: {self.cause}), so "
            "rows are not sent but fail at once until a probe call gets through; check the host "
            "or base URL, and the network",
            self.url,
        )
