"""Fault injection: what can go wrong between the client and the service, and how often."""

from __future__ import annotations

import math
import random as _random
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    import random

__all__ = ["NO_FAULT", "FaultBook", "FaultDecision", "FaultPlan"]


def _probability(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be a number, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be in [0, 1], got {value!r}")


def _latency(_: object, attribute: attrs.Attribute[tuple[float, float]], value: object) -> None:
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in value)
        or value[0] > value[1]
    ):
        raise ValueError(f"latency must be (min, max) seconds with 0 <= min <= max, got {value!r}")


def _to_latency(value: object) -> object:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = value
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            return (float(lo), float(hi))
    return value


@attrs.frozen
class FaultPlan:
    """How often each fault happens (probabilities in [0, 1], all 0 by default).

    * ``latency``: (min, max) seconds, drawn uniformly, waited before answering.
    * ``system_error``: answer a system error and change nothing (half of them HTTP 500 with
      ``{"Status":"Error","ExceptionMessage":...}`` and no ExceptionType, the rest 502/503 with
      an HTML body).
    * ``drop_before``: drop the connection before processing; nothing is applied.
    * ``drop_after``: apply the change, then drop the connection.
    * ``rate_limited``: reject as rate-limited whatever the window holds;
      ``rate_limited_as_200`` is the share of those answered in the HTTP-200 form.
    * ``omit_rows``: a successful bulk answer leaves one row out (the change is applied).
    * ``change_case``: echo identifiers differently (UpdateV2 IdentifierValue upper-cased
      and/or padded; other bulk answers upper-case the LeadId).

    At most one fault (besides latency) hits a request; decisions come from the fake's seeded
    random generator, so a run is reproducible.
    """

    latency: tuple[float, float] = attrs.field(
        default=(0.0, 0.0), converter=_to_latency, validator=_latency
    )
    system_error: float = attrs.field(default=0.0, validator=_probability)
    drop_before: float = attrs.field(default=0.0, validator=_probability)
    drop_after: float = attrs.field(default=0.0, validator=_probability)
    rate_limited: float = attrs.field(default=0.0, validator=_probability)
    rate_limited_as_200: float = attrs.field(default=0.0, validator=_probability)
    omit_rows: float = attrs.field(default=0.0, validator=_probability)
    change_case: float = attrs.field(default=0.0, validator=_probability)

    def decide(self, rng: random.Random) -> FaultDecision:
        """Draw this request's fault (one draw per non-zero probability, in a fixed order)."""
        hits: list[str] = []
        for name in _ORDER:
            p: float = getattr(self, name)
            if p > 0.0 and rng.random() < p:
                hits.append(name)
        fault = hits[0] if hits else None
        as_200 = False
        variant = 0.0
        if fault == "rate_limited":
            as_200 = self.rate_limited_as_200 > 0.0 and rng.random() < self.rate_limited_as_200
        elif fault is not None:
            variant = rng.random()
        lo, hi = self.latency
        delay = rng.uniform(lo, hi) if hi > 0.0 else 0.0
        return FaultDecision(fault, delay, as_200, variant)


_ORDER = (
    "drop_before",
    "rate_limited",
    "system_error",
    "drop_after",
    "omit_rows",
    "change_case",
)


@attrs.frozen
class FaultDecision:
    """The fault drawn for one request (internal, but harmless to look at)."""

    fault: str | None
    delay: float = 0.0
    as_200: bool = False
    variant: float = 0.0


NO_FAULT = FaultDecision(None)


class FaultBook:
    """The fault plans in force: one for every endpoint, overrides per endpoint, one generator.

    ``endpoints`` are the endpoints plans may apply to; others never see a fault.
    """

    def __init__(self, plan: FaultPlan | None, seed: int, endpoints: frozenset[str]) -> None:
        self._plan = plan
        self._overrides: dict[str, FaultPlan] = {}
        self._endpoints = endpoints
        self._rng = _random.Random(f"faults-{seed}")

    def set(self, plan: FaultPlan | None, endpoint: str | None = None) -> None:
        """Set the plan for every endpoint, or (with ``endpoint``) override it for one."""
        if endpoint is None:
            self._plan = plan
            return
        if endpoint not in self._endpoints:
            raise ValueError(
                f"faults apply to lead endpoints {sorted(self._endpoints)}, not {endpoint!r}"
            )
        if plan is None:
            self._overrides.pop(endpoint, None)
        else:
            self._overrides[endpoint] = plan

    def plan(self, endpoint: str) -> FaultPlan | None:
        """The plan in force for ``endpoint``."""
        if endpoint not in self._endpoints:
            return None
        return self._overrides.get(endpoint, self._plan)

    def decide(self, endpoint: str) -> FaultDecision:
        """Draw the fault of one request to ``endpoint``."""
        plan = self.plan(endpoint)
        return plan.decide(self._rng) if plan is not None else NO_FAULT

    def reseed(self, seed: int) -> None:
        """Restart the generator, so a reset fake draws the same faults again."""
        self._rng.seed(f"faults-{seed}")
