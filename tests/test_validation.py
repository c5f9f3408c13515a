"""Every ValidationError rule, raised at the call that made it and before anything is queued."""

from __future__ import annotations

import asyncio
import datetime as dt
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async._api.encoding import MAX_FIELDS, MAX_VALUE_LENGTH
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

BASE_URL = "https://api-in21.leadsquared.com"
RATE = lsq.RateLimit(25, 0.25)
GUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
EMAIL = {"EmailAddress": "ann@example.com"}

Env = tuple[FakeLeadSquared, lsq.LeadSquaredClient]


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    """A client wired in-process to a fresh fake."""
    fake = FakeLeadSquared(rate_limit=RATE)
    async with (
        httpx2.AsyncClient(transport=fake.transport()) as http,
        lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=BASE_URL, http_client=http, rate_limit=RATE
        ) as client,
    ):
        yield fake, client


def with_email(**fields: Any) -> dict[str, Any]:
    """A create-able field mapping plus ``fields``."""
    return {**EMAIL, **fields}


# (id, operation, expected .field, text the rule must contain)
BAD_OPS: list[tuple[str, object, str, str]] = [
    ("empty-mapping", lsq.CreateLead({}), "fields", "must not be empty"),
    ("not-a-mapping-list", lsq.CreateLead(["EmailAddress"]), "fields", "must be a mapping"),  # type: ignore[arg-type]
    ("not-a-mapping-str", lsq.UpsertLead("EmailAddress=x"), "fields", "not str"),  # type: ignore[arg-type]
    ("non-str-attribute", lsq.CreateLead({1: "x"}), "fields[1]", "non-empty strings"),  # type: ignore[dict-item]
    ("empty-attribute", lsq.CreateLead(with_email(**{"": "x"})), "''", "non-empty strings"),
    ("blank-attribute", lsq.CreateLead(with_email(**{"  ": "x"})), "'  '", "non-empty strings"),
    (
        "list-value",
        lsq.CreateLead(with_email(mx_Tags=["a", "b"])),
        "mx_Tags",
        "unsupported value type list",
    ),
    (
        "mapping-in-a-mapping-value",
        lsq.CreateLead(with_email(mx_KYC={"Inner": {"Status": "ok"}})),
        "mx_KYC",
        "custom field sets cannot be nested",
    ),
    (
        "field-set-in-a-mapping-value",
        lsq.CreateLead(with_email(mx_KYC={"Inner": lsq.CustomFieldSet({"Status": "ok"})})),
        "mx_KYC",
        "custom field sets cannot be nested",
    ),
    (
        "mapping-proxy-in-a-field-set",
        lsq.CreateLead(
            with_email(mx_KYC=lsq.CustomFieldSet({"Inner": types.MappingProxyType({"a": "b"})}))
        ),
        "mx_KYC",
        "custom field sets cannot be nested",
    ),
    (
        "list-in-a-mapping-value",
        lsq.CreateLead(with_email(mx_KYC={"Docs": ["a", "b"]})),
        "Docs",
        "unsupported value type list",
    ),
    (
        "non-str-name-in-a-mapping-value",
        lsq.CreateLead(with_email(mx_KYC={1: "a"})),
        "mx_KYC[1]",
        "non-empty strings",
    ),
    (
        "mapping-value-for-update-field",
        lsq.UpdateField(GUID, "mx_KYC", {"Status": "ok"}),
        "mx_KYC",
        "pass a scalar value",
    ),
    ("set-value", lsq.CreateLead(with_email(mx_S={"a"})), "mx_S", "unsupported value type set"),
    ("tuple-value", lsq.CreateLead(with_email(mx_T=("a",))), "mx_T", "unsupported value type"),
    ("bytes-value", lsq.CreateLead(with_email(mx_B=b"abc")), "mx_B", "bytes are not field values"),
    (
        "bytearray-value",
        lsq.CreateLead(with_email(mx_B=bytearray(b"abc"))),
        "mx_B",
        "bytes are not field values",
    ),
    (
        "object-value",
        lsq.CreateLead(with_email(mx_O=object())),
        "mx_O",
        "unsupported value type object",
    ),
    ("float-nan", lsq.CreateLead(with_email(mx_N=float("nan"))), "mx_N", "finite number"),
    ("float-inf", lsq.CreateLead(with_email(mx_N=float("inf"))), "mx_N", "finite number"),
    ("float-neg-inf", lsq.CreateLead(with_email(mx_N=float("-inf"))), "mx_N", "finite number"),
    ("decimal-nan", lsq.CreateLead(with_email(mx_N=Decimal("NaN"))), "mx_N", "finite number"),
    (
        "decimal-inf",
        lsq.CreateLead(with_email(mx_N=Decimal("-Infinity"))),
        "mx_N",
        "finite number",
    ),
    (
        "naive-datetime",
        lsq.CreateLead(with_email(mx_When=dt.datetime(2024, 1, 2, 3, 4, 5))),
        "mx_When",
        "timezone-aware",
    ),
    (
        "huge-string",
        lsq.CreateLead(with_email(mx_Notes="x" * (MAX_VALUE_LENGTH + 1))),
        "mx_Notes",
        f"longer than {MAX_VALUE_LENGTH} characters",
    ),
    (
        "huge-string-in-custom-field-set",
        lsq.CreateLead(
            with_email(mx_KYC=lsq.CustomFieldSet({"Doc": "x" * (MAX_VALUE_LENGTH + 1)}))
        ),
        "Doc",
        "longer than",
    ),
    (
        "lone-surrogate",
        lsq.CreateLead(with_email(mx_Name="ab\udcffcd")),
        "mx_Name",
        "not valid UTF-8",
    ),
    (
        "lone-surrogate-attribute",
        lsq.CreateLead(with_email(**{"mx_\udcff": "x"})),
        "mx_\udcff",
        "not valid UTF-8",
    ),
    (
        "too-many-fields",
        lsq.CreateLead(with_email(**{f"mx_F{i}": "v" for i in range(10_000)})),
        "fields",
        f"at most {MAX_FIELDS} are allowed",
    ),
    (
        "create-without-identity",
        lsq.CreateLead({"mx_City": "Pune", "Company": "Acme"}),
        "fields",
        "a new lead needs one of EmailAddress, Phone, FirstName, LastName",
    ),
    (
        "create-with-blank-identity",
        lsq.CreateLead({"EmailAddress": "   ", "Phone": "", "FirstName": None}),
        "fields",
        "a new lead needs one of",
    ),
    (
        "upsert-without-key",
        lsq.UpsertLead({"FirstName": "Ann", "mx_City": "Pune"}),
        "fields",
        "an upsert needs EmailAddress, Phone or a search_by attribute",
    ),
    (
        "upsert-search-by-missing",
        lsq.UpsertLead(with_email(FirstName="Ann"), search_by="mx_Code"),
        "mx_Code",
        "the search_by attribute is missing from fields",
    ),
    (
        "upsert-search-by-blank-value",
        lsq.UpsertLead(with_email(mx_Code="  "), search_by="mx_Code"),
        "mx_Code",
        "missing from fields",
    ),
    (
        "upsert-search-by-empty",
        lsq.UpsertLead(with_email(), search_by=""),
        "search_by",
        "non-empty attribute name",
    ),
    (
        "update-search-by-missing-default",
        lsq.UpdateLead({"FirstName": "Ann"}),
        "EmailAddress",
        "the search_by attribute is missing from fields",
    ),
    (
        "update-search-by-missing-custom",
        lsq.UpdateLead(with_email(), search_by="Phone"),
        "Phone",
        "missing from fields",
    ),
    (
        "update-search-by-empty",
        lsq.UpdateLead(with_email(), search_by=" "),
        "search_by",
        "non-empty attribute name",
    ),
    (
        "update-by-prospectid-missing",
        lsq.UpdateLead({"FirstName": "Ann"}, search_by="ProspectId"),
        "ProspectId",
        "missing from fields",
    ),
    (
        "update-by-prospectid-not-guid",
        lsq.UpdateLead({"ProspectId": "12345", "FirstName": "Ann"}, search_by="ProspectId"),
        "ProspectId",
        "must be a LeadId GUID",
    ),
    ("by-id-empty-id", lsq.UpdateLeadById("", {"FirstName": "A"}), "lead_id", "non-empty string"),
    (
        "by-id-blank-id",
        lsq.UpdateLeadById("   ", {"FirstName": "A"}),
        "lead_id",
        "non-empty string",
    ),
    (
        "by-id-not-guid",
        lsq.UpdateLeadById("lead-42", {"FirstName": "A"}),
        "lead_id",
        "must be a LeadId GUID, got 'lead-42'",
    ),
    (
        "by-id-not-guid-post-updated",
        lsq.UpdateLeadById("lead-42", {"FirstName": "A"}, post_updated_lead=True),
        "lead_id",
        "must be a LeadId GUID",
    ),
    (
        "by-id-empty-fields",
        lsq.UpdateLeadById(GUID, {}),
        "fields",
        "must not be empty",
    ),
    (
        "by-id-empty-fields-post-updated",
        lsq.UpdateLeadById(GUID, {}, post_updated_lead=True),
        "fields",
        "must not be empty",
    ),
    ("field-empty-id", lsq.UpdateField("", "mx_Stage", "Won"), "lead_id", "non-empty string"),
    ("field-not-guid", lsq.UpdateField("abc", "mx_Stage", "Won"), "lead_id", "GUID"),
    (
        "field-custom-field-set",
        lsq.UpdateField(GUID, "mx_KYC", lsq.CustomFieldSet({"Status": "ok"})),
        "mx_KYC",
        "cannot set a custom field set",
    ),
    (
        "field-empty-attribute",
        lsq.UpdateField(GUID, "", "Won"),
        "attribute",
        "attribute names must be non-empty strings",
    ),
    (
        "field-blank-attribute",
        lsq.UpdateField(GUID, "  ", "Won"),
        "attribute",
        "non-empty strings",
    ),
    (
        "field-bad-value",
        lsq.UpdateField(GUID, "mx_Score", float("nan")),
        "mx_Score",
        "finite number",
    ),
    (
        "field-empty-lead-type",
        lsq.UpdateField(GUID, "mx_Stage", "Won", lead_type=""),
        "lead_type",
        "non-empty string",
    ),
    (
        "create-reserved-searchby",
        lsq.CreateLead(with_email(SearchBy="EmailAddress")),
        "SearchBy",
        "is reserved",
    ),
    (
        "upsert-reserved-searchby",
        lsq.UpsertLead(with_email(SearchBy="EmailAddress")),
        "SearchBy",
        "is reserved; pass it as an argument instead",
    ),
    (
        "update-reserved-searchby",
        lsq.UpdateLead(with_email(SearchBy="EmailAddress")),
        "SearchBy",
        "is reserved",
    ),
    (
        "by-id-reserved-prospectid",
        lsq.UpdateLeadById(GUID, {"ProspectId": GUID, "FirstName": "A"}),
        "ProspectId",
        "is reserved",
    ),
    (
        "by-id-reserved-prospectid-post-updated",
        lsq.UpdateLeadById(GUID, {"ProspectID": GUID}, post_updated_lead=True),
        "ProspectID",
        "is reserved",
    ),
    (
        "nested-custom-field-set",
        lsq.CreateLead(
            with_email(mx_KYC=lsq.CustomFieldSet({"Inner": lsq.CustomFieldSet({"Status": "ok"})}))
        ),
        "mx_KYC",
        "custom field sets cannot be nested",
    ),
    (
        "custom-field-set-not-a-mapping",
        lsq.CreateLead(with_email(mx_KYC=lsq.CustomFieldSet(["Status"]))),  # type: ignore[arg-type]
        "mx_KYC",
        "must be a mapping",
    ),
    ("not-an-operation-str", "create a lead", "operation", "expected CreateLead, UpsertLead"),
    ("not-an-operation-dict", dict(EMAIL), "operation", "not dict"),
    ("not-an-operation-none", None, "operation", "not NoneType"),
]


