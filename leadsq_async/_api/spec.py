"""What an endpoint spec is, and the row it turns an operation into.

A spec knows its path, how many rows a call may carry, which budget it spends (``bulk``),
which rows may share a call (the group key), which lead a row touches (its identities, for
ordering), how to check and encode an operation, and how to read an answer back into one
outcome per row. A ``Road``, declared next to the specs, says which of them carry an
operation type; the registry collects the roads. The batcher, the engine and the sender know
nothing endpoint-specific: an endpoint is one more spec (the bulk ones in ``bulk``, the
single-lead ones in ``single``) and, for a new operation type, one more road.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, ClassVar, Union

import attrs

from .._errors import LeadNotFoundError, LeadSquaredError, ValidationError
from .decode import norm
from .operations import Operation, Result

__all__ = [
    "BASE_PATH",
    "ID_ALIASES",
    "ID_ATTRIBUTES",
    "UNANSWERED",
    "Decoded",
    "Endpoint",
    "Road",
    "Row",
    "RowOutcome",
    "Unanswered",
    "check_lead_id",
    "identity",
    "value_of",
]

BASE_PATH = "/v2/LeadManagement.svc/"
RowOutcome = Union[Result, LeadSquaredError]


class Unanswered:
    """An answer that leaves a row for another call (a page that did not reach it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNANSWERED"


#: What ``decode`` gives a row the answer did not reach: the engine sends it again, in
#: another call, without a back-off (at most ``max_retries`` times).
UNANSWERED = Unanswered()
#: What ``decode`` gives each row: its outcome, or ``UNANSWERED``.
Decoded = Union[RowOutcome, Unanswered]
ID_ATTRIBUTES = frozenset({"prospectid"})
ID_ALIASES = frozenset({"leadid", "id", "prospectautoid"})


def identity(attribute: str, value: str) -> str:
    """A lead's identity key: one string, as rows can wait by the hundred thousand."""
    name = attribute.casefold()
    if name in ID_ATTRIBUTES:
        name = "prospectid"
    return f"{name}\x00{norm(value)}"


def check_lead_id(lead_id: object, field: str = "lead_id") -> str:
    if not isinstance(lead_id, str) or not lead_id.strip():
        raise ValidationError(field, "must be a non-empty string")
    try:
        canonical = str(uuid.UUID(lead_id.strip()))
    except ValueError:
        raise ValidationError(field, f"must be a LeadId GUID, got {lead_id[:60]!r}") from None
    return canonical


def value_of(items: Mapping[str, Any], attribute: str) -> str | None:
    """The wire value of ``attribute`` in ``items`` (attribute names compared without case)."""
    item = items.get(attribute)
    if item is None:
        # Field names were checked to be unique without case, so at most one matches.
        wanted, size = attribute.casefold(), len(attribute)
        for name in items:
            if len(name) == size and name.casefold() == wanted:
                item = items[name]
                break
    if type(item) is not str:  # absent, or a custom field set
        return None
    return item if item.strip() else None


class Row:
    """One checked operation, encoded and ready to be batched."""

    __slots__ = ("group", "identities", "items", "key_value", "op", "single")

    def __init__(
        self,
        op: Operation,
        group: Hashable,
        items: dict[str, Any],
        identities: tuple[Hashable, ...],
        key_value: str | None = None,
        single: Endpoint | None = None,
    ) -> None:
        self.op = op
        self.group = group
        self.items = items
        self.identities = identities
        self.key_value = key_value
        # The single-lead endpoint that can carry this row instead of a bulk call, if any.
        self.single = single


class Endpoint:
    """What the batcher and sender need to know about one API."""

    name: ClassVar[str]
    max_rows: ClassVar[int]
    idempotent: ClassVar[bool] = True
    #: Bulk APIs spend the account's bulk budget as well as the general one.
    bulk: ClassVar[bool] = True
    #: The HTTP method; a GET sends its parameters only (``request`` gives the body None).
    method: ClassVar[str] = "POST"
    #: Where ``name`` lives: the path is ``root + name``.
    root: ClassVar[str] = BASE_PATH
    #: Rows of endpoints with the same label need no order among themselves: per-lead order
    #: still holds between them and every other row of the lead, but two lookups (or two
    #: activities) of one lead may share a call or be in flight together. None: ordered.
    commutes: ClassVar[str | None] = None
    #: The client's own call whose asker says why it failed (the account's fields): the
    #: engine logs nothing of its own when the API is missing, so the user reads one line.
    asker_reports: ClassVar[bool] = False
    #: Whether ``merge`` can ever join two rows: set for each spec by whether it overrides
    #: ``merge``, so that queuing a row of any other spec skips looking for one to join.
    merges: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.merges = cls.merge is not Endpoint.merge

    @property
    def path(self) -> str:
        """The request path."""
        return self.root + self.name

    def carrier(self, rows: Sequence[Row]) -> Endpoint:
        """The endpoint that carries a call of ``rows``: this one, unless a spec has a
        cheaper one for such a call (a lone lookup by id goes by ``Leads.GetById``)."""
        return self

    def prepare(self, op: Any) -> Row:
        """Check ``op`` and encode it, raising ``ValidationError`` at the call."""
        raise NotImplementedError

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        """The query parameters and JSON body of one call (body None: no body)."""
        raise NotImplementedError

    def decode(self, rows: Sequence[Row], data: object) -> Sequence[Decoded]:
        """One outcome per row from a successful (2xx) answer's JSON (or ``UNANSWERED``)."""
        raise NotImplementedError

    def merge(self, older: Row, newer: Row) -> Row | None:
        """The one row that does what ``older`` then ``newer`` do, or None if there is none.

        A pure function: the batcher rebuilds a merged row from its callers' own rows when
        one of them leaves, so merging must not change either argument.
        """
        return None

    def not_found(self, row: Row, reason: str, exception_type: str | None) -> LeadSquaredError:
        """The error for a row the service says does not exist."""
        return LeadNotFoundError(reason, exception_type)

    def __repr__(self) -> str:
        return f"<Endpoint {self.name}>"


@attrs.frozen
class Road:
    """Which specs carry one operation type, declared next to them for the registry.

    ``spec`` is the bulk (or only) spec: it carries the operation unless ``choose`` picks
    another, and its ``max_rows`` is how many rows of the operation one call carries
    (``rows_per_call``). ``choose`` picks one operation's spec (``spec`` or one of
    ``choices``), raising ``ValidationError`` when the operation fits none. ``singles`` are
    the specs a row may go by instead (``Row.single``, ``Endpoint.carrier``), so that the
    registry names every spec.
    """

    operation: type
    spec: Endpoint
    choose: Callable[[Any], Endpoint] | None = None
    choices: tuple[Endpoint, ...] = ()
    singles: tuple[Endpoint, ...] = ()
