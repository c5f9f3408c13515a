"""The public surface: exported names, docstrings, typing marker, exception tree, pickling."""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path

import pytest

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY

EXPECTED_ALL = [
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

ERRORS = [
    lsq.AuthenticationError,
    lsq.ClientClosedError,
    lsq.DeliveryTimeoutError,
    lsq.EndpointNotFoundError,
    lsq.InFlightTimeoutError,
    lsq.LeadNotFoundError,
    lsq.LeadRejectedError,
    lsq.LimiterUnavailableError,
    lsq.OutcomeUnknownError,
    lsq.QueueFullError,
    lsq.QuotaExhaustedError,
    lsq.RateLimitedError,
    lsq.ResponseMismatchError,
    lsq.ServiceError,
    lsq.ServiceUnavailableError,
    lsq.ValidationError,
    lsq.WrongEventLoopError,
]


def test_all_is_the_expected_list() -> None:
    """__all__ lists exactly the documented public names (a change here is an API change)."""
    assert lsq.__all__ == EXPECTED_ALL


def isort_key(name: str) -> tuple[int, str]:
    """ruff RUF022's "isort-style" order: CONSTANTS, then CamelCase, then everything else."""
    if name.isupper() and len(name) > 1:
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted() -> None:
    """__all__ is sorted the way the project's linter (ruff RUF022, isort-style) requires.

    Plain ``sorted()`` would put AuthenticationError before DEFAULT_HOST, which RUF022 rejects.
    """
    assert lsq.__all__ == sorted(lsq.__all__, key=isort_key)
    assert sorted(lsq.__all__) == sorted(EXPECTED_ALL)
    assert len(set(lsq.__all__)) == len(lsq.__all__)


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_name_resolves_and_is_documented(name: str) -> None:
    """Every exported name resolves; each exported class or function has a docstring."""
    obj = getattr(lsq, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert inspect.getdoc(obj), f"{name} has no docstring"
        assert obj.__module__.startswith("leadsq_async")


def test_star_import_gives_exactly_all() -> None:
    """``from leadsq_async import *`` binds every name of __all__ and nothing else public."""
    namespace: dict[str, object] = {}
    exec("from leadsq_async import *", namespace)
    namespace.pop("__builtins__", None)
    assert sorted(namespace) == sorted(EXPECTED_ALL)


def test_version_and_default_host() -> None:
    """__version__ and DEFAULT_HOST are non-empty strings."""
    assert isinstance(lsq.__version__, str)
    assert lsq.__version__.count(".") >= 1
    assert lsq.DEFAULT_HOST == "api.leadsquared.com"


def test_py_typed_marker_ships() -> None:
    """The package carries the PEP 561 py.typed marker."""
    assert (Path(lsq.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.__name__)
def test_every_error_is_a_leadsquared_error(error: type[Exception]) -> None:
    """Every exported error class derives from LeadSquaredError (itself an Exception)."""
    assert issubclass(error, lsq.LeadSquaredError)
    assert issubclass(lsq.LeadSquaredError, Exception)


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        pytest.param(lsq.ValidationError, ValueError, id="validation-is-value-error"),
        pytest.param(lsq.WrongEventLoopError, RuntimeError, id="wrong-loop-is-runtime-error"),
        pytest.param(lsq.LeadNotFoundError, lsq.LeadRejectedError, id="not-found-is-rejected"),
        pytest.param(lsq.DeliveryTimeoutError, lsq.RateLimitedError, id="timeout-is-rate-limited"),
        pytest.param(
            lsq.LimiterUnavailableError, lsq.RateLimitedError, id="limiter-is-rate-limited"
        ),
        pytest.param(
            lsq.ResponseMismatchError, lsq.OutcomeUnknownError, id="mismatch-is-outcome-unknown"
        ),
        pytest.param(
            lsq.ServiceUnavailableError, lsq.ServiceError, id="unavailable-is-service-error"
        ),
    ],
)
def test_exception_tree(child: type[Exception], parent: type[Exception]) -> None:
    """The documented branches of the exception tree hold."""
    assert issubclass(child, parent)


@pytest.mark.parametrize(
    ("child", "not_parent"),
    [
        pytest.param(lsq.OutcomeUnknownError, lsq.ServiceError, id="unknown-not-service"),
        pytest.param(lsq.RateLimitedError, lsq.ServiceError, id="rate-limited-not-service"),
        pytest.param(lsq.LeadRejectedError, ValueError, id="rejected-not-value-error"),
        pytest.param(lsq.ClientClosedError, lsq.RateLimitedError, id="closed-not-rate-limited"),
        pytest.param(
            lsq.ServiceUnavailableError, lsq.RateLimitedError, id="unavailable-not-rate-limited"
        ),
        pytest.param(lsq.EndpointNotFoundError, lsq.ServiceError, id="no-api-not-service"),
        pytest.param(lsq.EndpointNotFoundError, lsq.LeadRejectedError, id="no-api-not-rejected"),
    ],
)
def test_exception_branches_are_distinct(
    child: type[Exception], not_parent: type[Exception]
) -> None:
    """Branches that mean different things do not catch each other."""
    assert not issubclass(child, not_parent)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(lsq.ValidationError("fields", "must not be empty"), id="validation"),
        pytest.param(lsq.LeadRejectedError("dup", "MXDuplicateEntryException"), id="rejected"),
        pytest.param(lsq.LeadRejectedError("no reason type"), id="rejected-no-type"),
        pytest.param(lsq.LeadNotFoundError("gone", "MXInvalidEntityException"), id="not-found"),
        pytest.param(lsq.ServiceError("HTTP 503"), id="service"),
        pytest.param(lsq.OutcomeUnknownError("lost"), id="outcome-unknown"),
        pytest.param(lsq.ResponseMismatchError("missing row"), id="mismatch"),
        pytest.param(lsq.DeliveryTimeoutError("late"), id="delivery-timeout"),
        pytest.param(lsq.LimiterUnavailableError("redis down"), id="limiter-unavailable"),
        pytest.param(lsq.ClientClosedError("closed"), id="closed"),
        pytest.param(lsq.WrongEventLoopError("other loop"), id="wrong-loop"),
        pytest.param(lsq.QueueFullError("full"), id="queue-full"),
        pytest.param(lsq.AuthenticationError("401"), id="auth"),
        pytest.param(lsq.AuthenticationError("401 at h", "h.example"), id="auth-host"),
        pytest.param(
            lsq.EndpointNotFoundError("no such API", "https://h/v2/x", 405), id="no-such-api"
        ),
        pytest.param(lsq.ServiceUnavailableError("down", "https://h/v2/x"), id="unavailable"),
    ],
)
def test_errors_pickle_round_trip(error: lsq.LeadSquaredError) -> None:
    """Every error survives pickling with its type, message and attributes."""
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert again.args == error.args
    for attribute in ("field", "rule", "reason", "exception_type", "host", "url", "status"):
        if hasattr(error, attribute):
            assert getattr(again, attribute) == getattr(error, attribute)


