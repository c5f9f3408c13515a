"""The fake's own control endpoints, for benchmarks and tests in another process."""

from __future__ import annotations

import httpx

from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}


async def test_summary_and_reset_over_http() -> None:
    """GET /_fake/summary reports calls, rows and leads; POST /_fake/reset forgets them."""
    fake = FakeLeadSquared()
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url="https://api-in21.leadsquared.com", headers=HEADERS
    ) as http:
        body = [[{"Attribute": "EmailAddress", "Value": f"s{i}@example.com"}] for i in range(3)]
        assert (await http.post("/v2/LeadManagement.svc/Lead/Bulk/Create", json=body)).is_success
        summary = (await http.get("/_fake/summary", params={"window": "5"})).json()
        assert summary["calls"] == 1
        assert summary["endpoints"] == {"Lead/Bulk/Create": {"calls": 1, "rows": 3}}
        assert (summary["leads"], summary["duplicates"], summary["max_calls_in_window"]) == (
            3,
            0,
            1,
        )
        assert (await http.post("/_fake/reset")).json() == {"Status": "Success"}
        assert (await http.get("/_fake/summary")).json()["leads"] == 0
        assert len(fake.ledger) == 0  # reset cleared it, and control calls are never recorded


async def test_control_endpoints_need_the_keys() -> None:
    """The control endpoints answer 401 without the keys and 404 for unknown actions."""
    fake = FakeLeadSquared()
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url="https://api-in21.leadsquared.com"
    ) as http:
        assert (await http.get("/_fake/summary")).status_code == 401
        assert (await http.get("/_fake/nothing", headers=HEADERS)).status_code == 404


def test_serve_subprocess_and_remote_ledger() -> None:
    """serve_subprocess runs the fake in its own process; remote_summary/remote_reset reach it."""
    from leadsq_async.testing import remote_reset, remote_summary, serve_subprocess

    with serve_subprocess("5/1") as url:
        body = [[{"Attribute": "FirstName", "Value": "Ada"}]]
        path = f"{url}/v2/LeadManagement.svc/Lead/Bulk/Create"
        assert httpx.post(path, json=body, headers=HEADERS).json()[0]["LeadCreated"] is True
        summary = remote_summary(url, 1.0)
        assert (summary["calls"], summary["leads"], summary["window"]) == (1, 1, 1.0)
        remote_reset(url)
        assert remote_summary(url)["leads"] == 0
