"""Intake: a checked row on its way into the batcher, queued at once if there is room, else after.

Admission (``admission.Admission``) counts the slots; this is the row that waits for one.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import ClientClosedError, EndpointNotFoundError
from .rows import Entry, RowFuture

if TYPE_CHECKING:
    from .._api.operations import Operation, Result
    from .._api.registry import Endpoint, Row
    from .._rules.gate import Gate
    from .batcher import Batcher

__all__ = ["Admitting", "Queued", "Tracing", "queue_row"]

#: Telemetry's capture (the caller's trace context, at submit) and its row-done callback.
Tracing = tuple[Callable[["Operation"], object], Callable[["asyncio.Future[Any]"], None]]

#: Told of a row once it is queued (``look_up_first`` holds the create for its lookup there).
Queued = Callable[[Entry], None]

#: The context telemetry's done-callbacks run in: shared, instead of a copy per waiting row.
_NO_CONTEXT = contextvars.Context()


class Admitting:
    """A checked row that waits for room (``max_pending``) before it is queued."""

    __slots__ = (
        "_check_open",
        "_tracing",
        "batcher",
        "endpoint",
        "gate",
        "op",
        "priority",
        "queued",
        "row",
    )

    def __init__(
        self,
        batcher: Batcher,
        gate: Gate,
        op: Operation,
        endpoint: Endpoint,
        row: Row,
        priority: int,
        check_open: Callable[[], None],
        tracing: Tracing | None,
        queued: Queued | None = None,
    ) -> None:
        self.batcher = batcher
        self.gate = gate
        self.op = op
        self.endpoint = endpoint
        self.row = row
        self.priority = priority
        self._check_open = check_open
        self._tracing = tracing
        self.queued = queued

    async def admit(self, wait: bool) -> asyncio.Future[Result]:
        """Wait for room, then queue the row (``QueueFullError`` at once unless ``wait``)."""
        batcher = self.batcher
        await batcher.admit(wait)
        try:
            self._check_open()  # closing may have begun while we waited for room
            missing = self.gate.road_error(self.endpoint.name)
            if missing is not None:
                raise missing
        except (ClientClosedError, EndpointNotFoundError):
            batcher.release_admission()
            raise
        return self.add()

    def add(self) -> asyncio.Future[Result]:
        """Queue the row, which holds an admission slot already; give its future."""
        return queue_row(
            self.batcher,
            self.op,
            self.endpoint,
            self.row,
            self.priority,
            self._tracing,
            self.queued,
        )


def queue_row(
    batcher: Batcher,
    op: Operation,
    endpoint: Endpoint,
    row: Row,
    priority: int,
    tracing: Tracing | None,
    queued: Queued | None = None,
) -> asyncio.Future[Result]:
    """Queue a checked row that holds an admission slot already; give its future."""
    # The batcher's loop, once its engine started: ``get_running_loop`` costs ~0.2 µs a row.
    loop = batcher.loop
    future = RowFuture(loop=loop if loop is not None else asyncio.get_running_loop())
    if tracing is not None and (trace := tracing[0](op)) is not None:
        future.trace = trace  # the caller's trace context travels with the row
        future.add_done_callback(tracing[1], context=_NO_CONTEXT)
    entry = batcher.add(row, endpoint, future, priority)
    if queued is not None:
        queued(entry)
    return future