def check_error(error: BaseException, field: str, rule: str) -> None:
    """Assert ``error`` is a ValidationError (and ValueError) naming ``field`` and ``rule``."""
    assert isinstance(error, lsq.ValidationError)
    assert isinstance(error, ValueError)
    assert error.field == field
    assert rule in error.rule
    assert str(error) == f"{field}: {error.rule}"


async def assert_nothing_queued(fake: FakeLeadSquared, client: lsq.LeadSquaredClient) -> None:
    """Assert no row waits and no call ever reached the fake."""
    stats = client.stats()
    assert stats.pending == 0
    assert stats.in_flight == 0
    await client.flush()
    assert client.stats().calls == 0
    assert len(fake.ledger) == 0


@pytest.mark.parametrize(
    ("op", "field", "rule"), [case[1:] for case in BAD_OPS], ids=[case[0] for case in BAD_OPS]
)
async def test_submit_rejects_bad_operation(env: Env, op: Any, field: str, rule: str) -> None:
    """submit() raises the rule's ValidationError, naming the field, before anything is queued."""
    fake, client = env
    with pytest.raises(lsq.ValidationError) as info:
        await client.submit(op)
    check_error(info.value, field, rule)
    await assert_nothing_queued(fake, client)


Call = Callable[[lsq.LeadSquaredClient], Awaitable[object]]

