"""The fake's own control endpoints, for benchmarks and tests in another process."""

from __future__ import annotations

import httpx2

from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}


async def test_summary_and_reset_over_http() -> None:
    """GET /_fake/summary reports calls, rows and leads; POST /_fake/reset forgets them."""
    fake = FakeLeadSquared()
    async with httpx2.AsyncClient(
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


async def test_leads_listed_and_fetched_over_http() -> None:
    """GET /_fake/leads lists every lead in creation order; /_fake/leads/{id} fetches one."""
    fake = FakeLeadSquared()
    first = fake.store.insert({"EmailAddress": "one@example.com", "FirstName": "One"})
    second = fake.store.insert(
        {"EmailAddress": "two@example.com", "mx_KYC": {"Value": "", "Fields": {"Status": "Ok"}}}
    )
    async with httpx2.AsyncClient(
        transport=fake.transport(), base_url="https://api-in21.leadsquared.com", headers=HEADERS
    ) as http:
        listed = (await http.get("/_fake/leads")).json()
        assert listed["count"] == 2
        assert [lead["ProspectID"] for lead in listed["leads"]] == [first, second]
        assert listed["leads"][0]["EmailAddress"] == "one@example.com"
        one = await http.get(f"/_fake/leads/{second.upper()}")
        assert one.status_code == 200
        assert one.json()["mx_KYC"] == {"Value": "", "Fields": {"Status": "Ok"}}
        missing = await http.get("/_fake/leads/3f2504e0-4f89-41d3-9a0c-0305e82c3301")
        assert missing.status_code == 404
        assert missing.json()["ExceptionType"] == "MXInvalidEntityException"
        assert (await http.post("/_fake/leads")).status_code == 404
    assert len(fake.ledger) == 0  # reading leads is not a call to the service


async def test_control_endpoints_need_the_keys() -> None:
    """The control endpoints answer 401 without the keys and 404 for unknown actions."""
    fake = FakeLeadSquared()
    async with httpx2.AsyncClient(
        transport=fake.transport(), base_url="https://api-in21.leadsquared.com"
    ) as http:
        assert (await http.get("/_fake/summary")).status_code == 401
        assert (await http.get("/_fake/leads")).status_code == 401
        assert (await http.get("/_fake/leads/x")).status_code == 401
        assert (await http.get("/_fake/nothing", headers=HEADERS)).status_code == 404


def test_serve_subprocess_and_remote_ledger() -> None:
    """serve_subprocess runs the fake in its own process; the remote_* helpers reach it."""
    from leadsq_async.testing import (
        remote_lead,
        remote_leads,
        remote_reset,
        remote_summary,
        serve_subprocess,
    )

    with serve_subprocess("5/1") as url:
        body = [[{"Attribute": "FirstName", "Value": "Ada"}]]
        path = f"{url}/v2/LeadManagement.svc/Lead/Bulk/Create"
        assert httpx2.post(path, json=body, headers=HEADERS).json()[0]["LeadCreated"] is True
        summary = remote_summary(url, 1.0)
        assert (summary["calls"], summary["leads"], summary["window"]) == (1, 1, 1.0)
        (lead,) = remote_leads(url)
        assert lead["FirstName"] == "Ada"
        assert remote_lead(url, lead["ProspectID"]) == lead
        assert remote_lead(url, "3f2504e0-4f89-41d3-9a0c-0305e82c3301") is None
        remote_reset(url)
        assert remote_summary(url)["leads"] == 0
