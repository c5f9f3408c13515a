"""What a user writes must type-check under ``mypy --strict`` (checked by CI, never run).

Like hynek/stamina's ``tests/typing``: each function is ordinary user code; an error here is a
signature that makes users cast or ignore. ``uv run mypy --strict tests/typing`` checks it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterator, Mapping
from decimal import Decimal
from typing import Any

import httpx2

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, PLANS, FakeLeadSquared

# -- building a client ---------------------------------------------------------------------


def build(access_key: str, secret_key: str) -> lsq.LeadSquaredClient:
    """A client with the everyday options."""
    return lsq.LeadSquaredClient(
        access_key,
        secret_key,
        host="api-in21.leadsquared.com",
        rate_limit=lsq.RateLimit(calls=25, period=5.0),
        delivery_timeout=10,
        linger=0.01,
    )


def from_env(environ: Mapping[str, str]) -> lsq.LeadSquaredClient:
    """From the environment, with keyword overrides."""
    return lsq.LeadSquaredClient.from_env(environ, delivery_timeout=10)


# -- telemetry and hooks of one's own --------------------------------------------------------


def traced(access_key: str, secret_key: str) -> lsq.LeadSquaredClient:
    """Spans and metrics through OpenTelemetry (the otel extra)."""
    telemetry = lsq.OpenTelemetry(row_spans=False)
    return lsq.LeadSquaredClient(access_key, secret_key, telemetry=telemetry)


def counted(access_key: str, secret_key: str, tally: dict[str, int]) -> lsq.LeadSquaredClient:
    """A hook of one's own: count calls by endpoint and outcome."""

    def on_event(event: lsq.Event) -> None:
        if isinstance(event, lsq.CallEnded):
            key = f"{event.endpoint} {event.outcome} {event.status}"
            tally[key] = tally.get(key, 0) + event.rows

    return lsq.LeadSquaredClient(access_key, secret_key, on_event=on_event)


def sync_traced(access_key: str, secret_key: str) -> lsq.SyncLeadSquaredClient:
    """The sync client takes the same telemetry and hooks."""
    return lsq.SyncLeadSquaredClient(
        access_key, secret_key, telemetry=lsq.OpenTelemetry(), on_event=print
    )


# -- handlers taking what a web framework hands them ---------------------------------------


async def sign_up(body: dict[str, str], client: lsq.LeadSquaredClient) -> str:
    """A handler whose body is ``dict[str, str]`` passes it as is."""
    result = await client.upsert_lead(body, search_by="EmailAddress")
    return result.lead_id


async def create_from_strings(body: dict[str, str], client: lsq.LeadSquaredClient) -> str:
    """``create_lead`` takes a ``dict[str, str]`` too."""
    created = await client.create_lead(body)
    return created.lead_id


async def update_from_ints(
    lead_id: str, scores: dict[str, int], client: lsq.LeadSquaredClient
) -> str | None:
    """A ``dict[str, int]`` (or any narrower value type) is a field mapping."""
    updated = await client.update_lead_by_id(lead_id, scores)
    return updated.lead_id


async def from_json(body: dict[str, Any], client: lsq.LeadSquaredClient) -> bool | None:
    """A JSON body typed ``dict[str, Any]``, as FastAPI hands it."""
    upserted = await client.upsert_lead(body)
    return upserted.created  # None when the single-lead road could not tell


async def from_mapping(
    fields: Mapping[str, str | int | None], client: lsq.LeadSquaredClient
) -> str:
    """A read-only ``Mapping`` with a union of value types."""
    return (await client.create_lead(fields)).lead_id


async def with_field_set(
    email: str, kyc: dict[str, str], client: lsq.LeadSquaredClient
) -> lsq.LeadCreated:
    """A nested mapping is a custom field set, in a literal or from a typed dict."""
    await client.update_lead({"EmailAddress": email, "mx_KYC": {"Status": "Pending"}})
    return await client.create_lead({"EmailAddress": email, "mx_KYC": kyc})


# -- every method, every value type, every result's attributes -----------------------------


