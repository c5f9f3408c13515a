"""The secret key appears nowhere: not in results, errors, reprs or logs, on any path."""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, FakeLeadSquared, FaultPlan

from .conftest import MakeClient

SECRET = "SENTINEL-7b3c9e1f"
WRONG_SECRET = "SENTINEL-WRONG-5d2a8c40"
SENTINELS = (SECRET, WRONG_SECRET, "7b3c9e1f", "5d2a8c40")
RATE = lsq.RateLimit(25, 0.25)

pytestmark = pytest.mark.client_options(
    rate_limit=RATE, backoff=0.001, linger=0.005, secret_key=SECRET
)


def _texts(value: object) -> list[str]:
    """str and repr of ``value``; for exceptions, of every cause too, and the traceback."""
    out = [str(value), repr(value)]
    if isinstance(value, BaseException):
        out.append("".join(traceback.format_exception(value)))
        seen: set[int] = set()
        link: BaseException | None = value
        while link is not None and id(link) not in seen:
            seen.add(id(link))
            out += [str(link), repr(link), repr(getattr(link, "args", ()))]
            out += [repr(v) for v in vars(link).values()] if hasattr(link, "__dict__") else []
            link = link.__cause__ or link.__context__
    return out


class Seen:
    """Everything the tests looked at, searched for the sentinels at the end."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.kinds: set[type] = set()

    def add(self, *values: object) -> None:
        for value in values:
            self.kinds.add(type(value))
            self.texts += _texts(value)

    async def outcomes(self, *aws: Any) -> list[Any]:
        results = await asyncio.gather(*aws, return_exceptions=True)
        self.add(*results)
        return list(results)


async def _every_endpoint(client: lsq.LeadSquaredClient, fake: FakeLeadSquared, seen: Seen) -> None:
    """One call of each kind, and the rejections the fake gives for known-bad rows."""
    created = await seen.outcomes(
        client.create_lead({"EmailAddress": "a@example.com", "FirstName": "A"}),
        client.create_lead({"EmailAddress": "b@example.com"}),
    )
    assert all(isinstance(r, lsq.LeadCreated) for r in created), created
    lead_id = created[0].lead_id
    missing = str(uuid.uuid4())
    results = await seen.outcomes(
        client.create_lead({"EmailAddress": "a@example.com"}),  # duplicate
        client.upsert_lead({"EmailAddress": "c@example.com", "mx_City": "Pune"}),
        client.update_lead({"EmailAddress": "a@example.com", "mx_City": "Goa"}),
        client.update_lead({"EmailAddress": "nobody@example.com", "mx_City": "Goa"}),
        client.update_lead_by_id(lead_id, {"mx_City": "Goa"}),
        client.update_lead_by_id(lead_id, {"mx_City": "Goa"}, post_updated_lead=True),
        client.update_lead_by_id(missing, {"mx_City": "Goa"}, post_updated_lead=True),
        client.update_field(lead_id, "mx_Stage", "Hot"),
        client.update_field(missing, "mx_Stage", "Cold"),
    )
    kinds = [type(r) for r in results]
    assert kinds[0] is lsq.LeadRejectedError
    assert kinds[3] is lsq.LeadNotFoundError
    assert kinds[6] is lsq.LeadNotFoundError
    assert kinds[8] is lsq.LeadNotFoundError
    async for outcome in client.stream([lsq.UpsertLead({"EmailAddress": "s@example.com"})]):
        seen.add(outcome)
    seen.add(client, client.stats(), client.limiter)


async def _faulted(
    fake: FakeLeadSquared, base_url: str, seen: Seen, make_client: MakeClient
) -> None:
    """System errors, drops, both rate-limit forms and delivery timeouts."""
    for plan in (
        FaultPlan(system_error=1.0),
        FaultPlan(drop_before=1.0),
        FaultPlan(drop_after=1.0),
        FaultPlan(rate_limited=1.0, rate_limited_as_200=0.5),
    ):
        fake.set_faults(plan)
        async with await make_client(base_url, max_retries=2, delivery_timeout=0.5) as client:
            results = await seen.outcomes(
                client.create_lead({"EmailAddress": "f@example.com"}),
                client.upsert_lead({"EmailAddress": "g@example.com"}),
                client.update_lead({"EmailAddress": "a@example.com", "mx_City": "X"}),
            )
            assert all(isinstance(r, lsq.LeadSquaredError) for r in results), results
            seen.add(client, client.stats())
    fake.set_faults(None)
    statuses = {e.status for e in fake.ledger.entries if e.fault == "rate_limited"}
    assert statuses == {200, 429}, "both rate-limit forms were sent"


async def _closing_and_misuse(base_url: str, seen: Seen, make_client: MakeClient) -> None:
    """Wrong keys, bad input, a closed client, and a hanging server abandoned at close."""
    async with await make_client(base_url, secret_key=WRONG_SECRET) as wrong:
        results = await seen.outcomes(wrong.create_lead({"FirstName": "W"}))
        assert isinstance(results[0], lsq.AuthenticationError)
        seen.add(wrong)
    client = await make_client(base_url)
    for bad in (
        lambda: client.create_lead({}),
        lambda: client.update_field("not-a-guid", "mx_A", "x"),
        lambda: client.upsert_lead({"EmailAddress": float("nan")}),  # type: ignore[dict-item]
    ):
        with pytest.raises(lsq.ValidationError) as raised:
            await bad()
        seen.add(raised.value)
    report = await client.aclose()
    seen.add(report, client)
    with pytest.raises(lsq.ClientClosedError) as closed:
        await client.create_lead({"FirstName": "late"})
    seen.add(closed.value)
    for bad_options in ({"base_url": "ftp://x"}, {"linger": -1}, {"max_retries": "5"}):
        with pytest.raises(lsq.ValidationError) as raised:
            lsq.LeadSquaredClient(DEMO_ACCESS_KEY, SECRET, **bad_options)  # type: ignore[arg-type]
        seen.add(raised.value)

    never = asyncio.Event()

    async def hang(request: httpx2.Request) -> httpx2.Response:
        await never.wait()
        raise AssertionError("unreachable")

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(hang)) as http:
        hung = await make_client(base_url, http_client=http, linger=0, max_in_flight=1)
        futures = [
            await hung.submit(lsq.CreateLead({"FirstName": "H"})),
            await hung.submit(lsq.UpsertLead({"EmailAddress": "h@example.com"})),
        ]
        await asyncio.sleep(0.02)
        seen.add(hung, await hung.aclose(timeout=0.1))
        seen.add(*(f.exception() for f in futures))


async def test_the_secret_key_appears_nowhere(
    caplog: pytest.LogCaptureFixture, make_client: MakeClient
) -> None:
    """Success, every error, retries, close, reprs, exceptions and DEBUG logs hold no secret."""
    caplog.set_level(logging.DEBUG)
    for name in ("leadsq_async", "httpx2", "httpcore2"):
        caplog.set_level(logging.DEBUG, logger=name)
    seen = Seen()
    fake = FakeLeadSquared(DEMO_ACCESS_KEY, SECRET, rate_limit=RATE)
    async with fake.serve() as base_url:  # real sockets: httpcore2 logs too
        async with await make_client(base_url) as client:
            await _every_endpoint(client, fake, seen)
        await _faulted(fake, base_url, seen, make_client)
        await _closing_and_misuse(base_url, seen, make_client)
    seen.add(fake.ledger.entries)

    assert {
        lsq.LeadCreated,
        lsq.LeadUpserted,
        lsq.LeadUpdated,
        lsq.FieldUpdated,
        lsq.Outcome,
        lsq.LeadRejectedError,
        lsq.LeadNotFoundError,
        lsq.ServiceError,
        lsq.OutcomeUnknownError,
        lsq.DeliveryTimeoutError,
        lsq.AuthenticationError,
        lsq.ValidationError,
        lsq.ClientClosedError,
        lsq.CloseReport,
        lsq.Stats,
    } <= seen.kinds, "every path was driven"
    records = caplog.records
    loggers = {r.name.split(".")[0] for r in records}
    assert {"leadsq_async", "httpx2", "httpcore2"} <= loggers, "DEBUG logging was captured"
    assert any(r.levelno == logging.WARNING and r.name == "leadsq_async" for r in records)
    log_text = caplog.text + "".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in records
    )
    everything = "\n".join([log_text, *seen.texts])
    for sentinel in SENTINELS:
        assert sentinel not in everything, f"{sentinel} leaked"
