"""leadsq-async: an asyncio LeadSquared client that batches single-lead calls.

Call ``await client.create_lead({...})`` one lead at a time from as many tasks as you like;
the client packs concurrent calls into LeadSquared's bulk endpoints under the account's rate
limit and hands each caller its own row's result or error.
"""

from importlib.metadata import version as _version
from importlib.util import find_spec
from typing import TYPE_CHECKING

from ._accounts import AccountOptions, Accounts
from ._api.encoding import CustomFieldSet, FieldValue
from ._api.hosts import find_host
from ._api.operations import (
    ActivityPosted,
    CreateLead,
    FieldUpdated,
    FindLead,
    GetLead,
    Lead,
    LeadCreated,
    LeadUpdated,
    LeadUpserted,
    Operation,
    Outcome,
    PostActivity,
    Priority,
    Result,
    UpdateField,
    UpdateLead,
    UpdateLeadById,
    UpsertLead,
)
from ._api.ranges import ExportCheckpoint
from ._api.registry import rows_per_call, validate
from ._api.schema import FieldSpec, LeadSchema
from ._budgets.limiters import Limiter, RateLimit, SlidingWindowLimiter, TokenBucketLimiter
from ._client import DEFAULT_HOST, LeadSquaredClient
from ._dispatch.export import LeadsModified
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
from ._observe.events import CallEnded, CallEvent, Event
from ._observe.stats import CloseReport, EndpointStats, Stats
from ._rules.disposition import Disposition, MessageDecision, disposition
from ._settings import Settings
from ._sync import SyncLeadsModified, SyncLeadSquaredClient

if TYPE_CHECKING:
    from ._budgets.redis import RedisLimiter as RedisLimiter  # __all__ lists it only with redis
    from ._observe.otel import OpenTelemetry as OpenTelemetry  # not in __all__: see __getattr__

__version__ = _version("leadsq-async")


def __getattr__(name: str) -> object:
    # RedisLimiter needs the optional redis extra, OpenTelemetry the otel extra: each is
    # imported only when asked for. OpenTelemetry is left out of __all__, so that a star
    # import neither imports it nor fails without the extra.
    if name == "RedisLimiter":
        from ._budgets.redis import RedisLimiter

        return RedisLimiter
    if name == "OpenTelemetry":
        from ._observe.otel import OpenTelemetry

        return OpenTelemetry
    raise AttributeError(f"module 'leadsq_async' has no attribute {name!r}")


__all__ = [
    "DEFAULT_HOST",
    "AccountOptions",
    "Accounts",
    "ActivityPosted",
    "AuthenticationError",
    "CallEnded",
    "CallEvent",
    "ClientClosedError",
    "CloseReport",
    "CreateLead",
    "CustomFieldSet",
    "DeliveryTimeoutError",
    "Disposition",
    "EndpointNotFoundError",
    "EndpointStats",
    "Event",
    "ExportCheckpoint",
    "FieldSpec",
    "FieldUpdated",
    "FieldValue",
    "FindLead",
    "GetLead",
    "InFlightTimeoutError",
    "Lead",
    "LeadCreated",
    "LeadNotFoundError",
    "LeadRejectedError",
    "LeadSchema",
    "LeadSquaredClient",
    "LeadSquaredError",
    "LeadUpdated",
    "LeadUpserted",
    "LeadsModified",
    "Limiter",
    "LimiterUnavailableError",
    "MessageDecision",
    "Operation",
    "Outcome",
    "OutcomeUnknownError",
    "PostActivity",
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
    "SyncLeadSquaredClient",
    "SyncLeadsModified",
    "TokenBucketLimiter",
    "UpdateField",
    "UpdateLead",
    "UpdateLeadById",
    "UpsertLead",
    "ValidationError",
    "WrongEventLoopError",
    "__version__",
    "disposition",
    "find_host",
    "rows_per_call",
    "validate",
]
if find_spec("redis") is None:
    # Without the redis extra a star import must not ask for RedisLimiter (naming it raises
    # ModuleNotFoundError); with it, RedisLimiter is exported as ever.
    __all__.remove("RedisLimiter")
