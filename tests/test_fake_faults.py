"""Fault injection in the fake, through the in-process transport."""

from __future__ import annotations

import time

import httpx2
import pytest

from leadsq_async.testing import FakeLeadSquared, FaultPlan

from .fake_support import LM, client


def rows(*ns: int) -> list[list[dict[str, str]]]:
    return [[{"Attribute": "EmailAddress", "Value": f"lead{n}@example.com"}] for n in ns]


def v2_body(*emails: str) -> dict[str, object]:
    return {
        "SearchByKey": "EmailAddress",
        "LeadPropertiesList": [
            {
                "Fields": [
                    {"Attribute": "EmailAddress", "Value": e},
                    {"Attribute": "A", "Value": "1"},
                ]
            }
            for e in emails
        ],
    }


async def test_system_error_both_forms_change_nothing() -> None:
    """System errors come as 500 JSON without ExceptionType or 502/503 HTML; nothing applied."""
    fake = FakeLeadSquared(faults=FaultPlan(system_error=1.0), rate_limit=None)
    statuses = set()
    async with client(fake) as c:
        for n in range(40):
            r = await c.post(LM + "Lead/Bulk/Create", json=rows(n))
            statuses.add(r.status_code)
            if r.status_code == 500:
                assert r.json() == {
                    "Status": "Error",
                    "ExceptionMessage": "An unexpected error occurred",
                }
            else:
                assert r.status_code in (502, 503)
                assert r.headers["content-type"].startswith("text/html")
                assert r.text.lstrip().startswith("<html>")
    assert statuses == {500, 502, 503}
    assert fake.store.count() == 0
    assert all(e.fault == "system_error" and not e.applied for e in fake.ledger.entries)
    assert fake.ledger.calls(accepted_only=True) == 40  # the service counted them


async def test_drop_before_is_connect_error_and_not_applied() -> None:
    """drop_before surfaces as httpx2.ConnectError and applies nothing."""
    fake = FakeLeadSquared(faults=FaultPlan(drop_before=1.0))
    async with client(fake) as c:
        with pytest.raises(httpx2.ConnectError):
            await c.post(LM + "Lead/Bulk/Create", json=rows(1, 2))
    assert fake.store.count() == 0
    (entry,) = fake.ledger.entries
    assert (entry.fault, entry.status, entry.applied, entry.rows) == ("drop_before", 0, False, 2)
    assert entry.accepted is False


async def test_drop_after_is_remote_protocol_error_and_applied() -> None:
    """drop_after applies the change, then surfaces as httpx2.RemoteProtocolError."""
    fake = FakeLeadSquared(faults=FaultPlan(drop_after=1.0))
    async with client(fake) as c:
        with pytest.raises(httpx2.RemoteProtocolError):
            await c.post(LM + "Lead/Bulk/Create", json=rows(1, 2))
    assert fake.store.count() == 2
    (entry,) = fake.ledger.entries
    assert (entry.fault, entry.status, entry.applied) == ("drop_after", 200, True)


async def test_omit_rows_applies_but_leaves_a_row_out() -> None:
    """omit_rows answers without one row, but every row was applied."""
    fake = FakeLeadSquared(faults=FaultPlan(omit_rows=1.0))
    fake.store.insert({"EmailAddress": "a@example.com"})
    fake.store.insert({"EmailAddress": "b@example.com"})
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/Create", json=rows(1, 2, 3))
        v2 = await c.post(LM + "Lead/Bulk/UpdateV2", json=v2_body("a@example.com", "b@example.com"))
        # Not applicable to Lead/Bulk/Update: answered whole, no fault recorded.
        u = await c.post(
            LM + "Lead/Bulk/Update",
            json={"LeadIds": ["x"], "LeadFields": {"Attribute": "A", "Value": "2"}},
        )
    assert len(r.json()) == 2
    assert fake.store.count() == 5
    assert len(v2.json()["Details"]["SuccessfulLeads"]) == 1
    assert v2.json()["Status"]["SuccessCount"] == 2
    assert all(lead.get("A") == "1" for lead in fake.store.all()[:2])
    assert u.json() == {"Status": "Success", "Message": {"AffectedRows": 0}}
    assert [e.fault for e in fake.ledger.entries] == ["omit_rows", "omit_rows", None]


async def test_change_case_echoes_identifiers_differently() -> None:
    """change_case upper-cases LeadIds and distorts UpdateV2 IdentifierValues."""
    fake = FakeLeadSquared(faults=FaultPlan(change_case=1.0), rate_limit=None)
    async with client(fake) as c:
        r = await c.post(LM + "Lead/Bulk/Create", json=rows(1))
        lead_id = r.json()[0]["LeadId"]
        assert lead_id == lead_id.upper()
        assert fake.store.get(lead_id) is not None
        seen = set()
        for _ in range(12):
            v2 = await c.post(LM + "Lead/Bulk/UpdateV2", json=v2_body("lead1@example.com"))
            (entry,) = v2.json()["Details"]["SuccessfulLeads"]
            value = entry["IdentifierValue"]
            assert value != "lead1@example.com"
            assert value.strip().lower() == "lead1@example.com"
            seen.add(value)
    assert len(seen) > 1


async def test_latency_delays_the_answer() -> None:
    """latency waits before answering."""
    fake = FakeLeadSquared(faults=FaultPlan(latency=(0.05, 0.06)))
    async with client(fake) as c:
        start = time.perf_counter()
        r = await c.get(LM + "Leads.GetById", params={"id": "x"})
        elapsed = time.perf_counter() - start
    assert r.status_code == 200
    assert elapsed >= 0.045
    assert fake.ledger.entries[0].fault is None


async def test_per_endpoint_plan_overrides_global() -> None:
    """An endpoint's own plan replaces the global one; None removes the override."""
    fake = FakeLeadSquared(faults=FaultPlan(system_error=1.0))
    fake.set_faults(FaultPlan(), "Leads.GetById")
    async with client(fake) as c:
        assert (await c.get(LM + "Leads.GetById", params={"id": "x"})).status_code == 200
        assert (await c.post(LM + "Lead/Bulk/Create", json=rows(1))).status_code >= 500
        fake.set_faults(None, "Leads.GetById")
        assert (await c.get(LM + "Leads.GetById", params={"id": "x"})).status_code >= 500
        fake.set_faults(None)
        assert (await c.get(LM + "Leads.GetById", params={"id": "x"})).status_code == 200
    with pytest.raises(ValueError, match="lead endpoints"):
        fake.set_faults(FaultPlan(), "UserByAccessKey.Get")


async def test_fault_decisions_are_reproducible() -> None:
    """The same seed gives the same fault sequence."""
    runs = []
    for _ in range(2):
        fake = FakeLeadSquared(
            faults=FaultPlan(system_error=0.3, omit_rows=0.3, latency=(0, 0.001)),
            seed=3,
            rate_limit=None,
        )
        async with client(fake) as c:
            for n in range(20):
                await c.post(LM + "Lead/Bulk/Create", json=rows(n, n + 100))
        runs.append([(e.fault, e.status) for e in fake.ledger.entries])
    assert runs[0] == runs[1]
    assert {f for f, _ in runs[0]} == {None, "system_error", "omit_rows"}