CONVENIENCE: list[tuple[str, Call, str, str]] = [
    ("create-empty", lambda c: c.create_lead({}), "fields", "must not be empty"),
    (
        "create-no-identity",
        lambda c: c.create_lead({"mx_City": "Pune"}),
        "fields",
        "needs one of",
    ),
    (
        "upsert-no-key",
        lambda c: c.upsert_lead({"FirstName": "Ann"}),
        "fields",
        "an upsert needs",
    ),
    (
        "upsert-search-by-missing",
        lambda c: c.upsert_lead(with_email(), search_by="mx_Code"),
        "mx_Code",
        "missing from fields",
    ),
    (
        "update-search-by-missing",
        lambda c: c.update_lead({"FirstName": "Ann"}),
        "EmailAddress",
        "missing from fields",
    ),
    (
        "update-by-prospectid-missing",
        lambda c: c.update_lead({"FirstName": "Ann"}, search_by="ProspectId"),
        "ProspectId",
        "missing from fields",
    ),
    (
        "by-id-empty",
        lambda c: c.update_lead_by_id("", {"FirstName": "A"}),
        "lead_id",
        "non-empty string",
    ),
    (
        "by-id-not-guid",
        lambda c: c.update_lead_by_id("not-a-guid", {"FirstName": "A"}),
        "lead_id",
        "GUID",
    ),
    (
        "by-id-post-updated-not-guid",
        lambda c: c.update_lead_by_id("x", {"FirstName": "A"}, post_updated_lead=True),
        "lead_id",
        "GUID",
    ),
    (
        "field-empty-id",
        lambda c: c.update_field("", "mx_Stage", "Won"),
        "lead_id",
        "non-empty string",
    ),
    (
        "field-not-guid",
        lambda c: c.update_field("12", "mx_Stage", "Won"),
        "lead_id",
        "GUID",
    ),
    (
        "field-custom-field-set",
        lambda c: c.update_field(GUID, "mx_KYC", lsq.CustomFieldSet()),
        "mx_KYC",
        "custom field set",
    ),
    (
        "field-empty-attribute",
        lambda c: c.update_field(GUID, "", "Won"),
        "attribute",
        "non-empty strings",
    ),
    (
        "create-naive-datetime",
        lambda c: c.create_lead(with_email(mx_When=dt.datetime(2024, 1, 1))),
        "mx_When",
        "timezone-aware",
    ),
]


