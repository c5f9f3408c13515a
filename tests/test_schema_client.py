"""Rows checked against the account's lead fields at the call (``schema=``), in the clients."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async import testing
from leadsq_async._api.metadata import unknown_attribute
from leadsq_async._dispatch.fields import REFETCH_INTERVAL
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared, FaultPlan, Field

from .conftest import BASE_URL, SCALED, MakeClient, loop_time

METADATA = "LeadsMetaData.Get"
FIELDS = [
    Field("mx_City"),
    Field("mx_Age", "Number"),
    Field("mx_Stage", "Select", options=("Won", "Lost")),
]


def service(fields: list[Field] | None = FIELDS) -> FakeLeadSquared:
    """A fake on virtual time whose account has ``fields`` (custom ones; standard built in)."""
    return FakeLeadSquared(rate_limit=SCALED, clock=loop_time, fields=fields)


class Recording(httpx2.AsyncBaseTransport):
    """A transport to ``fake`` that keeps every request body it carries."""

    def __init__(self, fake: FakeLeadSquared) -> None:
        self._inner = fake.transport()
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Record the body, then let the fake answer."""
        self.bodies.append(await request.aread())
        return await self._inner.handle_async_request(request)


@pytest.mark.vtime
async def test_fetched_once_for_a_thousand_concurrent_writes(make_client: MakeClient) -> None:
    """1,000 concurrent writes share one LeadsMetaData.Get, fetched before the first write."""
    fake = service()
    async with await make_client(fake, schema="account") as client:
        results = await asyncio.gather(
            *(client.create_lead({"EmailAddress": f"u{i}@x.com", "mx_Age": i}) for i in range(1000))
        )
    assert all(isinstance(r, lsq.LeadCreated) for r in results)
    assert fake.ledger.calls(METADATA) == 1
    assert fake.ledger.entries[0].endpoint == METADATA


@pytest.mark.vtime
async def test_a_bad_row_fails_alone_at_the_call(make_client: MakeClient) -> None:
    """A row the account would refuse raises ValidationError naming field and rule; the rows
    gathered with it are written, and it never reaches the service."""
    fake = service()
    async with await make_client(fake, schema="account") as client:
        results = await asyncio.gather(
            client.create_lead({"EmailAddress": "a@x.com", "mx_City": "Pune"}),
            client.create_lead({"EmailAddress": "b@x.com", "mx_Age": "old"}),
            client.upsert_lead({"EmailAddress": "c@x.com", "mx_Cty": "Pune"}),
            client.create_lead({"EmailAddress": "d@x.com", "mx_Age": "41"}),
            return_exceptions=True,
        )
    ok, bad_age, bad_name, ok_too = results
    assert isinstance(ok, lsq.LeadCreated)
    assert isinstance(ok_too, lsq.LeadCreated)
    assert isinstance(bad_age, lsq.ValidationError)
    assert bad_age.field == "mx_Age"
    assert "not a Number" in bad_age.rule
    assert isinstance(bad_name, lsq.ValidationError)
    assert bad_name.field == "mx_Cty"
    assert "did you mean mx_City" in bad_name.rule
    assert fake.store.count() == 2
    assert not any(e.status >= 400 for e in fake.ledger.entries)


@pytest.mark.vtime
async def test_every_write_and_each_stream_op_is_checked(make_client: MakeClient) -> None:
    """update_lead, update_lead_by_id, update_field and submit refuse at the call; stream()
    yields the refusal as that op's error and sends the others."""
    fake = service()
    lead_id = "0b6d2b8e-0c4f-4d36-9a37-2f1ef7a5d1f3"
    async with await make_client(fake, schema="account") as client:
        calls = [
            client.update_lead({"EmailAddress": "a@x.com", "mx_Nope": "1"}),
            client.update_lead_by_id(lead_id, {"mx_Age": "x"}),
            client.update_field(lead_id, "mx_Stage", "Maybe"),
            client.submit(lsq.CreateLead({"EmailAddress": "a@x.com", "mx_Agee": "1"})),
        ]
        for call in calls:
            with pytest.raises(lsq.ValidationError):
                await call
        ops = [
            lsq.CreateLead({"EmailAddress": "s1@x.com"}),
            lsq.CreateLead({"EmailAddress": "s2@x.com", "mx_Age": "many"}),
            lsq.CreateLead({"EmailAddress": "s3@x.com", "mx_Stage": "lost"}),
        ]
        outcomes = [o async for o in client.stream(ops)]
    assert [o.ok for o in outcomes] == [True, False, True]
    assert isinstance(outcomes[1].error, lsq.ValidationError)
    assert outcomes[1].error.field == "mx_Age"
    assert fake.ledger.calls(METADATA) == 1
    assert fake.store.count() == 2