async def every_call(client: lsq.LeadSquaredClient) -> None:
    """The README's calls, with each result's attributes read at their types."""
    created = await client.create_lead(
        {
            "EmailAddress": "a@example.com",
            "FirstName": "A",
            "mx_Score": 5,
            "mx_Ratio": 0.5,
            "mx_Amount": Decimal("9.99"),
            "mx_Active": True,
            "mx_Born": dt.date(1990, 1, 2),
            "mx_Seen": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "mx_Cleared": None,
            "mx_KYC": lsq.CustomFieldSet(fields={"Status": "Pending"}, value="x"),
        }
    )
    lead_id: str = created.lead_id

    upserted = await client.upsert_lead({"EmailAddress": "a@example.com", "mx_City": "Pune"})
    was_created: bool | None = upserted.created  # None: Lead.CreateOrUpdate does not say
    was_updated: bool | None = upserted.updated

    updated = await client.update_lead(
        {"EmailAddress": "a@example.com", "mx_City": "Goa"}, search_by="EmailAddress"
    )
    search_by: str = updated.search_by
    search_value: str = updated.search_value
    maybe_id: str | None = updated.lead_id

    await client.update_lead_by_id(lead_id, {"mx_City": "Goa"}, post_updated_lead=True)

    field = await client.update_field(lead_id, "mx_Stage", "Hot", lead_type="OT_1")
    confirmed: bool = field.confirmed
    counts: tuple[int, int] = (field.affected_rows, field.call_rows)

    await client.flush()
    stats: lsq.Stats = client.stats()
    per_call: float = stats.mean_rows_per_call
    calls: int = stats.endpoints["Lead/Bulk/Create"].calls
    report: lsq.CloseReport = await client.aclose(timeout=5)
    sent: int = report.sent
    del was_created, was_updated, search_by, search_value, maybe_id, confirmed, counts
    del per_call, calls, sent


async def operations(client: lsq.LeadSquaredClient, rows: list[dict[str, str]]) -> int:
    """``submit()`` and ``stream()`` with operations built from plain dicts."""
    future = await client.submit(lsq.CreateLead(rows[0], priority=lsq.Priority.BULK))
    result: lsq.Result = await future
    if isinstance(result, lsq.LeadCreated):
        lead_id: str = result.lead_id
        del lead_id
    ops = (lsq.UpsertLead(row, search_by="Phone") for row in rows)
    failed = 0
    async for outcome in client.stream(ops):
        operation: lsq.Operation = outcome.operation
        error: BaseException | None = outcome.error
        if not outcome.ok:
            failed += 1
        del operation, error
    more: list[lsq.Operation] = [
        lsq.UpdateLead(rows[0]),
        lsq.UpdateLeadById("3f2504e0-4f89-41d3-9a0c-0305e82c3301", rows[0]),
        lsq.UpdateField("3f2504e0-4f89-41d3-9a0c-0305e82c3301", "mx_Stage", "Hot"),
    ]
    async for outcome in client.stream(more, priority=lsq.Priority.INTERACTIVE):
        if outcome.result is not None:
            failed -= 0
    return failed


# -- lookups and activities ----------------------------------------------------------------


async def look_up(client: lsq.LeadSquaredClient, lead_id: str) -> str | None:
    """Lookups answer a ``Lead`` or None; typed values are read on demand."""
    lead = await client.get_lead(lead_id)
    if lead is None:
        return None
    first: str | None = lead.fields.get("FirstName")
    created: dt.datetime | None = lead.datetime("CreatedOn")
    born: dt.date | None = lead.date("mx_Born")
    amount: Decimal | None = lead.decimal("mx_Amount")
    count: int | None = lead.integer("mx_Count")
    flag: bool | None = lead.boolean("DoNotEmail")
    some = await client.get_lead(lead_id, columns=["FirstName", "mx_City"])
    by_email: lsq.Lead | None = await client.find_lead(email="a@example.com")
    by_phone: lsq.Lead | None = await client.find_lead(phone="9876543210")
    del first, created, born, amount, count, flag, some, by_email, by_phone
    return lead.lead_id


async def post(client: lsq.LeadSquaredClient, lead_id: str, scores: dict[str, int]) -> str:
    """``post_activity`` by id or email; fields are any mapping of field values."""
    posted = await client.post_activity(
        lead_id,
        event=201,
        note="Downloaded the brochure",
        fields=scores,
        at=dt.datetime.now(dt.UTC),
    )
    again: lsq.ActivityPosted = await client.post_activity(email="a@example.com", event=201)
    del again
    return posted.activity_id