@pytest.mark.parametrize(
    ("call", "field", "rule"),
    [case[1:] for case in CONVENIENCE],
    ids=[case[0] for case in CONVENIENCE],
)
async def test_convenience_method_rejects_bad_input(
    env: Env, call: Call, field: str, rule: str
) -> None:
    """The convenience methods raise the same ValidationError at the call, queueing nothing."""
    fake, client = env
    with pytest.raises(lsq.ValidationError) as info:
        await call(client)
    check_error(info.value, field, rule)
    await assert_nothing_queued(fake, client)


# Attribute names are compared without case everywhere else in the library (``_value_of``), and
# the fake (like the service) treats them so; a reserved name in another case must not slip past
# the reserved check (regression: it once retargeted update_lead_by_id to another lead).
RESERVED_CASE_VARIANTS: list[tuple[str, object, str]] = [
    ("upsert-searchby-lowercase", lsq.UpsertLead(with_email(searchby="Phone")), "searchby"),
    ("create-SEARCHBY-uppercase", lsq.CreateLead(with_email(SEARCHBY="Phone")), "SEARCHBY"),
    (
        "by-id-prospectid-lowercase",
        lsq.UpdateLeadById(GUID, {"prospectid": "0f2504e0-4f89-41d3-9a0c-0305e82c3301"}),
        "prospectid",
    ),
]


