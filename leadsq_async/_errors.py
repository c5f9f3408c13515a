"""The exception tree.

Every error the library raises is a ``LeadSquaredError``; catch a branch by what it means::

    LeadSquaredError
    ├── ValidationError (also ValueError)  bad input, raised at the call that made it
    ├── ClientClosedError                  the client is closed, or closing abandoned the row
    ├── WrongEventLoopError (also RuntimeError)  the client was used from another event loop
    ├── QueueFullError                     max_pending rows wait and the caller would not wait
    ├── AuthenticationError                the service refused the keys (HTTP 401); ``host``
    ├── EndpointNotFoundError              no such API at the URL called (404, 405): fix the host
    ├── LeadRejectedError                  the service refused this row; retrying will not help
    │   └── LeadNotFoundError              the lead to update does not exist
    ├── RateLimitedError                   the row was not sent in time; nothing was applied
    │   ├── DeliveryTimeoutError           its delivery_timeout passed before it was delivered
    │   ├── LimiterUnavailableError        the shared limiter could not be reached in time
    │   └── QuotaExhaustedError            the account's daily quota is spent
    ├── ServiceError                       the service kept failing (5xx, network) past max_retries
    │   └── ServiceUnavailableError        the service could not be reached; the row was not sent
    └── OutcomeUnknownError                the row may have been applied; ``safe_to_resend`` says
        ├── ResponseMismatchError          the answer did not account for this row
        └── InFlightTimeoutError           the delivery deadline passed while the call was in flight
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ClientClosedError",
    "DeliveryTimeoutError",
    "EndpointNotFoundError",
    "InFlightTimeoutError",
    "LeadNotFoundError",
    "LeadRejectedError",
    "LeadSquaredError",
    "LimiterUnavailableError",
    "OutcomeUnknownError",
    "QueueFullError",
    "QuotaExhaustedError",
    "RateLimitedError",
    "ResponseMismatchError",
    "ServiceError",
    "ServiceUnavailableError",
    "ValidationError",
    "WrongEventLoopError",
]


class LeadSquaredError(Exception):
    """Base of every error this library raises."""


class ValidationError(LeadSquaredError, ValueError):
    """An operation broke a rule; raised at the call, before anything is queued.

    ``field`` names the offending field (or argument) and ``rule`` says what it broke.
    """

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")

    def __reduce__(self) -> tuple[type[ValidationError], tuple[str, str]]:
        return (type(self), (self.field, self.rule))


class ClientClosedError(LeadSquaredError):
    """The client is closed, or was closed before this row could be delivered."""


class WrongEventLoopError(LeadSquaredError, RuntimeError):
    """The client is bound to another event loop than the one it was called from."""


class QueueFullError(LeadSquaredError):
    """``max_pending`` rows already wait and the caller asked not to wait."""


class AuthenticationError(LeadSquaredError):
    """The service refused the access key or secret key (HTTP 401).

    ``host`` is the host that refused them (None when unknown). Keys work only on their
    account's own host, which depends on its region; ``find_host`` asks the service for it.
    """

    def __init__(self, message: str = "", host: str | None = None) -> None:
        super().__init__(message)
        self.host = host

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.host))


class EndpointNotFoundError(LeadSquaredError):
    """There is no such API at the URL called: the host or base URL is wrong. Nothing was applied.

    The service answered HTTP 404 saying it has no such API (or 404 without an ``MX`` type),
    or HTTP 405. ``url`` is the URL called and ``status`` the HTTP status. The client sends
    nothing more to that endpoint: its rows fail at once with this error until a new client
    is built with the right ``host`` or ``base_url``.
    """

    def __init__(self, message: str, url: str = "", status: int = 404) -> None:
        super().__init__(message)
        self.url = url
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.url, self.status))


class LeadRejectedError(LeadSquaredError):
    """The service refused this row; sending it again unchanged gives the same answer.

    ``exception_type`` is the service's ``MX...Exception`` name (or ``None``) and ``reason``
    its message.
    """

    def __init__(self, reason: str, exception_type: str | None = None) -> None:
        self.reason = reason
        self.exception_type = exception_type
        text = f"{exception_type}: {reason}" if exception_type else reason
        super().__init__(text)

    def __reduce__(self) -> tuple[type[LeadRejectedError], tuple[str, str | None]]:
        return (type(self), (self.reason, self.exception_type))


class LeadNotFoundError(LeadRejectedError):
    """The lead to update does not exist (or the keys may not see it)."""


class RateLimitedError(LeadSquaredError):
    """The row was not sent in time because of the rate limit or back-off; nothing was applied."""


class DeliveryTimeoutError(RateLimitedError):
    """The row's ``delivery_timeout`` passed before it could be delivered."""


class LimiterUnavailableError(RateLimitedError):
    """The shared limiter could not be reached before the row's delivery deadline."""


class QuotaExhaustedError(RateLimitedError):
    """The account's daily call quota is spent: nothing was sent, and nothing will be until it
    comes back.

    ``resets_in`` is how many seconds until it does, when known (None: the client probes now
    and then to find out, and new calls fail at once meanwhile).
    """

    def __init__(self, message: str, resets_in: float | None = None) -> None:
        super().__init__(message)
        self.resets_in = resets_in

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.resets_in))


class ServiceError(LeadSquaredError):
    """The service kept failing (system errors, network) past ``max_retries``.

    Raised only where a failure proves nothing was applied or the endpoint is idempotent.
    """


class ServiceUnavailableError(ServiceError):
    """The service could not be reached, so this row was not sent (it fails at once instead).

    Several calls in a row never reached the service (connection refused, no such host, connect
    timeouts) for some seconds (``circuit_calls`` over ``circuit_seconds``): rows then fail at
    once instead of each retrying until its deadline, and one probe call at a time tries again,
    with back-off, until one reaches the service. ``url`` is the URL that could not be reached.
    """

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        self.url = url

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.url))


class OutcomeUnknownError(LeadSquaredError):
    """The request reached the service but its answer was lost: the row may have been applied.

    ``safe_to_resend`` is true when sending the row again cannot do harm (updates and upserts
    are idempotent) and false for creates, which could then create the lead twice: look the
    lead up first.
    """

    def __init__(self, message: str = "", *, safe_to_resend: bool = False) -> None:
        super().__init__(message)
        self.safe_to_resend = safe_to_resend

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_unknown, (type(self), str(self), self.safe_to_resend))


def _rebuild_unknown(cls: type[OutcomeUnknownError], message: str, safe: bool) -> Any:
    return cls(message, safe_to_resend=safe)


class ResponseMismatchError(OutcomeUnknownError):
    """The service's answer did not account for this row (missing, repeated or unparseable)."""


class InFlightTimeoutError(OutcomeUnknownError):
    """The row's ``delivery_timeout`` passed while its call was in flight.

    The call may still be applied after the caller was answered; unlike
    ``DeliveryTimeoutError`` (nothing was sent) this says nothing about the row's fate.
    ``safe_to_resend`` is true for the idempotent endpoints (everything but creates).
    """