@pytest.mark.vtime
async def test_an_offline_schema_checks_without_asking_the_service(
    make_client: MakeClient,
) -> None:
    """A schema object (built, or loaded from a saved answer) checks rows; nothing is fetched."""
    fake = service()
    saved = lsq.LeadSchema.from_metadata(json.dumps(fake.schema.metadata()))  # type: ignore[union-attr]
    built = lsq.LeadSchema([lsq.FieldSpec("EmailAddress", "Email"), lsq.FieldSpec("mx_City")])
    for schema in (saved, built):
        async with await make_client(fake, schema=schema) as client:
            with pytest.raises(lsq.ValidationError) as caught:
                await client.create_lead({"EmailAddress": "a@x.com", "mx_Citty": "Pune"})
            assert caught.value.field == "mx_Citty"
            created = await client.create_lead({"EmailAddress": f"{len(schema)}@x.com"})
            assert isinstance(created, lsq.LeadCreated)
    assert fake.ledger.calls(METADATA) == 0


def test_lsq_schema_reads_account_off_or_a_saved_answer(tmp_path: Path) -> None:
    """LSQ_SCHEMA: "account", "off" or empty for none, a path loads a saved answer; junk is
    refused naming the variable."""
    keys = {"LSQ_ACCESS_KEY": DEMO_ACCESS_KEY, "LSQ_SECRET_KEY": DEMO_SECRET_KEY}
    saved = tmp_path / "fields.json"
    saved.write_text(json.dumps([{"SchemaName": "mx_City", "DataType": "Text"}]))
    assert lsq.Settings.from_env({**keys, "LSQ_SCHEMA": "account"}).schema == "account"
    assert lsq.Settings.from_env({**keys, "LSQ_SCHEMA": "off"}).schema is None
    assert lsq.Settings.from_env({**keys, "LSQ_SCHEMA": ""}).schema is None
    loaded = lsq.Settings.from_env({**keys, "LSQ_SCHEMA": str(saved)}).schema
    assert isinstance(loaded, lsq.LeadSchema)
    assert "mx_City" in loaded
    with pytest.raises(lsq.ValidationError) as caught:
        lsq.Settings.from_env({**keys, "LSQ_SCHEMA": str(tmp_path / "missing.json")})
    assert caught.value.field == "LSQ_SCHEMA"
    with pytest.raises(lsq.ValidationError):
        lsq.Settings(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, schema="yes")  # type: ignore[arg-type]


@pytest.mark.vtime
async def test_a_dropdown_value_goes_in_its_options_spelling(make_client: MakeClient) -> None:
    """A value differing from an option only in case is sent as the option spells it."""
    fake = service()
    recording = Recording(fake)
    async with await make_client(transport=recording, schema="account") as client:
        await client.create_lead({"EmailAddress": "a@x.com", "mx_Stage": "wON"})
    sent = [json.loads(b) for b in recording.bodies if b]
    assert any(_won() in _pairs(body) for body in sent)
    assert not any("wON" in b.decode() for b in recording.bodies)


def _won() -> dict[str, str]:
    return {"Attribute": "mx_Stage", "Value": "Won"}


def _pairs(body: object) -> list[object]:
    """Every attribute/value object anywhere in a request body."""
    if isinstance(body, list):
        return [pair for item in body for pair in _pairs(item)]
    if isinstance(body, dict):
        return [body] if "Attribute" in body else [p for v in body.values() for p in _pairs(v)]
    return []


@pytest.mark.vtime
@pytest.mark.parametrize("fault", ["system_error", "no_such_api"])
async def test_unavailable_metadata_warns_once_and_writes_go_unchecked(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    """When LeadsMetaData.Get cannot be had, one warning names why (the client's only log
    line above INFO), and every write is sent unchecked (never failed for it)."""
    if fault == "system_error":
        fake = service(fields=[Field("mx_Any"), Field("mx_Other")])
        fake.set_faults(FaultPlan(system_error=1.0), METADATA)
    else:
        fake = service(fields=None)  # no field list to publish: no such API (HTTP 404)
    caplog.set_level(logging.WARNING, logger="leadsq_async")
    async with await make_client(fake, schema="account", max_retries=2) as c:
        first = await asyncio.gather(
            *(c.create_lead({"EmailAddress": f"{i}@x.com", "mx_Any": "x"}) for i in range(3))
        )
        later = await c.update_lead({"EmailAddress": "0@x.com", "mx_Other": "y"})
    assert all(isinstance(r, lsq.LeadCreated) for r in first)
    assert isinstance(later, lsq.LeadUpdated)
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("leadsq_async")]
    assert len(warnings) == 1, warnings
    assert "account's lead fields" in warnings[0]
    assert ("404" in warnings[0]) == (fault == "no_such_api")
    assert fake.ledger.calls(METADATA) == (1 if fault == "no_such_api" else 3)


