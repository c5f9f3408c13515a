"""Events the client reports to a hook (``on_call``): a window for journals and metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ._ops import Operation

__all__ = ["CallEvent", "CallHook"]


@attrs.frozen
class CallEvent:
    """A call is about to be sent: its endpoint and the operations its rows carry.

    ``operations`` holds each caller's operation, in call order (a merged update names every
    caller's); ``attempt`` is 1 for a row's first call and grows with each resend of the call's
    most-retried row.
    """

    endpoint: str
    operations: tuple[Operation, ...]
    attempt: int = 1


#: The type of the ``on_call`` hook. It runs in the event loop, just before the request
#: leaves, and must not block; an exception it raises is logged and the call still goes.
CallHook = Callable[[CallEvent], None]