@pytest.mark.parametrize(
    ("op", "field"),
    [case[1:] for case in RESERVED_CASE_VARIANTS],
    ids=[case[0] for case in RESERVED_CASE_VARIANTS],
)
async def test_reserved_attribute_in_any_case_is_rejected(env: Env, op: Any, field: str) -> None:
    """A reserved attribute (SearchBy, ProspectId) is refused whatever its letter case."""
    fake, client = env
    with pytest.raises(lsq.ValidationError) as info:
        await client.submit(op)
    check_error(info.value, field, "is reserved")
    await assert_nothing_queued(fake, client)


async def test_update_by_id_never_touches_another_lead(env: Env) -> None:
    """update_lead_by_id(A, ...) never changes lead B, even if fields name B's id in lowercase."""
    fake, client = env
    first = await client.create_lead({"EmailAddress": "a@example.com", "FirstName": "A"})
    second = await client.create_lead({"EmailAddress": "b@example.com", "FirstName": "B"})
    try:
        await client.update_lead_by_id(
            first.lead_id, {"prospectid": second.lead_id, "FirstName": "Changed"}
        )
    except lsq.LeadSquaredError:
        pass
    stored = fake.store.get(second.lead_id)
    assert stored is not None
    assert stored["FirstName"] == "B"


async def test_signaling_nan_decimal_is_a_validation_error(env: Env) -> None:
    """Decimal('sNaN') is refused with a ValidationError naming the field, like Decimal('NaN')."""
    _, client = env
    with pytest.raises(lsq.ValidationError) as info:
        await client.create_lead(with_email(mx_N=Decimal("sNaN")))
    check_error(info.value, "mx_N", "finite number")


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param(with_email(mx_Notes="x" * MAX_VALUE_LENGTH), id="longest-string"),
        pytest.param(
            with_email(**{f"mx_F{i}": "v" for i in range(MAX_FIELDS - 1)}), id="most-fields"
        ),
        pytest.param({"emailaddress": "a@example.com"}, id="identity-any-case"),
        pytest.param({"LastName": "Only"}, id="lastname-only"),
        pytest.param(with_email(mx_KYC=lsq.CustomFieldSet()), id="empty-custom-field-set"),
    ],
)
async def test_limits_are_inclusive(env: Env, fields: dict[str, Any]) -> None:
    """Values at the limits (and valid edge shapes) are accepted and the lead is created."""
    fake, client = env
    result = await client.create_lead(fields)
    assert isinstance(result, lsq.LeadCreated)
    assert fake.store.get(result.lead_id) is not None


async def test_bad_row_does_not_spoil_its_batch(env: Env) -> None:
    """Valid creates submitted concurrently with a bad one all succeed, in one call."""
    fake, client = env
    results = await asyncio.gather(
        client.create_lead({"EmailAddress": "one@example.com"}),
        client.create_lead({"EmailAddress": "bad@example.com", "mx_X": [1]}),
        client.create_lead({"EmailAddress": "two@example.com"}),
        client.create_lead({}),
        return_exceptions=True,
    )
    assert isinstance(results[0], lsq.LeadCreated)
    assert isinstance(results[2], lsq.LeadCreated)
    check_error(results[1], "mx_X", "unsupported value type list")
    check_error(results[3], "fields", "must not be empty")
    assert fake.ledger.rows_per_call("Lead/Bulk/Create") == [2]
    assert fake.store.find_by_email("one@example.com") is not None
    assert fake.store.find_by_email("two@example.com") is not None
    assert fake.store.find_by_email("bad@example.com") is None


