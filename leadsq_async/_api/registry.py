"""The registry: every operation type's road, collected from the spec modules' declarations.

Each spec module declares, next to its specs, the ``Road`` of each operation type they carry
(``bulk``, ``lookups``, ``activities``); this module only collects them. ``route`` names an
operation's bulk (or only) spec, or the one its road chooses for it; ``Row.single`` names the
other road a row may take; ``rows_per_call`` is what the road's spec carries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._errors import ValidationError
from . import activities, bulk, lookups
from .operations import Operation
from .spec import BASE_PATH, Endpoint, Road, Row, RowOutcome

__all__ = [
    "BASE_PATH",
    "ENDPOINTS",
    "ROADS",
    "Endpoint",
    "Road",
    "Row",
    "RowOutcome",
    "register",
    "route",
    "rows_per_call",
    "unregister",
    "validate",
]

#: Every operation type's road, in the order ``route`` names them when refusing another.
ROADS: tuple[Road, ...] = (*bulk.ROADS, *lookups.ROADS, *activities.ROADS)

#: Every endpoint spec, by name. Where two share one (``Lead.Update`` with and without
#: automations), the name is the one a road routes to (the one that asks for automations).
ENDPOINTS: dict[str, Endpoint] = {}
#: Each operation type's endpoint, or the function choosing it from the operation.
_ROUTES: dict[type, Endpoint | Callable[[Any], Endpoint]] = {}
#: The most rows a call carries, per operation type (its usual, batched road).
_ROWS: dict[type, int] = {}
_REGISTERED: dict[type, Road] = {}


def _build() -> None:
    """Fill the tables from the roads, in place: other modules hold ``ENDPOINTS`` itself."""
    roads = _REGISTERED.values()
    _ROUTES.clear()
    _ROUTES.update((r.operation, r.spec if r.choose is None else r.choose) for r in roads)
    _ROWS.clear()
    _ROWS.update((r.operation, r.spec.max_rows) for r in roads)
    ENDPOINTS.clear()
    routed = [spec for r in roads for spec in (r.spec, *r.choices)]
    for spec in (*routed, *(spec for r in roads for spec in r.singles)):
        ENDPOINTS.setdefault(spec.name, spec)


def register(road: Road) -> None:
    """Add the road of an operation type the registry does not have yet (and its specs)."""
    if road.operation in _REGISTERED:
        raise ValueError(f"{road.operation.__name__} already has a road")
    _REGISTERED[road.operation] = road
    _build()


def unregister(operation: type) -> None:
    """Take an operation type's road out of the registry again (and specs only it named)."""
    del _REGISTERED[operation]
    _build()


for _road in ROADS:
    register(_road)


def route(op: object) -> Endpoint:
    """The endpoint that carries ``op``."""
    endpoint = _ROUTES.get(type(op))
    if endpoint is None:
        names = ", ".join(kind.__name__ for kind in _ROUTES)
        raise ValidationError("operation", f"expected {names}, not {type(op).__name__}")
    return endpoint if isinstance(endpoint, Endpoint) else endpoint(op)


def rows_per_call(kind: type[Operation]) -> int:
    """How many rows of this kind of operation one (bulk) call carries at most."""
    rows = _ROWS.get(kind)
    if rows is None:
        raise ValidationError("kind", f"not an operation type: {kind!r}")
    return rows


def validate(op: Operation) -> None:
    """Run the checks ``submit(op)`` runs, sending nothing; raises ``ValidationError``."""
    route(op).prepare(op)
