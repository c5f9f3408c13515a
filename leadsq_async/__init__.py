"""leadsq-async: an asyncio LeadSquared client that batches single-lead calls.

Call ``await client.create_lead({...})`` one lead at a time from as many tasks as you like;
the client packs concurrent calls into LeadSquared's bulk endpoints under the account's rate
limit and hands each caller its own row's result or error.
"""

from typing import TYPE_CHECKING

from ._client import DEFAULT_HOST, LeadSquaredClient
from ._endpoints import rows_per_call, validate
from ._errors import (
    AuthenticationError,
    ClientClosedError,
    DeliveryTimeoutError,
    EndpointNotFoundError,
    InFlightTimeoutError,
    LeadNotFoundError,
    LeadRejectedError,
    LeadSquaredError,
    LimiterUnavailableError,
    OutcomeUnknownError,
    QueueFullError,
    QuotaExhaustedError,
    RateLimitedError,
    ResponseMismatchError,
    ServiceError,
    ServiceUnavailableError,
    ValidationError,
    WrongEventLoopError,
)
from ._events import CallEvent
from ._hosts import find_host
from ._limits import Limiter, RateLimit, SlidingWindowLimiter, TokenBucketLimiter
from ._ops import (
    CreateLead,
    FieldUpdated,
    LeadCreated,
    LeadUpdated,
    LeadUpserted,
    Operation,
    Outcome,
    Priority,
    Result,
    UpdateField,
    UpdateLead,
    UpdateLeadById,
    UpsertLead,
)
from ._settings import Settings
from ._stats import CloseReport, EndpointStats, Stats
from ._wire import CustomFieldSet, FieldValue

if TYPE_CHECKING:
    from ._redis import RedisLimiter

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # RedisLimiter needs the optional redis extra: import it only when asked for.
    if name == "RedisLimiter":
        from ._redis import RedisLimiter

        return RedisLimiter
    raise AttributeError(f"module 'leadsq_async' has no attribute {name!r}")


__all__ = [
    "DEFAULT_HOST",
    "AuthenticationError",
    "CallEvent",
    "ClientClosedError",
    "CloseReport",
    "CreateLead",
    "CustomFieldSet",
    "DeliveryTimeoutError",
    "EndpointNotFoundError",
    "EndpointStats",
    "FieldUpdated",
    "FieldValue",
    "InFlightTimeoutError",
    "LeadCreated",
    "LeadNotFoundError",
    "LeadRejectedError",
    "LeadSquaredClient",
    "LeadSquaredError",
    "LeadUpdated",
    "LeadUpserted",
    "Limiter",
    "LimiterUnavailableError",
    "Operation",
    "Outcome",
    "OutcomeUnknownError",
    "Priority",
    "QueueFullError",
    "QuotaExhaustedError",
    "RateLimit",
    "RateLimitedError",
    "RedisLimiter",
    "ResponseMismatchError",
    "Result",
    "ServiceError",
    "ServiceUnavailableError",
    "Settings",
    "SlidingWindowLimiter",
    "Stats",
    "TokenBucketLimiter",
    "UpdateField",
    "UpdateLead",
    "UpdateLeadById",
    "UpsertLead",
    "ValidationError",
    "WrongEventLoopError",
    "__version__",
    "find_host",
    "rows_per_call",
    "validate",
]