async def test_rejected_submit_uses_no_admission_slot() -> None:
    """A refused operation gives back no slot it did not take: max_pending=1 still admits one."""
    fake = FakeLeadSquared(rate_limit=RATE)
    async with (
        httpx2.AsyncClient(transport=fake.transport()) as http,
        lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            base_url=BASE_URL,
            http_client=http,
            rate_limit=RATE,
            max_pending=1,
        ) as client,
    ):
        for _ in range(3):
            with pytest.raises(lsq.ValidationError):
                await client.submit(lsq.CreateLead({}), wait=False)
        future = await client.submit(lsq.CreateLead(dict(EMAIL)), wait=False)
        assert isinstance(await future, lsq.LeadCreated)


KEYS = (DEMO_ACCESS_KEY, DEMO_SECRET_KEY)

CONSTRUCTOR: list[tuple[str, tuple[Any, Any], dict[str, Any], str, str]] = [
    ("empty-access-key", ("", DEMO_SECRET_KEY), {}, "access_key", "non-empty string"),
    ("blank-access-key", ("  ", DEMO_SECRET_KEY), {}, "access_key", "non-empty string"),
    ("none-access-key", (None, DEMO_SECRET_KEY), {}, "access_key", "non-empty string"),
    ("empty-secret-key", (DEMO_ACCESS_KEY, ""), {}, "secret_key", "non-empty string"),
    (
        "host-and-base-url",
        KEYS,
        {"host": "api-in21.leadsquared.com", "base_url": BASE_URL},
        "base_url",
        "not both",
    ),
    (
        "base-url-without-scheme",
        KEYS,
        {"base_url": "api-in21.leadsquared.com"},
        "base_url",
        "must start with https://",
    ),
    ("base-url-ftp", KEYS, {"base_url": "ftp://example.com"}, "base_url", "https://"),
    ("negative-linger", KEYS, {"linger": -0.1}, "linger", "must be a number >= 0"),
    ("nan-linger", KEYS, {"linger": float("nan")}, "linger", ">= 0"),
    ("max-pending-zero", KEYS, {"max_pending": 0}, "max_pending", "must be an int >= 1"),
    ("max-pending-float", KEYS, {"max_pending": 5.0}, "max_pending", "an int"),
    ("max-pending-bool", KEYS, {"max_pending": True}, "max_pending", "an int"),
    ("max-in-flight-zero", KEYS, {"max_in_flight": 0}, "max_in_flight", ">= 1"),
    ("negative-retries", KEYS, {"max_retries": -1}, "max_retries", ">= 0"),
    ("zero-delivery-timeout", KEYS, {"delivery_timeout": 0}, "delivery_timeout", ">= 0.001"),
    ("zero-timeout", KEYS, {"timeout": 0}, "timeout", ">= 0.001"),
    ("negative-backoff", KEYS, {"backoff": -1}, "backoff", ">= 0"),
    (
        "rate-limit-and-limiter",
        KEYS,
        {"rate_limit": RATE, "limiter": lsq.SlidingWindowLimiter(RATE)},
        "limiter",
        "not both",
    ),
]


@pytest.mark.parametrize(
    ("args", "kwargs", "field", "rule"),
    [case[1:] for case in CONSTRUCTOR],
    ids=[case[0] for case in CONSTRUCTOR],
)
def test_constructor_rejects_bad_arguments(
    args: tuple[Any, Any], kwargs: dict[str, Any], field: str, rule: str
) -> None:
    """LeadSquaredClient(...) raises a ValidationError naming the bad argument."""
    with pytest.raises(lsq.ValidationError) as info:
        lsq.LeadSquaredClient(*args, **kwargs)
    check_error(info.value, field, rule)


def test_constructor_rejects_bulk_rate_limit_and_bulk_limiter() -> None:
    """Giving both bulk_rate_limit and bulk_limiter is refused, like rate_limit and limiter."""
    with pytest.raises(lsq.ValidationError) as info:
        lsq.LeadSquaredClient(
            *KEYS,
            bulk_rate_limit=lsq.RateLimit(10, 5),
            bulk_limiter=lsq.SlidingWindowLimiter(lsq.RateLimit(20, 5)),
        )
    check_error(info.value, "bulk_limiter", "not both")


