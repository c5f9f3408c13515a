"""What a queue worker does with a message once its row has an outcome; a pure function.

``disposition(outcome)`` reads one row's ``Outcome`` (its operation, and its result or error)
and says what becomes of the message that carried it:

============================  ===============  =================================================
outcome                       disposition      why
============================  ===============  =================================================
a result (no error)           DONE             applied: acknowledge
``ValidationError``           DEAD_LETTER      bad input; it fails the same way every time
``LeadRejectedError``         DEAD_LETTER      the service refused it; unchanged, it is refused
(``LeadNotFoundError`` too)                    again
``QuotaExhaustedError``       PAUSE            nothing goes until the quota is back
                                               (``resets_in``): requeue, stop consuming
``ServiceUnavailableError``   PAUSE            the service cannot be reached: requeue, wait
``RateLimitedError`` (its     RETRY_LATER      not sent in time; nothing was applied
other kinds too)
``ServiceError``              RETRY_LATER      not applied (or idempotent): safe to resend
``QueueFullError``,           RETRY_LATER      not queued, or not sent: nothing was applied
``ClientClosedError``
``OutcomeUnknownError``,      RETRY_LATER      resending cannot do harm (updates, upserts)
safe to resend
``OutcomeUnknownError``, a    RETRY_LATER      may have been applied: look the lead up by its
create with EmailAddress or   + look_up_first  unique field before creating it again
Phone
``OutcomeUnknownError``,      DEAD_LETTER      may have been applied and nothing can tell:
anything else                                  a person decides (resending may duplicate it)
``AuthenticationError``,      STOP             no row can succeed until the configuration is
``EndpointNotFoundError``,                     fixed: requeue, stop the worker
``WrongEventLoopError``
any other exception           DEAD_LETTER      not the library's: nothing says it is safe to
                                               resend
============================  ===============  =================================================

Nothing here sleeps or reads a clock: ``delay`` says how long to wait before the message is
returned to the queue (RETRY_LATER) or before consuming again (PAUSE, STOP's is 0).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from .._api.operations import CreateLead, Outcome
from .._errors import (
    AuthenticationError,
    ClientClosedError,
    EndpointNotFoundError,
    LeadRejectedError,
    OutcomeUnknownError,
    QueueFullError,
    QuotaExhaustedError,
    RateLimitedError,
    ServiceError,
    ServiceUnavailableError,
    ValidationError,
    WrongEventLoopError,
)

__all__ = ["QUOTA_PAUSE", "RETRY_DELAY", "Disposition", "MessageDecision", "disposition"]

#: Seconds before a retryable row's message goes back to the queue (the client has already
#: retried it up to its own deadline, so this is the pause between rounds).
RETRY_DELAY = 1.0
#: Seconds to stop consuming when the quota is spent and the service did not say when it comes
#: back (the client probes meanwhile and knows once it does).
QUOTA_PAUSE = 300.0
#: The service cannot be reached: pause this many retry delays before consuming again.
_UNREACHABLE_ROUNDS = 5


class Disposition(enum.Enum):
    """What becomes of a row's message."""

    DONE = "done"  #: the row is applied: acknowledge the message
    RETRY_LATER = "retry_later"  #: nothing harmful in resending: requeue after ``delay``
    PAUSE = "pause"  #: requeue, and stop consuming for ``delay`` (quota spent, service down)
    DEAD_LETTER = "dead_letter"  #: refused for good (or cannot be told): dead-letter it
    STOP = "stop"  #: no row can succeed (keys refused, wrong host): requeue and stop


@attrs.frozen
class MessageDecision:
    """The disposition of one row's message, and what the worker needs to act on it.

    ``delay``: seconds to wait (RETRY_LATER: before requeueing; PAUSE: before consuming
    again). ``look_up_first``: the row is a create that may have been applied; when it comes
    back, look the lead up by its EmailAddress or Phone before creating it
    (``create_lead(..., look_up_first=True)``). ``error_type``, ``reason`` and ``field``
    describe the error (None for DONE), for the dead-letter headers and the logs.
    """

    disposition: Disposition
    delay: float = 0.0
    look_up_first: bool = False
    error_type: str | None = None
    reason: str | None = None
    field: str | None = None


def disposition(
    outcome: Outcome, *, retry_delay: float = RETRY_DELAY, quota_pause: float = QUOTA_PAUSE
) -> MessageDecision:
    """What to do with the message whose row ended with ``outcome`` (see the module's table).

    ``retry_delay`` is the back-off of a retryable row (and scales the pause while the service
    is unreachable); ``quota_pause`` the pause when the quota is spent and its reset unknown.
    """
    error = outcome.error
    if error is None:
        return MessageDecision(Disposition.DONE)
    kind, delay, look_up = _judge(outcome, error, retry_delay, quota_pause)
    return MessageDecision(
        kind,
        delay=delay,
        look_up_first=look_up,
        error_type=type(error).__name__,
        reason=str(error) or type(error).__name__,
        field=error.field if isinstance(error, ValidationError) else None,
    )


def _judge(
    outcome: Outcome, error: BaseException, retry_delay: float, quota_pause: float
) -> tuple[Disposition, float, bool]:
    # Order matters: subclasses before their bases (QuotaExhausted is a RateLimited, ...).
    if isinstance(error, (AuthenticationError, EndpointNotFoundError, WrongEventLoopError)):
        return Disposition.STOP, 0.0, False
    if isinstance(error, (ValidationError, LeadRejectedError)):
        return Disposition.DEAD_LETTER, 0.0, False
    if isinstance(error, QuotaExhaustedError):
        resets = error.resets_in
        return Disposition.PAUSE, quota_pause if resets is None else max(resets, 0.0), False
    if isinstance(error, ServiceUnavailableError):
        return Disposition.PAUSE, retry_delay * _UNREACHABLE_ROUNDS, False
    if isinstance(error, (RateLimitedError, ServiceError, QueueFullError, ClientClosedError)):
        return Disposition.RETRY_LATER, retry_delay, False
    if isinstance(error, OutcomeUnknownError):
        if error.safe_to_resend:
            return Disposition.RETRY_LATER, retry_delay, False
        op = outcome.operation
        if isinstance(op, CreateLead) and has_unique_field(op.fields):
            return Disposition.RETRY_LATER, retry_delay, True
        return Disposition.DEAD_LETTER, 0.0, False
    return Disposition.DEAD_LETTER, 0.0, False


def has_unique_field(fields: Mapping[str, object]) -> bool:
    """Whether a create's fields hold an EmailAddress or a Phone with digits (a lookup key)."""
    for name, value in fields.items():
        if not isinstance(value, str) or not value.strip():
            continue
        folded = name.casefold()
        if folded == "emailaddress" or (folded == "phone" and any(c.isdigit() for c in value)):
            return True
    return False
