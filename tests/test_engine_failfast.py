"""The engine fails fast on a service that is not there (issue 15), on virtual time.

"No such API here" (404/405) ends every row of the call and of that endpoint at once and sends
nothing more to it. A service that cannot be reached opens the circuit: N calls in a row that
never reached it over T seconds, then rows fail at once and one probe at a time tries again,
with back-off, until one gets through. Every test runs on ``vtime.VirtualTimeLoop`` against a
``MockTransport`` (``tests.test_engine.Service``), so timings are exact and no test sleeps.
"""

from __future__ import annotations

import asyncio
import itertools
from math import inf
from typing import Any

import attrs
import httpx2
import pytest

import leadsq_async as lsq

from .conftest import MakeClient
from .test_engine import CLIENT, Service, _create, _success

pytestmark = [pytest.mark.vtime, pytest.mark.client_options(**CLIENT)]

NO_API = {
    "Status": "Error",
    "ExceptionType": "MXInvalidInputException",
    "ExceptionMessage": "No API at /v2/v2/LeadManagement.svc/Lead/Bulk/Create",
}


def _no_api_for(*suffixes: str) -> Any:
    """An answer: 404 "No API at ..." for paths ending with ``suffixes``, success otherwise."""

    def answer(request: httpx2.Request, body: Any) -> httpx2.Response:
        if request.url.path.endswith(suffixes):
            return httpx2.Response(404, json=NO_API)
        return _success(request, body)

    return answer


async def test_no_such_api_fails_every_row_of_the_endpoint_after_one_call(
    make_client: MakeClient,
) -> None:
    """One 404 "No API": 120 rows end with EndpointNotFoundError after 1 call, none split."""
    service = Service(asyncio.get_running_loop(), answer=_no_api_for("Lead/Bulk/Create"))
    async with await make_client(service, linger=0) as client:
        results = await asyncio.gather(
            *(client.create_lead(_create(n).fields) for n in range(120)),
            return_exceptions=True,
        )
        started = asyncio.get_running_loop().time()
        with pytest.raises(lsq.EndpointNotFoundError) as later:
            await client.create_lead({"EmailAddress": "late@example.com"})
        waited = asyncio.get_running_loop().time() - started
        await client.update_lead({"EmailAddress": "a@example.com", "mx_City": "Pune"})
    later = later.value
    assert [c.path.rsplit("/", 3)[-3:] for c in service.calls] == [
        ["Lead", "Bulk", "Create"],
        ["Lead", "Bulk", "UpdateV2"],  # another endpoint is still called
    ]
    assert service.rows("Lead/Bulk/Create") == [50]
    assert all(isinstance(r, lsq.EndpointNotFoundError) for r in results)
    first = results[0]
    assert isinstance(first, lsq.EndpointNotFoundError)
    assert first.url == "https://api.example/v2/LeadManagement.svc/Lead/Bulk/Create"
    assert first.status == 404
    assert f"no such API at {first.url}" in str(first)
    assert isinstance(later, lsq.EndpointNotFoundError)
    assert str(later) == str(first)
    assert waited == 0  # refused at submit: no call, no wait


async def test_a_405_is_no_such_api_too(make_client: MakeClient) -> None:
    """A 405 on Lead.Update ends its row and every later one at once, after one call."""

    def answer(request: httpx2.Request, body: Any) -> httpx2.Response:
        return httpx2.Response(405, json={**NO_API, "ExceptionMessage": "POST only"})

    service = Service(asyncio.get_running_loop(), answer=answer)
    async with await make_client(service, linger=0) as client:
        results = []
        for _ in range(3):
            try:
                await client.update_lead_by_id(
                    "9b1b3a4e-0000-4000-8000-000000000001",
                    {"mx_City": "Pune"},
                    post_updated_lead=True,
                )
            except lsq.LeadSquaredError as error:
                results.append(error)
    assert len(service.calls) == 1
    assert [type(r) for r in results] == [lsq.EndpointNotFoundError] * 3
    assert all(r.status == 405 for r in results)


async def test_a_row_that_spilled_onto_a_missing_single_lead_road_goes_back_to_bulk(
    make_client: MakeClient,
) -> None:
    """Lead.Create answers 404: the row that spilled there goes back to the bulk road and
    succeeds at the next bulk grant (the 404 proves it was not applied); no row goes there
    again."""
    service = Service(asyncio.get_running_loop(), answer=_no_api_for("Lead.Create"))
    async with await make_client(service, linger=0, bulk_rate_limit=lsq.RateLimit(1, 5)) as client:
        first = await client.create_lead({"EmailAddress": "a@example.com"})  # bulk, t=0
        outcomes: list[Any] = [first]
        for n in range(2):  # the bulk budget is 5 s away: the first of these spills
            try:
                outcomes.append(await client.create_lead({"EmailAddress": f"b{n}@x.com"}))
            except lsq.LeadSquaredError as error:
                outcomes.append(error)
    paths = [c.path.rsplit("/", 1)[-1] for c in service.calls]
    assert paths == ["Create", "Lead.Create", "Create", "Create"]
    assert all(isinstance(o, lsq.LeadCreated) for o in outcomes), outcomes
    assert service.calls[2].at == pytest.approx(5.15, abs=0.2)  # the next bulk grant
    assert service.rows("Lead/Bulk/Create") == [1, 1, 1]