def test_error_messages() -> None:
    """ValidationError and LeadRejectedError render their parts into str()."""
    assert str(lsq.ValidationError("fields", "must not be empty")) == "fields: must not be empty"
    assert str(lsq.LeadRejectedError("dup", "MXDup")) == "MXDup: dup"
    assert str(lsq.LeadRejectedError("dup")) == "dup"


async def test_repr_hides_the_keys() -> None:
    """repr() and str() of a client name its URL but never show the secret key."""
    secret = "s3cr3t-SECRET-value-0123456789abcdef"
    async with lsq.LeadSquaredClient(DEMO_ACCESS_KEY, secret, host="api-in21.leadsquared.com") as c:
        for text in (repr(c), str(c), f"{c!r}"):
            assert secret not in text
            assert "api-in21.leadsquared.com" in text
    assert secret not in repr(c)
    assert "closed" in repr(c)


async def test_repr_of_demo_client_hides_demo_secret() -> None:
    """The demo secret key never shows in repr(client) either."""
    async with lsq.LeadSquaredClient(DEMO_ACCESS_KEY, DEMO_SECRET_KEY) as client:
        assert DEMO_SECRET_KEY not in repr(client)
        assert "open" in repr(client)


def test_validate_runs_submits_checks_without_sending() -> None:
    """lsq.validate() raises the ValidationError submit() would, and passes a good operation."""
    lsq.validate(lsq.CreateLead({"FirstName": "Ada"}))
    lsq.validate(lsq.UpdateLead({"Phone": "+91-98765"}, "Phone"))
    with pytest.raises(lsq.ValidationError, match="a new lead needs one of"):
        lsq.validate(lsq.CreateLead({"mx_City": "Pune"}))
    with pytest.raises(lsq.ValidationError, match="search_by attribute is missing"):
        lsq.validate(lsq.UpdateLead({"FirstName": "Ada"}))
    with pytest.raises(lsq.ValidationError, match="expected CreateLead"):
        lsq.validate("not an operation")  # type: ignore[arg-type]
