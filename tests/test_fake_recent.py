"""The fake's reads of many leads: ``Leads.RecentlyModified`` and ``Leads.Get``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from leadsq_async.testing import FakeLeadSquared

from .fake_support import LM, client

T0 = dt.datetime(2026, 11, 1, 0, 0, 0, tzinfo=dt.UTC)


class LeadClock:
    """A hand-driven lead clock: every write takes ``now``."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, seconds: float) -> None:
        """Move to ``seconds`` after T0."""
        self.now = T0 + dt.timedelta(seconds=seconds)


def body(
    since: str,
    until: str,
    *,
    columns: str = "ProspectID,FirstName,ModifiedOn,ProspectAutoId",
    index: int = 1,
    size: int = 100,
    column: str = "ProspectAutoId",
    direction: str = "0",
) -> dict[str, Any]:
    """A ``Leads.RecentlyModified`` body as the README shows it."""
    return {
        "Parameter": {"FromDate": since, "ToDate": until},
        "Columns": {"Include_CSV": columns},
        "Paging": {"PageIndex": index, "PageSize": size},
        "Sorting": {"ColumnName": column, "Direction": direction},
    }


def flat(lead: dict[str, Any]) -> dict[str, Any]:
    """One answered lead's property list as a dict."""
    return {p["Attribute"]: p["Value"] for p in lead["LeadPropertyList"]}


def seeded(counts: dict[int, int], **options: Any) -> tuple[FakeLeadSquared, LeadClock]:
    """A fake holding ``counts[s]`` leads modified ``s`` seconds after T0."""
    clock = LeadClock()
    fake = FakeLeadSquared(now=clock, **options)
    n = 0
    for second, count in sorted(counts.items()):
        clock.at(second)
        for _ in range(count):
            n += 1
            fake.store.insert({"FirstName": f"L{n}"})
    return fake, clock


async def test_answer_has_the_documented_shape() -> None:
    """RecordCount counts the range; Leads hold LeadPropertyList entries of strings."""
    fake, _ = seeded({0: 2, 5: 1})
    async with client(fake) as c:
        r = await c.post(
            LM + "Leads.RecentlyModified", json=body("2026-11-01 00:00:00", "2026-11-01 00:00:10")
        )
    assert r.status_code == 200
    data = r.json()
    assert data["RecordCount"] == 3
    leads = [flat(lead) for lead in data["Leads"]]
    assert [lead["FirstName"] for lead in leads] == ["L1", "L2", "L3"]
    assert leads[2]["ModifiedOn"] == "2026-11-01 00:00:05.000"
    assert [lead["ProspectAutoId"] for lead in leads] == ["1", "2", "3"]


@pytest.mark.parametrize("to_inclusive", [True, False])
async def test_from_includes_its_second_and_to_as_set(to_inclusive: bool) -> None:
    """FromDate includes its second; ToDate does only when the fake is told so."""
    fake, _ = seeded({0: 1, 1: 1, 2: 1, 3: 1}, modified_to_inclusive=to_inclusive)
    async with client(fake) as c:
        r = await c.post(
            LM + "Leads.RecentlyModified", json=body("2026-11-01 00:00:01", "2026-11-01 00:00:03")
        )
    names = [flat(lead)["FirstName"] for lead in r.json()["Leads"]]
    assert names == (["L2", "L3", "L4"] if to_inclusive else ["L2", "L3"])


async def test_page_size_is_cut_to_the_limit_and_pages_follow() -> None:
    """A PageSize over the limit is cut; PageIndex walks the sorted range."""
    fake, _ = seeded({0: 7}, modified_page_limit=3)
    got = []
    async with client(fake) as c:
        for index in (1, 2, 3):
            r = await c.post(
                LM + "Leads.RecentlyModified",
                json=body("2026-11-01 00:00:00", "2026-11-01 00:00:00", index=index, size=5000),
            )
            data = r.json()
            assert data["RecordCount"] == 7
            got += [flat(lead)["FirstName"] for lead in data["Leads"]]
    assert got == [f"L{n}" for n in range(1, 8)]


async def test_most_recent_first_and_writes_move_a_lead() -> None:
    """Direction "1" sorts most recent first; an update sets ModifiedOn from the clock."""
    fake, clock = seeded({0: 1, 10: 1})
    first = fake.store.ids()[0]
    clock.at(20)
    fake.store.update(first, {"FirstName": "Moved"})
    async with client(fake) as c:
        r = await c.post(
            LM + "Leads.RecentlyModified",
            json=body(
                "2026-11-01 00:00:00", "2026-11-01 00:01:00", column="ModifiedOn", direction="1"
            ),
        )
    leads = [flat(lead) for lead in r.json()["Leads"]]
    assert [lead["FirstName"] for lead in leads] == ["Moved", "L2"]
    assert leads[0]["ModifiedOn"] == "2026-11-01 00:00:20.000"


async def test_bad_bodies_are_refused() -> None:
    """A bad date, a missing Include_CSV or a bad direction is an MX error."""
    fake, _ = seeded({0: 1})
    bad_date = body("2026-11-01", "2026-11-01 00:00:00")
    no_columns = body("2026-11-01 00:00:00", "2026-11-01 00:00:00")
    no_columns["Columns"] = {}
    bad_direction = body("2026-11-01 00:00:00", "2026-11-01 00:00:00", direction="up")
    async with client(fake) as c:
        for sent in (bad_date, no_columns, bad_direction):
            r = await c.post(LM + "Leads.RecentlyModified", json=sent)
            assert r.status_code == 400
            assert r.json()["ExceptionType"] == "MXInvalidInputException"


async def test_leads_get_compares_one_field() -> None:
    """Leads.Get answers a plain array of the leads matching LookupName/SqlOperator."""
    fake, _ = seeded({0: 5})
    query = {
        "Parameter": {"LookupName": "ProspectAutoId", "LookupValue": "3", "SqlOperator": ">="},
        "Columns": {"Include_CSV": "ProspectID,FirstName"},
        "Sorting": {"ColumnName": "ProspectAutoId", "Direction": "1"},
        "Paging": {"PageIndex": 1, "PageSize": 2},
    }
    like = {
        **query,
        "Parameter": {"LookupName": "FirstName", "LookupValue": "l%", "SqlOperator": "LIKE"},
    }
    async with client(fake) as c:
        r = await c.post(LM + "Leads.Get", json=query)
        every = await c.post(
            LM + "Leads.Get", json={**like, "Paging": {"PageIndex": 1, "PageSize": 10}}
        )
    assert [lead["FirstName"] for lead in r.json()] == ["L5", "L4"]
    assert len(every.json()) == 5


def test_command_line_sets_the_page_limit_and_todate() -> None:
    """--modified-page-limit and --modified-to-exclusive reach the fake."""
    import argparse

    from leadsq_async.testing import add_arguments, build_fake

    parser = add_arguments(argparse.ArgumentParser())
    fake = build_fake(parser.parse_args(["--modified-page-limit", "7", "--modified-to-exclusive"]))
    assert (fake.modified_page_limit, fake.modified_to_inclusive) == (7, False)
    default = build_fake(parser.parse_args([]))
    assert (default.modified_page_limit, default.modified_to_inclusive) == (5000, True)