@attrs.define
class Outage:
    """A service that refuses connections until ``until`` (virtual seconds), then answers."""

    service: Service
    until: float = inf
    refused: list[float] = attrs.field(factory=list)

    def answer(self, request: httpx2.Request, body: Any) -> httpx2.Response:
        now = self.service.loop.time()
        if now < self.until:
            self.refused.append(now)
            raise httpx2.ConnectError("[Errno 111] Connection refused")
        return _success(request, body)


def _outage(until: float = inf) -> Outage:
    outage = Outage(Service(asyncio.get_running_loop()), until)
    outage.service.answer = outage.answer
    return outage


async def test_the_circuit_opens_after_n_calls_over_t_seconds_and_rows_fail_at_once(
    make_client: MakeClient,
) -> None:
    """Nothing listening: 5 calls, 4 probes at 0.5/1/2/4 s gaps, then at 10 s every row fails."""
    outage = _outage()
    loop = asyncio.get_running_loop()
    async with await make_client(outage.service, linger=0) as client:
        results = await asyncio.gather(
            *(client.create_lead(_create(n).fields) for n in range(200)),
            return_exceptions=True,
        )
        ended = loop.time()
        with pytest.raises(lsq.ServiceUnavailableError) as later:
            await client.create_lead({"EmailAddress": "late@example.com"})
    later = later.value
    refused = outage.refused
    assert len(refused) == 9
    assert refused[4] == pytest.approx(0.83, abs=0.01)  # five grants of 25/5, all refused
    gaps = [b - a for a, b in itertools.pairwise(refused[4:])]
    assert gaps == pytest.approx([0.5, 1.0, 2.0, 4.0], abs=0.01)  # one probe at a time
    assert ended == pytest.approx(10.0, abs=0.01)  # T seconds after the first refusal
    assert all(isinstance(r, lsq.ServiceError) for r in results)
    unavailable = [r for r in results if isinstance(r, lsq.ServiceUnavailableError)]
    assert len(unavailable) == 200
    first = unavailable[0]
    assert first.url.startswith("https://api.example/v2/LeadManagement.svc/")
    assert f"could not reach {first.url}: no call has reached the service for 10 s" in str(first)
    assert "ConnectError" in str(first)
    assert isinstance(later, lsq.ServiceUnavailableError)  # at once, with no call
    assert len(outage.refused) == 9


async def test_one_probe_at_a_time_and_the_circuit_closes_when_one_gets_through(
    make_client: MakeClient,
) -> None:
    """Open: a row arriving when the probe is due goes as the probe; success closes it."""
    outage = _outage(until=12.0)
    loop = asyncio.get_running_loop()
    async with await make_client(outage.service, linger=0) as client:
        await asyncio.gather(
            *(client.create_lead(_create(n).fields) for n in range(200)),
            return_exceptions=True,
        )
        refused_at_10 = len(outage.refused)
        await asyncio.sleep(16.5 - loop.time())  # the probe is due at 8.33 + 8 s
        probe = await client.create_lead({"EmailAddress": "probe@example.com"})
        probed = loop.time()
        after = await asyncio.gather(
            *(client.create_lead(_create(n).fields) for n in range(200, 300))
        )
    assert refused_at_10 == 9
    assert len(outage.refused) == 9  # nothing more was refused: the probe got through
    assert isinstance(probe, lsq.LeadCreated)
    assert probed == pytest.approx(16.5, abs=0.01)
    assert all(isinstance(r, lsq.LeadCreated) for r in after)  # closed: calls go as usual
    assert outage.service.rows()[-2:] == [50, 50]  # and fill again


async def test_a_short_outage_costs_no_row(make_client: MakeClient) -> None:
    """Refused for 3 s (under T): rows wait for the probes, then all succeed, in few calls."""
    outage = _outage(until=3.0)
    async with await make_client(outage.service, linger=0) as client:
        results = await asyncio.gather(
            *(client.create_lead(_create(n).fields) for n in range(200)),
            return_exceptions=True,
        )
    results = list(results)
    assert all(isinstance(r, lsq.LeadCreated) for r in results)
    assert len(outage.refused) == 7  # 5 calls, then probes at 1.33 and 2.33
    assert [c.at for c in outage.service.calls[7:]] == pytest.approx(
        [4.33, 4.54, 4.74, 4.95], abs=0.01
    )
    assert outage.service.rows()[7:] == [50, 50, 50, 50]  # the probe at 4.33 got through


@pytest.mark.parametrize(
    ("calls", "seconds"),
    [
        pytest.param(5, 10.0, id="defaults"),
        pytest.param(3, 2.0, id="three-over-two-seconds"),
        pytest.param(8, 0.0, id="eight-calls-at-once"),
    ],
)
async def test_n_and_t_are_settings(calls: int, seconds: float, make_client: MakeClient) -> None:
    """circuit_calls and circuit_seconds say when rows start failing at once."""
    outage = _outage()
    loop = asyncio.get_running_loop()
    options = {"circuit_calls": calls, "circuit_seconds": seconds}
    async with await make_client(outage.service, linger=0, **options) as client:
        await asyncio.gather(
            *(client.create_lead(_create(n).fields) for n in range(200)),
            return_exceptions=True,
        )
        result = loop.time()
    refused = outage.refused
    assert len(refused) >= calls
    assert refused[0] == 0
    # Open once both hold: N refused calls in a row, and T seconds since the first. When the
    # N-th refusal comes last, its time depends on the retries' random jitter, so the test
    # reads it from the fake instead of writing down one draw of it.
    assert result == pytest.approx(max(seconds, refused[calls - 1]), abs=0.01)
