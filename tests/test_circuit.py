"""The circuit for an unreachable service, as a pure table: events in, phase and times out.

Each row is a sequence of events at explicit times on a ``Circuit(calls=5, seconds=10,
backoff=0.5, backoff_max=30)``, then what it says at one moment. Nothing runs or sleeps.
"""

from __future__ import annotations

from math import inf

import pytest

from leadsq_async._rules.circuit import Circuit, Phase

P = pytest.param
CLOSED, HOLDING, OPEN = Phase.CLOSED, Phase.HOLDING, Phase.OPEN

Event = tuple[str, float]  # ("unsent" | "probe-unsent" | "reached" | "probe-reached" | "probe", t)


def fails(*times: float) -> list[Event]:
    """Calls that never reached the service, ending at ``times``."""
    return [("unsent", t) for t in times]


FIVE = fails(0.0, 0.2, 0.4, 0.6, 0.8)


def play(events: list[Event]) -> Circuit:
    """A fresh circuit after ``events``."""
    circuit = Circuit(calls=5, seconds=10.0, backoff=0.5, backoff_max=30.0)
    for kind, at in events:
        if kind == "probe":
            circuit.probe()
        elif kind.endswith("unsent"):
            circuit.unsent(at, probe=kind.startswith("probe"))
        else:
            circuit.reached(probe=kind.startswith("probe"))
    return circuit


@pytest.mark.parametrize(
    ("events", "now", "phase", "next_call", "opens", "refuses"),
    [
        P([], 0.0, CLOSED, 0.0, inf, False, id="fresh"),
        P(fails(0, 0.1, 0.2, 0.3), 0.3, CLOSED, 0.3, inf, False, id="four-unsent-still-closed"),
        P(fails(0, 20, 40, 60), 60, CLOSED, 60, inf, False, id="four-over-a-minute-closed"),
        # N in a row: one probe at a time, the first half a second after the last failure.
        P(FIVE, 0.8, HOLDING, 1.3, 10.0, False, id="five-unsent-hold"),
        P([*FIVE, ("probe", 1.3)], 1.3, HOLDING, inf, 10.0, False, id="probe-in-flight"),
        # Each probe that fails doubles the gap to the next: 0.5, 1, 2, 4 ...
        P([*FIVE, ("probe", 1.3), ("probe-unsent", 1.3)], 1.3, HOLDING, 2.3, 10.0, False,
          id="one-probe-failed"),
        P([*FIVE, ("probe", 1.3), ("probe-unsent", 1.3), ("probe", 2.3), ("probe-unsent", 2.3)],
          2.3, HOLDING, 4.3, 10.0, False, id="two-probes-failed"),
        # N in a row over T seconds: open; rows fail at once while no probe may leave.
        P(FIVE, 10.0, OPEN, 1.3, 10.0, False, id="open-probe-overdue"),
        P([*FIVE, ("probe", 1.3)], 10.0, OPEN, inf, 10.0, True, id="open-probe-in-flight"),
        P([*FIVE, ("probe", 9), ("probe-unsent", 11)], 11, OPEN, 12, 10.0, True,
          id="open-next-probe-later"),
        P([*FIVE, ("probe", 9), ("probe-unsent", 11)], 12, OPEN, 12, 10.0, False,
          id="open-probe-due-lets-rows-in"),
        P(fails(0, 3, 6, 9, 12), 12, OPEN, 12.5, 10.0, True, id="fifth-unsent-after-t-opens"),
        # Many probes: the gap stops at backoff_max.
        P([*FIVE] + [e for t in range(1, 40) for e in (("probe", t), ("probe-unsent", t))],
          39, OPEN, 69, 10.0, True, id="gap-capped-at-backoff-max"),
        # Any call that reaches the service closes it, from any phase.
        P([*FIVE, ("reached", 1.0)], 1.0, CLOSED, 1.0, inf, False, id="hold-then-reached"),
        P([*FIVE, ("probe", 12), ("probe-reached", 12)], 12, CLOSED, 12, inf, False,
          id="open-then-probe-reached"),
        P([*fails(0, 1, 2, 3), ("reached", 4), *fails(5, 6, 7, 8)], 8, CLOSED, 8, inf, False,
          id="a-success-restarts-the-count"),
        # A probe that fails after the circuit closed starts a new count without a back-off.
        P([*FIVE, ("probe", 1.3), ("reached", 1.4), ("probe-unsent", 1.5)], 1.5, CLOSED, 1.5,
          inf, False, id="late-probe-after-close"),
        # Calls in flight before the hold that fail later do not count as probes.
        P([*FIVE, ("probe", 1.3), ("unsent", 1.31)], 1.31, HOLDING, inf, 10.0, False,
          id="old-call-fails-while-probe-flies"),
    ],
)  # fmt: skip
def test_circuit(
    events: list[Event], now: float, phase: Phase, next_call: float, opens: float, refuses: bool
) -> None:
    """After the events: the phase, when the next call may leave, when it opens, refusals."""
    circuit = play(events)
    assert circuit.phase(now) is phase
    assert circuit.next_call_at(now) == pytest.approx(next_call)
    assert circuit.opens_at() == pytest.approx(opens)
    assert circuit.refuses(now) is refuses


def test_reached_says_whether_it_was_not_closed() -> None:
    """reached() reports a recovery (for the engine's log) only when the circuit was not closed."""
    assert play(FIVE).reached(probe=False) is True
    assert play(fails(0, 1)).reached(probe=False) is False