@pytest.mark.vtime
async def test_refetched_after_an_unknown_attribute_refusal_at_most_once_per_interval(
    make_client: MakeClient,
) -> None:
    """A refusal of an attribute the cached schema has makes the next write fetch the fields
    again, but not before REFETCH_INTERVAL has passed since the last fetch."""
    fake = service()
    async with await make_client(fake, schema="account") as client:
        await client.create_lead({"EmailAddress": "a@x.com", "mx_City": "Pune"})
        assert fake.ledger.calls(METADATA) == 1
        fake.schema = testing.LeadSchema([f for f in FIELDS if f.schema_name != "mx_City"])
        for email in ("b@x.com", "c@x.com"):  # refused by the service, not at the call
            with pytest.raises(lsq.LeadRejectedError):
                await client.create_lead({"EmailAddress": email, "mx_City": "Pune"})
        assert fake.ledger.calls(METADATA) == 1  # stale, but fetched less than 300 s ago
        await asyncio.sleep(REFETCH_INTERVAL)
        with pytest.raises(lsq.ValidationError) as caught:
            await client.create_lead({"EmailAddress": "d@x.com", "mx_City": "Pune"})
        assert caught.value.field == "mx_City"
        assert fake.ledger.calls(METADATA) == 2
        await client.create_lead({"EmailAddress": "e@x.com"})
        assert fake.ledger.calls(METADATA) == 2  # fresh again: no more fetches


@pytest.mark.vtime
async def test_the_fetch_is_announced_and_counted(make_client: MakeClient) -> None:
    """The fetch is an ordinary call: on_call hears of it first, and stats count it."""
    fake = service()
    events: list[lsq.CallEvent] = []
    async with await make_client(fake, schema="account", on_call=events.append) as client:
        await client.create_lead({"EmailAddress": "a@x.com"})
        stats = client.stats()
    assert [e.endpoint for e in events] == [METADATA, "Lead/Bulk/Create"]
    assert METADATA in stats.endpoints


@pytest.mark.vtime
async def test_without_schema_nothing_is_fetched_or_checked(make_client: MakeClient) -> None:
    """The default (schema=None) fetches nothing and leaves refusals to the service."""
    fake = service()
    async with await make_client(fake) as client:
        with pytest.raises(lsq.LeadRejectedError):
            await client.create_lead({"EmailAddress": "a@x.com", "mx_Nope": "1"})
    assert fake.ledger.calls(METADATA) == 0


def test_the_sync_client_checks_rows_too() -> None:
    """SyncLeadSquaredClient(schema="account") fetches the fields and refuses at the call."""
    fake = FakeLeadSquared(rate_limit=None, fields=FIELDS)
    with lsq.SyncLeadSquaredClient(
        DEMO_ACCESS_KEY,
        DEMO_SECRET_KEY,
        base_url=BASE_URL,
        schema="account",
        rate_limit=lsq.RateLimit(1000, 1),
        http_client_factory=lambda: httpx2.AsyncClient(transport=fake.transport()),
    ) as client:
        with pytest.raises(lsq.ValidationError) as caught:
            client.create_lead({"EmailAddress": "a@x.com", "mx_Age": "old"})
        assert caught.value.field == "mx_Age"
        assert isinstance(client.create_lead({"EmailAddress": "a@x.com"}), lsq.LeadCreated)
    assert fake.ledger.calls(METADATA) == 1


def test_only_a_refused_attribute_makes_the_schema_stale() -> None:
    """An unknown-attribute refusal names the attribute; a refused value or a duplicate does
    not (those say nothing of the account's fields)."""
    invalid = "MXInvalidInputException"
    unknown = lsq.LeadRejectedError("Invalid Attribute 'mx_A': not a lead field", invalid)
    assert unknown_attribute(unknown) == "mx_A"
    assert unknown_attribute(lsq.LeadRejectedError("Invalid SearchBy 'mx_B': no", invalid)) == (
        "mx_B"
    )
    value = lsq.LeadRejectedError("Invalid value for attribute mx_Age: 'x' is not a Number")
    assert unknown_attribute(value) is None
    duplicate = lsq.LeadRejectedError("A Lead with same Email already exists", "MXDuplicate")
    assert unknown_attribute(duplicate) is None
