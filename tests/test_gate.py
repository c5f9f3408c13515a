"""The gate: may a row be queued, may a call leave now (the quota, closed roads, the circuit).

Table tests on explicit times: every row builds a quota, a circuit (``calls=5, seconds=10,
backoff=0.5``) and a set of closed roads as of ``NOW`` and says what the gate answers.
"""

from __future__ import annotations

import math

import pytest

import leadsq_async as lsq
from leadsq_async._budgets.quota import Quota
from leadsq_async._rules.circuit import Circuit
from leadsq_async._rules.gate import Gate, QuotaLets, Send

NOW = 100.0
CREATE = "Lead/Bulk/Create"
UPDATE = "Lead/Bulk/Update"
LOST = lsq.EndpointNotFoundError("no such API", "https://h/v2/Lead/Bulk/Create", 404)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _quota(clock: Clock, kind: str) -> Quota:
    """A quota as of ``clock``'s time: "free" (unknown size), "reserve" (down to the share kept
    for interactive rows), "spent" (counted up to its size), "said" (the service said it is
    spent, no probe due), "probe" (said so long enough ago that a probe is due)."""
    quota = Quota(None if kind == "free" else 100, reserve=0.1, clock=clock)
    calls = {"reserve": 95, "spent": 100}.get(kind, 0)
    for _ in range(calls):
        quota.spend()
    if kind in ("said", "probe"):
        clock.now = NOW - (90 if kind == "probe" else 10)  # the first probe: 60 s later
        quota.exhaust(None)
    clock.now = NOW
    return quota


def _circuit(kind: str) -> Circuit:
    """A circuit as of ``NOW``: "closed"; "holding" (5 calls in a row failed to reach the
    service, the last 1 s ago); "in-flight" (holding, and its probe left); "open" (10 s and
    more since the first, the last 0.1 s ago: no probe yet); "open-probe" (open, the last
    1 s ago: a probe may leave)."""
    circuit = Circuit(calls=5, seconds=10.0, backoff=0.5, backoff_max=30.0)
    first, last = {
        "closed": (0.0, 0.0),
        "holding": (NOW - 5, NOW - 1),
        "in-flight": (NOW - 5, NOW - 1),
        "open": (NOW - 20, NOW - 0.1),
        "open-probe": (NOW - 20, NOW - 1),
    }[kind]
    if kind != "closed":
        circuit.unsent(first, probe=False)
        for _ in range(3):
            circuit.unsent(first, probe=False)
        circuit.unsent(last, probe=False)
    if kind == "in-flight":
        circuit.probe()
    return circuit


def _gate(quota: str = "free", circuit: str = "closed", closed: tuple[str, ...] = ()) -> Gate:
    gate = Gate(_quota(Clock(), quota), _circuit(circuit))
    for name in closed:
        gate.close_road(name, LOST)
    return gate


@pytest.mark.parametrize(
    ("quota", "circuit", "closed", "interactive", "expected"),
    [
        pytest.param("free", "closed", (), False, None, id="all-open"),
        pytest.param("reserve", "closed", (), True, None, id="reserve-interactive"),
        pytest.param("reserve", "closed", (), False, lsq.QuotaExhaustedError, id="reserve-bulk"),
        pytest.param("spent", "closed", (), True, lsq.QuotaExhaustedError, id="spent"),
        pytest.param("said", "closed", (), True, lsq.QuotaExhaustedError, id="said-spent"),
        pytest.param("probe", "closed", (), False, None, id="said-spent-probe-due"),
        pytest.param("free", "closed", (CREATE,), True, lsq.EndpointNotFoundError, id="road"),
        pytest.param("free", "closed", (UPDATE,), True, None, id="another-road"),
        pytest.param("free", "holding", (), True, None, id="holding"),
        pytest.param("free", "in-flight", (), True, None, id="holding-probe-in-flight"),
        pytest.param("free", "open", (), True, lsq.ServiceUnavailableError, id="open"),
        pytest.param("free", "open-probe", (), True, None, id="open-probe-may-leave"),
        pytest.param("spent", "open", (CREATE,), True, lsq.QuotaExhaustedError, id="quota-first"),
        pytest.param(
            "free", "open", (CREATE,), True, lsq.EndpointNotFoundError, id="road-before-circuit"
        ),
    ],
)
def test_check_queue(
    quota: str,
    circuit: str,
    closed: tuple[str, ...],
    interactive: bool,
    expected: type[lsq.LeadSquaredError] | None,
) -> None:
    """Whether a new row for Lead/Bulk/Create is queued (None) or fails at once, and with what."""
    refused = _gate(quota, circuit, closed).check_queue(CREATE, interactive, lambda: NOW)
    if expected is None:
        assert refused is None
    else:
        assert type(refused) is expected