async def test_constructor_accepts_valid_arguments() -> None:
    """The documented argument forms build a client whose base_url has no trailing slash."""
    async with lsq.LeadSquaredClient(*KEYS, host="api-in21.leadsquared.com") as by_host:
        assert by_host.base_url == "https://api-in21.leadsquared.com"
    async with lsq.LeadSquaredClient(*KEYS, base_url="http://127.0.0.1:8080/") as by_url:
        assert by_url.base_url == "http://127.0.0.1:8080"
    async with lsq.LeadSquaredClient(*KEYS, linger=0, max_retries=0) as default:
        assert default.base_url == f"https://{lsq.DEFAULT_HOST}"


async def seeded_lead(client: lsq.LeadSquaredClient) -> str:
    """Create one lead (a@example.com, FirstName A) and give its id."""
    created = await client.create_lead({"EmailAddress": "a@example.com", "FirstName": "A"})
    return created.lead_id


@pytest.mark.parametrize(
    "spell",
    [
        pytest.param(lambda g: "{" + g + "}", id="braces"),
        pytest.param(lambda g: "urn:uuid:" + g, id="urn"),
        pytest.param(lambda g: g.replace("-", ""), id="no-hyphens"),
    ],
)
@pytest.mark.parametrize("method", ["update_lead_by_id", "update_lead_by_id_post", "update_field"])
async def test_non_canonical_guid_is_refused_or_normalised(
    env: Env, spell: Callable[[str], str], method: str
) -> None:
    """A lead id in another GUID spelling is refused at the call or reaches the right lead."""
    fake, client = env
    lead_id = await seeded_lead(client)
    spelled = spell(lead_id)
    refused: lsq.ValidationError | None = None
    try:
        if method == "update_field":
            await client.update_field(spelled, "mx_X", "1")
        else:
            post = method.endswith("_post")
            await client.update_lead_by_id(spelled, {"mx_X": "1"}, post_updated_lead=post)
    except lsq.ValidationError as error:
        refused = error
    if refused is not None:
        assert refused.field == "lead_id"
        return
    stored = fake.store.get(lead_id)
    assert stored is not None
    assert stored["mx_X"] == "1"


@pytest.mark.parametrize("search_by", ["LeadId", "Id", "leadid"])
async def test_update_by_id_alias_updates_or_is_refused(env: Env, search_by: str) -> None:
    """update_lead matched by an id alias (LeadId, Id) updates the lead, or is refused."""
    fake, client = env
    lead_id = await seeded_lead(client)
    refused: lsq.ValidationError | None = None
    result: lsq.LeadUpdated | None = None
    try:
        result = await client.update_lead(
            {search_by: lead_id, "FirstName": "Z"}, search_by=search_by
        )
    except lsq.ValidationError as error:
        refused = error
    if refused is not None:
        assert refused.field == search_by
        return
    assert result is not None
    assert result.lead_id == lead_id
    stored = fake.store.get(lead_id)
    assert stored is not None
    assert stored["FirstName"] == "Z"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda c: c.create_lead({"EmailAddress": "c@example.com", "emailaddress": "d@x.com"}),
            id="create",
        ),
        pytest.param(
            lambda c: c.update_lead(
                {"EmailAddress": "a@example.com", "EMAILADDRESS": "b@x.com", "FirstName": "Z"}
            ),
            id="update",
        ),
        pytest.param(
            lambda c: c.upsert_lead({"Phone": "1", "phone": "2"}),
            id="upsert",
        ),
    ],
)
async def test_attribute_repeated_in_another_case_is_refused(env: Env, call: Call) -> None:
    """A mapping naming one attribute twice (differing only in case) is refused at the call."""
    fake, client = env
    with pytest.raises(lsq.ValidationError) as info:
        await call(client)
    assert info.value.field.casefold() in ("emailaddress", "phone")
    await assert_nothing_queued(fake, client)
