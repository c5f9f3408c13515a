"""The engine and the batcher on virtual time: linger, fill, order, merges, deadlines, priorities.

Every test runs on ``vtime.VirtualTimeLoop`` with the client's clock set to the loop's, against
a ``MockTransport`` that records when each call left (in virtual seconds) and answers at once,
so timings are exact and no test sleeps.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import attrs
import httpx2
import pytest

import leadsq_async as lsq

from .conftest import MakeClient

KEYS = ("u$rkey", "secret")
#: ``make_client``'s options here (``client_options``): the mock's host and keys, 25 calls / 5 s.
CLIENT: dict[str, Any] = {
    "rate_limit": lsq.RateLimit(25, 5),
    "base_url": "https://api.example",
    "access_key": KEYS[0],
    "secret_key": KEYS[1],
}
IDS = [str(uuid.UUID(int=n, version=4)) for n in range(1, 200)]

pytestmark = [pytest.mark.vtime, pytest.mark.client_options(**CLIENT)]


@attrs.define
class Sent:
    """One call the mock service received."""

    at: float
    path: str
    body: Any


@attrs.define
class Service:
    """A mock LeadSquared that answers every call with success and records it."""

    loop: asyncio.AbstractEventLoop
    calls: list[Sent] = attrs.field(factory=list)
    answer: Callable[[httpx2.Request, Any], httpx2.Response] | None = None

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.calls.append(Sent(self.loop.time(), request.url.path, body))
        if self.answer is not None:
            return self.answer(request, body)
        return _success(request, body)

    def transport(self) -> httpx2.AsyncBaseTransport:
        """The mock, in-process."""
        return httpx2.MockTransport(self.handle)

    def rows(self, path: str = "") -> list[int]:
        """Rows per call (to paths ending with ``path``)."""
        return [_count(c.body) for c in self.calls if c.path.endswith(path)]


def _count(body: Any) -> int:
    if isinstance(body, list):
        return len(body) if body and isinstance(body[0], list) else 1
    if "LeadPropertiesList" in body:
        return len(body["LeadPropertiesList"])
    return len(body["LeadIds"])


def _success(request: httpx2.Request, body: Any) -> httpx2.Response:
    path = request.url.path
    if path.endswith("Lead/Bulk/Create"):
        rows = [
            {"RowNumber": n, "LeadId": str(uuid.uuid4()), "LeadCreated": True}
            for n in range(1, len(body) + 1)
        ]
        return httpx2.Response(200, json=rows)
    if path.endswith("Lead/Bulk/UpdateV2"):
        key = body.get("SearchByKey") or "ProspectId"
        ok = []
        for item in body["LeadPropertiesList"]:
            value = next(f["Value"] for f in item["Fields"] if f["Attribute"] == key)
            ok.append({"Identifier": key, "IdentifierValue": value})
        return httpx2.Response(200, json={"Status": {}, "Details": {"SuccessfulLeads": ok}})
    if path.endswith("Lead/Bulk/Update"):
        return httpx2.Response(
            200, json={"Status": "Success", "Message": {"AffectedRows": len(body["LeadIds"])}}
        )
    return httpx2.Response(200, json={"Status": "Success", "Message": {"AffectedRows": 1}})


def _create(n: int) -> lsq.CreateLead:
    return lsq.CreateLead({"EmailAddress": f"lead{n}@example.com"})


async def test_a_lone_row_leaves_after_linger_exactly(make_client: MakeClient) -> None:
    """With the budget free, a lone row waits exactly ``linger`` for company, then goes."""
    service = Service(asyncio.get_running_loop())
    async with await make_client(service, linger=0.25) as client:
        await client.create_lead({"EmailAddress": "a@example.com"})
    assert [c.at for c in service.calls] == [pytest.approx(0.25, abs=0.002)]


async def test_a_full_call_leaves_without_waiting_for_linger(make_client: MakeClient) -> None:
    """Fifty creates fill a call at once: it leaves at time 0, linger or not."""
    service = Service(asyncio.get_running_loop())
    async with await make_client(service, linger=10) as client:
        await asyncio.gather(*(client.create_lead(_create(n).fields) for n in range(50)))
    assert service.rows() == [50]
    assert service.calls[0].at == pytest.approx(0.0, abs=0.002)


async def test_rows_are_taken_at_grant_time_so_calls_leave_full(make_client: MakeClient) -> None:
    """500 creates against 1 call per second: ten full calls, one per grant."""
    service = Service(asyncio.get_running_loop())
    client = await make_client(service, rate_limit=lsq.RateLimit(1, 1.0), linger=0)
    async with client:
        await asyncio.gather(*(client.create_lead(_create(n).fields) for n in range(500)))
    assert service.rows() == [50] * 10
    gaps = [b.at - a.at for a, b in zip(service.calls, service.calls[1:], strict=False)]
    assert min(gaps) >= 1.0


async def test_rows_of_one_lead_keep_their_order_and_never_share_a_call(
    make_client: MakeClient,
) -> None:
    """An upsert then a create of one email: two calls, in submission order."""
    service = Service(asyncio.get_running_loop())

    def answer(request: httpx2.Request, body: Any) -> httpx2.Response:
        if request.url.path.endswith("CreateOrUpdate"):
            return httpx2.Response(
                200,
                json=[
                    {
                        "RowNumber": 1,
                        "LeadId": IDS[0],
                        "LeadCreated": True,
                        "LeadUpdated": False,
                    }
                ],
            )
        return _success(request, body)

    service.answer = answer
    async with await make_client(service, linger=0.1) as client:
        await asyncio.gather(
            client.upsert_lead({"EmailAddress": "same@example.com", "FirstName": "A"}),
            client.create_lead({"EmailAddress": "same@example.com", "FirstName": "B"}),
        )
    assert [c.path.rsplit("/", 1)[-1] for c in service.calls] == ["CreateOrUpdate", "Create"]
    assert service.calls[1].at >= service.calls[0].at


async def test_two_queued_updates_of_one_lead_merge_into_one_row(make_client: MakeClient) -> None:
    """Three updates of one lead waiting together go as one row carrying the later values."""
    service = Service(asyncio.get_running_loop())
    async with await make_client(service, linger=1.0) as client:
        results = await asyncio.gather(
            client.update_lead_by_id(IDS[0], {"mx_A": "1", "mx_B": "1"}),
            client.update_lead_by_id(IDS[0], {"mx_B": "2"}),
            client.update_lead_by_id(IDS[0], {"mx_C": "3"}),
        )
    results = list(results)
    assert service.rows() == [1]
    (item,) = service.calls[0].body["LeadPropertiesList"]
    values = {f["Attribute"]: f["Value"] for f in item["Fields"]}
    assert values == {"ProspectId": IDS[0], "mx_A": "1", "mx_B": "2", "mx_C": "3"}
    assert all(r.lead_id == IDS[0] for r in results)


async def test_interactive_rows_take_the_grant_and_fill_the_call_first(
    make_client: MakeClient,
) -> None:
    """With bulk rows queued, a later interactive row rides the very next call, first in it."""
    service = Service(asyncio.get_running_loop())
    client = await make_client(service, rate_limit=lsq.RateLimit(1, 1.0), linger=0)
    async with client:
        futures = [
            await client.submit(lsq.CreateLead(_create(n).fields, priority=lsq.Priority.BULK))
            for n in range(120)
        ]
        await asyncio.sleep(0.5)  # the first call has left; the next grant is at ~1.0
        urgent = await client.submit(lsq.CreateLead({"EmailAddress": "urgent@example.com"}))
        await asyncio.gather(urgent, *futures)
    second = service.calls[1].body
    emails = [next(f["Value"] for f in row if f["Attribute"] == "EmailAddress") for row in second]
    assert emails[0] == "urgent@example.com"
    assert len(second) == 50


async def test_a_queued_row_fails_at_its_deadline_and_is_never_sent(
    make_client: MakeClient,
) -> None:
    """A row that cannot get a grant before its deadline: DeliveryTimeoutError, no call."""
    service = Service(asyncio.get_running_loop())
    client = await make_client(service, rate_limit=lsq.RateLimit(1, 3600.0), delivery_timeout=30)
    async with client:
        await client.create_lead(_create(0).fields)  # spends the hour's only grant
        started = asyncio.get_running_loop().time()
        future = await client.submit(_create(1))
        error = None
        try:
            await future
        except lsq.LeadSquaredError as exc:
            error = exc
        waited = asyncio.get_running_loop().time() - started
        await client.aclose(timeout=0)
    assert isinstance(error, lsq.DeliveryTimeoutError)
    assert waited == pytest.approx(30, abs=0.01)
    assert len(service.calls) == 1


async def test_resends_back_off_and_stop_at_max_retries(make_client: MakeClient) -> None:
    """System errors are resent after growing back-offs, then ServiceError after max_retries."""
    service = Service(asyncio.get_running_loop())
    service.answer = lambda request, body: httpx2.Response(503, text="<html>busy</html>")
    client = await make_client(service, max_retries=3, backoff=1.0, backoff_max=60, linger=0)
    error: BaseException | None = None
    async with client:
        try:
            await client.update_lead_by_id(IDS[0], {"mx_A": "1"})
        except lsq.LeadSquaredError as exc:
            error = exc
    assert isinstance(error, lsq.ServiceError)
    assert len(service.calls) == 4
    gaps = [b.at - a.at for a, b in zip(service.calls, service.calls[1:], strict=False)]
    for attempt, gap in enumerate(gaps):
        ceiling = 1.0 * 2**attempt
        assert ceiling / 2 - 0.01 <= gap <= ceiling + 0.25  # jitter, plus the limiter's spacing