@pytest.mark.parametrize(
    ("quota", "lets"),
    [
        pytest.param("free", QuotaLets.ALL, id="free"),
        pytest.param("reserve", QuotaLets.INTERACTIVE, id="reserve"),
        pytest.param("spent", QuotaLets.NONE, id="spent"),
        pytest.param("said", QuotaLets.NONE, id="said-spent"),
        pytest.param("probe", QuotaLets.ALL, id="said-spent-probe-due"),
    ],
)
def test_quota_lets(quota: str, lets: QuotaLets) -> None:
    """Which rows the quota lets the next call carry."""
    assert _gate(quota).quota_lets() is lets


def test_asking_the_quota_spends_a_due_probe() -> None:
    """A due probe lets one call carry any row; the next call waits for the next probe."""
    gate = _gate("probe")
    assert [gate.quota_lets() for _ in range(2)] == [QuotaLets.ALL, QuotaLets.NONE]


@pytest.mark.parametrize(
    ("circuit", "send", "send_at", "unreachable"),
    [
        pytest.param("closed", Send.CALL, NOW, False, id="closed"),
        pytest.param("holding", Send.PROBE, NOW - 0.5, False, id="holding"),
        pytest.param("in-flight", Send.NO, math.inf, False, id="holding-probe-in-flight"),
        pytest.param("open", Send.NO, NOW + 0.4, True, id="open"),
        pytest.param("open-probe", Send.PROBE, NOW - 0.5, False, id="open-probe-may-leave"),
    ],
)
def test_sending(circuit: str, send: Send, send_at: float, unreachable: bool) -> None:
    """Whether a call holding its grant may leave (and as the probe), when the next may, and
    whether every waiting row must fail at once."""
    gate = _gate(circuit=circuit)
    assert gate.may_send(NOW) is send
    assert gate.send_at(NOW) == pytest.approx(send_at)
    assert gate.unreachable(NOW) is unreachable


def test_opens_at() -> None:
    """A holding circuit opens ``seconds`` after the first call that failed to reach."""
    assert _gate(circuit="closed").opens_at() == math.inf
    assert _gate(circuit="holding").opens_at() == NOW + 5


def test_a_road_closes_once_and_each_row_gets_its_own_error() -> None:
    """The first close says so; each row's error is a new one carrying the first's details."""
    gate = _gate()
    assert gate.road_open(CREATE)
    assert gate.road_error(CREATE) is None
    assert gate.close_road(CREATE, LOST)
    assert not gate.close_road(CREATE, lsq.EndpointNotFoundError("later", "u", 405))
    assert not gate.road_open(CREATE)
    assert gate.road_open(UPDATE)
    errors = [gate.road_error(CREATE) for _ in range(2)]
    assert errors[0] is not errors[1]
    for error in errors:
        assert error is not None
        assert error is not LOST
        assert (str(error), error.url, error.status) == (str(LOST), LOST.url, LOST.status)


def test_the_errors_come_from_the_quota_and_the_circuit() -> None:
    """The quota's and the circuit's own errors, as of the time asked."""
    gate = _gate("spent", "open")
    assert str(gate.quota_error()) == str(gate.quota.error())
    assert str(gate.unavailable_error(NOW)) == str(gate.circuit.error(NOW))
