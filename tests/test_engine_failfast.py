"""The engine fails fast on a service that is not there (issue 15), on virtual time.

"No such API here" (404/405) ends every row of the call and of that endpoint at once and sends
nothing more to it. Every test runs on ``vtime.VirtualTimeLoop`` against a ``MockTransport``
(``tests.test_engine.Service``), so timings are exact and no test sleeps.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import leadsq_async as lsq

from . import vtime
from .test_engine import Service, _client, _create, _success

NO_API = {
    "Status": "Error",
    "ExceptionType": "MXInvalidInputException",
    "ExceptionMessage": "No API at /v2/v2/LeadManagement.svc/Lead/Bulk/Create",
}


def _no_api_for(*suffixes: str) -> Any:
    """An answer: 404 "No API at ..." for paths ending with ``suffixes``, success otherwise."""

    def answer(request: httpx.Request, body: Any) -> httpx.Response:
        if request.url.path.endswith(suffixes):
            return httpx.Response(404, json=NO_API)
        return _success(request, body)

    return answer


def test_no_such_api_fails_every_row_of_the_endpoint_after_one_call() -> None:
    """One 404 "No API": 120 rows end with EndpointNotFoundError after 1 call, none split."""

    async def main() -> tuple[Service, list[Any], BaseException, float]:
        service = Service(asyncio.get_running_loop(), answer=_no_api_for("Lead/Bulk/Create"))
        async with _client(service, linger=0) as client:
            results = await asyncio.gather(
                *(client.create_lead(_create(n).fields) for n in range(120)),
                return_exceptions=True,
            )
            started = asyncio.get_running_loop().time()
            with pytest.raises(lsq.EndpointNotFoundError) as later:
                await client.create_lead({"EmailAddress": "late@example.com"})
            waited = asyncio.get_running_loop().time() - started
            await client.update_lead({"EmailAddress": "a@example.com", "mx_City": "Pune"})
        return service, results, later.value, waited

    service, results, later, waited = vtime.run(main)
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


def test_a_405_is_no_such_api_too() -> None:
    """A 405 on Lead.Update ends its row and every later one at once, after one call."""

    def answer(request: httpx.Request, body: Any) -> httpx.Response:
        return httpx.Response(405, json={**NO_API, "ExceptionMessage": "POST only"})

    async def main() -> tuple[Service, list[Any]]:
        service = Service(asyncio.get_running_loop(), answer=answer)
        async with _client(service, linger=0) as client:
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
        return service, results

    service, results = vtime.run(main)
    assert len(service.calls) == 1
    assert [type(r) for r in results] == [lsq.EndpointNotFoundError] * 3
    assert all(r.status == 405 for r in results)


def test_no_row_spills_onto_a_single_lead_road_that_does_not_exist() -> None:
    """Lead.Create answers 404: the row that spilled there fails; later rows wait for bulk."""

    async def main() -> tuple[Service, list[Any]]:
        service = Service(asyncio.get_running_loop(), answer=_no_api_for("Lead.Create"))
        async with _client(service, linger=0, bulk_rate_limit=lsq.RateLimit(1, 5)) as client:
            first = await client.create_lead({"EmailAddress": "a@example.com"})  # bulk, t=0
            outcomes: list[Any] = [first]
            for n in range(2):  # the bulk budget is 5 s away: the first of these spills
                try:
                    outcomes.append(await client.create_lead({"EmailAddress": f"b{n}@x.com"}))
                except lsq.LeadSquaredError as error:
                    outcomes.append(error)
        return service, outcomes

    service, outcomes = vtime.run(main)
    paths = [c.path.rsplit("/", 1)[-1] for c in service.calls]
    assert paths == ["Create", "Lead.Create", "Create"]
    assert isinstance(outcomes[0], lsq.LeadCreated)
    assert isinstance(outcomes[1], lsq.EndpointNotFoundError)
    assert isinstance(outcomes[2], lsq.LeadCreated)
    assert service.calls[2].at == pytest.approx(5.15, abs=0.2)  # the next bulk grant