async def mixed_stream(client: lsq.LeadSquaredClient, lead_id: str) -> list[str]:
    """``stream()`` takes lookups and activities; results narrow by type."""
    ops: list[lsq.Operation] = [
        lsq.GetLead(lead_id, columns="FirstName,mx_City"),
        lsq.FindLead(email="a@example.com"),
        lsq.PostActivity(lead_id=lead_id, event=201, fields={"mx_Custom_1": "pdf"}),
    ]
    found: list[str] = []
    async for outcome in client.stream(ops):
        if isinstance(outcome.result, lsq.Lead):
            found.append(outcome.result.lead_id)
        elif isinstance(outcome.result, lsq.ActivityPosted):
            found.append(outcome.result.activity_id)
    return found


# -- the error tree ------------------------------------------------------------------------


def status_of(error: lsq.LeadSquaredError) -> tuple[int, dict[str, object]]:
    """Map each branch of the tree to an HTTP answer, reading each error's attributes."""
    if isinstance(error, lsq.ValidationError):
        field: str = error.field
        rule: str = error.rule
        return 422, {"field": field, "rule": rule}
    if isinstance(error, lsq.LeadNotFoundError):
        return 404, {"reason": error.reason}
    if isinstance(error, lsq.LeadRejectedError):
        kind: str | None = error.exception_type
        reason: str = error.reason
        return 409, {"exception_type": kind, "reason": reason}
    if isinstance(error, (lsq.DeliveryTimeoutError, lsq.LimiterUnavailableError)):
        return 503, {}
    if isinstance(error, lsq.ServiceUnavailableError):
        unreachable: str = error.url
        return 503, {"url": unreachable}
    if isinstance(error, lsq.EndpointNotFoundError):
        url: str = error.url
        status: int = error.status
        return 500, {"url": url, "status": status}
    if isinstance(error, (lsq.RateLimitedError, lsq.QueueFullError, lsq.ServiceError)):
        return 503, {}
    if isinstance(error, lsq.ClientClosedError):
        return 503, {}
    if isinstance(error, (lsq.ResponseMismatchError, lsq.InFlightTimeoutError)):
        return 502, {"safe_to_resend": error.safe_to_resend}
    if isinstance(error, lsq.OutcomeUnknownError):
        safe: bool = error.safe_to_resend
        return 502, {"safe_to_resend": safe}
    if isinstance(error, lsq.AuthenticationError):
        host: str | None = error.host
        return 500, {"host": host}
    if isinstance(error, lsq.WrongEventLoopError):
        return 500, {}
    return 500, {}


async def region(access_key: str, secret_key: str) -> lsq.LeadSquaredClient:
    """find_host gives the account's host as a str, ready for the client's ``host``."""
    host: str = await lsq.find_host(access_key, secret_key)
    return lsq.LeadSquaredClient(access_key, secret_key, host=host, circuit_calls=5)


async def catching(client: lsq.LeadSquaredClient, body: dict[str, str]) -> str:
    """``except`` clauses narrow to each class (and ValidationError is a ValueError)."""
    try:
        return (await client.create_lead(body)).lead_id
    except ValueError as exc:
        return str(exc)
    except lsq.LeadRejectedError as exc:
        return exc.reason
    except lsq.OutcomeUnknownError as exc:
        return "resend" if exc.safe_to_resend else "look it up"
    except lsq.LeadSquaredError as exc:
        return type(exc).__name__


# -- the sync client, as a Celery task or a Django view uses it ---------------------------


def sync_handler(
    body: dict[str, str], scores: dict[str, int], client: lsq.SyncLeadSquaredClient
) -> str | None:
    """The sync client takes what the async one takes, reads and activities included."""
    created = client.create_lead(body, look_up_first=True, timeout=10)
    client.upsert_lead(body, search_by="EmailAddress")
    client.update_lead(body, cancel_on_timeout=True, timeout=5)
    client.update_lead_by_id(created.lead_id, scores)
    lead: lsq.Lead | None = client.get_lead(created.lead_id, columns=["FirstName"])
    found: lsq.Lead | None = client.find_lead(email=body["EmailAddress"])
    posted = client.post_activity(created.lead_id, event=201, note="signed up", fields=scores)
    activity_id: str = posted.activity_id
    del activity_id
    first = lead.get("FirstName") if lead is not None else None
    return found.lead_id if found is not None else first


