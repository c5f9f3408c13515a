"""The gate: may this row be queued, may this call leave now (quota, closed road, circuit).

The client asks before it queues a row, admission after a row waited for room, the batcher
before a row spills onto its single-lead road, and the engine before and after each grant:
all of them ask one ``Gate``, which keeps the roads closed for good (no such API there) and
reads the daily quota and the circuit. It decides; the askers act (raise, fail rows, wait).
Times are passed in; the quota reads the clock it was made with.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from .._budgets.quota import Quota
from .._errors import (
    EndpointNotFoundError,
    LeadSquaredError,
    QuotaExhaustedError,
    ServiceUnavailableError,
)
from .circuit import Circuit, Phase

__all__ = ["Gate", "QuotaLets", "Send"]


class QuotaLets(enum.Enum):
    """Which rows the daily quota lets a call carry now."""

    ALL = "all"  # any row (or one probe, to find out whether a spent quota is back)
    INTERACTIVE = "interactive"  # only interactive rows: the rest of the quota is kept for them
    NONE = "none"  # no row: the quota is spent


class Send(enum.Enum):
    """Whether a call that holds its grant may leave now."""

    NO = "no"  # a probe is in flight (the other lane's left while this one waited)
    CALL = "call"  # as usual
    PROBE = "probe"  # as the one probe of a circuit that is not closed


class Gate:
    """The one place that says whether a row may be queued or a call may leave now.

    Keeps the closed roads (endpoints the service says do not exist, by name: nothing more
    goes to them); reads ``quota`` and ``circuit``, which others keep up to date.
    """

    __slots__ = ("_closed", "circuit", "quota")

    def __init__(self, quota: Quota, circuit: Circuit) -> None:
        self.quota = quota
        self.circuit = circuit
        self._closed: dict[str, EndpointNotFoundError] = {}

    # -- queueing a row ----------------------------------------------------------------------

    def check_queue(
        self, endpoint: str, interactive: bool, clock: Callable[[], float]
    ) -> LeadSquaredError | None:
        """The error a new row for ``endpoint`` fails with at once instead of being queued
        (None: queue it): the quota is spent (or kept for interactive rows), the road is
        closed, or the service has been unreachable too long. ``clock`` is read only while
        the circuit is tripped (every submit passes here)."""
        quota = self.quota
        if not quota.allows(interactive) and not quota.probing:
            return quota.error()
        if endpoint in self._closed:
            return self.road_error(endpoint)
        circuit = self.circuit
        # ``circuit.tripped`` inline: this runs once per row.
        if circuit.streak >= circuit.calls and circuit.refuses(now := clock()):
            return circuit.error(now)
        return None

    # -- roads -------------------------------------------------------------------------------

    def close_road(self, endpoint: str, error: EndpointNotFoundError) -> bool:
        """The service said ``endpoint`` does not exist (``error``); whether it was open."""
        if endpoint in self._closed:
            return False
        self._closed[endpoint] = error
        return True

    def road_open(self, endpoint: str) -> bool:
        """Whether rows may still go to ``endpoint``."""
        return endpoint not in self._closed

    def road_error(self, endpoint: str) -> EndpointNotFoundError | None:
        """The error a row for ``endpoint`` fails with at once (None: the road is open)."""
        error = self._closed.get(endpoint)
        if error is None:
            return None
        # A new exception for each row: one raised for many would chain their tracebacks.
        return EndpointNotFoundError(str(error), error.url, error.status)

    # -- the daily quota -----------------------------------------------------------------------

    def quota_lets(self) -> QuotaLets:
        """Which rows the quota lets the next call carry; a due probe lets it carry any.

        Asking spends a due probe: ask once per call.
        """
        quota = self.quota
        if quota.allows(interactive=False) or quota.probe_due():
            return QuotaLets.ALL
        return QuotaLets.INTERACTIVE if quota.allows(interactive=True) else QuotaLets.NONE

    def quota_error(self) -> QuotaExhaustedError:
        """The error a row gets while the daily quota is spent (or kept for others)."""
        return self.quota.error()

    # -- the circuit ---------------------------------------------------------------------------

    def send_at(self, now: float) -> float:
        """When the circuit lets the next call leave: ``now`` while closed, else when the next
        probe may (``inf`` while one is in flight)."""
        return self.circuit.next_call_at(now)

    def opens_at(self) -> float:
        """When a holding circuit opens and waiting rows fail (``inf`` when it is closed)."""
        return self.circuit.opens_at()

    def unreachable(self, now: float) -> bool:
        """Whether every waiting row must fail at once: the service has been unreachable too
        long, and no probe may leave now."""
        circuit = self.circuit
        return circuit.tripped and circuit.refuses(now)

    def may_send(self, now: float) -> Send:
        """Whether a call that holds its grant may leave now, and whether as the probe."""
        circuit = self.circuit
        if circuit.phase(now) is Phase.CLOSED:
            return Send.CALL
        return Send.NO if circuit.next_call_at(now) > now else Send.PROBE

    def unavailable_error(self, now: float) -> ServiceUnavailableError:
        """The error a row fails with at once while the service cannot be reached."""
        return self.circuit.error(now)