def sync_options(access_key: str, secret_key: str) -> lsq.SyncLeadSquaredClient:
    """Every ``Settings`` option by name in both constructors, the redis ones included."""
    shared = lsq.LeadSquaredClient(
        access_key, secret_key, redis_url="redis://cache:6379/0", redis_prefix="shop"
    )
    del shared
    return lsq.SyncLeadSquaredClient(
        access_key,
        secret_key,
        host="api-in21.leadsquared.com",
        rate_limit=lsq.RateLimit(calls=25, period=5.0),
        redis_url="redis://cache:6379/0",
        redis_prefix="shop",
        redis_fallback="local",
        lead_columns="FirstName,LastName",
        exit_timeout=2,
    )


def sync_typo(access_key: str, secret_key: str) -> lsq.SyncLeadSquaredClient:
    """A misspelt option is an error mypy reports (the ignore would be unused otherwise)."""
    rate = lsq.RateLimit(calls=25, period=5.0)
    return lsq.SyncLeadSquaredClient(access_key, secret_key, rate_limt=rate)  # type: ignore[call-arg]


# -- many accounts in one process --------------------------------------------------------------


def many_accounts() -> lsq.Accounts:
    """Defaults for every account's client, and the registry's own options."""
    return lsq.Accounts(
        idle_timeout=600,
        max_clients=500,
        close_timeout=10,
        rate_limit=lsq.RateLimit(calls=25, period=5.0),
        bulk_rate_limit=lsq.RateLimit(calls=1, period=5.0),
        linger=0.01,
        spill="all",
        redis_url="redis://127.0.0.1:6379/0",
        schema="account",
    )


class Tenant:
    """A row of the user's own table of accounts."""

    access_key: str = "u$r..."
    secret_key: str = "..."
    host: str = "api-in21.leadsquared.com"
    daily_quota: int | None = 25_000


async def push(accounts: lsq.Accounts, tenant: Tenant, body: dict[str, str]) -> str:
    """One tenant's lead through its own client, with per-account overrides."""
    client = accounts.client(
        tenant.access_key,
        tenant.secret_key,
        host=tenant.host,
        daily_quota=tenant.daily_quota,
        limiter=None,
    )
    created = await client.create_lead(body)
    return created.lead_id


async def per_account(accounts: lsq.Accounts) -> dict[str, int]:
    """Stats and close reports by account id."""
    calls = {account: stats.calls for account, stats in accounts.stats().items()}
    reports: dict[str, lsq.CloseReport] = await accounts.aclose(timeout=5)
    return {**calls, **{account: r.abandoned for account, r in reports.items()}}


def overrides_of(row: dict[str, str]) -> lsq.AccountOptions:
    """Overrides kept as data, typed."""
    return {"linger": float(row["linger"]), "spill": "none"}


async def with_overrides(accounts: lsq.Accounts, options: lsq.AccountOptions) -> int:
    """A typed dict of overrides passes through ``**``."""
    return len(accounts) + accounts.client("a", "s", **options).settings.max_pending


def accounts_typo(accounts: lsq.Accounts) -> lsq.LeadSquaredClient:
    """A misspelt override is an error mypy reports (the ignore would be unused otherwise)."""
    return accounts.client("a", "s", lingr=0.1)  # type: ignore[call-arg]


# -- testing with the fake -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def client_on_fake(fake: FakeLeadSquared) -> AsyncIterator[lsq.LeadSquaredClient]:
    """A client wired in-process to the fake, as a user's test fixture does."""
    async with (
        httpx2.AsyncClient(transport=fake.transport()) as http,
        lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            base_url="https://api-in21.leadsquared.com",
            http_client=http,
        ) as client,
    ):
        yield client


def fakes() -> Iterator[FakeLeadSquared]:
    """The fake built the usual ways."""
    yield FakeLeadSquared(rate_limit=None)
    yield FakeLeadSquared(rate_limit=lsq.RateLimit(25, 0.25))
    yield FakeLeadSquared.from_plan("pro-b", scale=5)
    yield FakeLeadSquared.from_plan(PLANS["super-b"], users=3)


def inspect(fake: FakeLeadSquared) -> int:
    """The store and the ledger read after a test."""
    lead = fake.store.find_by_email("a@example.com")
    city: object = lead["mx_City"] if lead is not None else None
    del city
    posted: list[dict[str, object]] = fake.store.activities("3f2504e0-4f89-41d3-9a0c-0305e82c3301")
    return fake.ledger.max_calls_in_window() + len(fake.store.duplicates()) + len(posted)
