"""Reading leads out by date range end to end on virtual time: exactly once, boundaries,
modifications during the run, resuming, rate limits, refused pages, hooks, the sync client."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared, FaultPlan, Limit

from .conftest import MakeClient
from .export_support import T0, at, ids, read_all, seeded
from .lookups_support import CLIENT

pytestmark = [pytest.mark.vtime, pytest.mark.client_options(**CLIENT)]

RECENT = "Leads.RecentlyModified"


def calls(fake: FakeLeadSquared) -> int:
    """Calls the fake answered for the range endpoint."""
    return sum(1 for e in fake.ledger.entries if e.endpoint == RECENT)


@pytest.mark.parametrize("to_inclusive", [True, False])
async def test_4000_leads_in_one_second_come_exactly_once(
    make_client: MakeClient, to_inclusive: bool
) -> None:
    """4,000 leads sharing one second, over pages of 1,000 (ties unstable): each once."""
    fake, _ = seeded(
        {0: 300, 5: 4000, 6: 200, 50: 700},
        modified_page_limit=1000,
        modified_to_inclusive=to_inclusive,
    )
    async with await make_client(fake) as client:
        export = client.leads_modified(T0, at(100))
        got = await read_all(export)
    assert Counter(ids(got)) == Counter(fake.store.ids())
    assert len(got) == 5200
    assert export.done
    assert export.pages == calls(fake)
    assert calls(fake) <= 5200 // 1000 * 1.5 + 10


async def test_crowded_second_at_the_documented_page_of_5000(make_client: MakeClient) -> None:
    """6,000 leads in one second at the service's own 5,000-lead pages: each once."""
    fake, _ = seeded({3: 6000, 4: 10})
    async with await make_client(fake) as client:
        got = await read_all(client.leads_modified(T0, at(10)))
    assert sorted(ids(got)) == sorted(fake.store.ids())
    assert calls(fake) <= 4  # a page of the second by time, two by ProspectAutoId, the rest


@pytest.mark.parametrize("to_inclusive", [True, False])
async def test_both_ends_are_included_and_nothing_outside(
    make_client: MakeClient, to_inclusive: bool
) -> None:
    """Leads at since's and until's own seconds come; a second before or after does not."""
    fake, _ = seeded({9: 2, 10: 3, 20: 4, 21: 5}, modified_to_inclusive=to_inclusive)
    async with await make_client(fake) as client:
        got = await read_all(client.leads_modified(at(10), at(20)))
        later = await read_all(client.leads_modified(at(20.001), at(30)))
    names = sorted(int(lead.fields["FirstName"][1:]) for lead in got)
    assert names == list(range(3, 10))
    assert len(later) == 5  # the next run starts just after until: none of until's again


@pytest.mark.parametrize("where", ["ends", "crowd"])
async def test_modified_during_the_run_lands_in_this_run_or_the_next(
    make_client: MakeClient, where: str
) -> None:
    """Leads changed between pages are read once in this run or, moved past until, next.

    "ends": a lead from the range's start and one from its end move before every call;
    "crowd": three leads of a second holding 5 pages, first ones read, move before every call
    (each shifts the rest of the second's pages back).
    """
    counts = dict.fromkeys(range(0, 40, 2), 300) | {41: 2500}
    fake, clock = seeded(counts, modified_page_limit=500)
    every = fake.store.ids()
    crowd = every[6000:]  # second 41, in ProspectAutoId order
    touched: list[str] = []

    def modify(event: lsq.CallEvent) -> None:
        clock.at(500)
        if where == "ends":
            picked = [every[len(touched)], every[-1 - len(touched)]]
        else:
            picked = crowd[len(touched) : len(touched) + 3]
        for lead_id in picked:
            fake.store.update(lead_id, {"LastName": "changed"})
            touched.append(lead_id)

    async with await make_client(fake, on_call=modify) as client:
        first = client.leads_modified(T0, at(100))
        this_run = await read_all(first)
        since = first.checkpoint.next_since
        assert since == at(100.001)
    async with await make_client(fake) as client:
        next_run = await read_all(client.leads_modified(since, at(1000)))
    assert len(set(ids(this_run))) == len(this_run)  # once within the run
    assert set(ids(this_run)) | set(ids(next_run)) == set(every)  # none lost
    assert set(ids(next_run)) == set(touched)  # every change is seen by the next run
    assert all(lead.fields.get("LastName") is None for lead in this_run)
    assert first.pages <= 8500 / 500 * 1.5 + 10


async def test_the_quota_reserve_stops_an_export_like_bulk_work(make_client: MakeClient) -> None:
    """Pages are bulk work: the daily quota's reserve stops them; the checkpoint resumes."""
    fake, _ = seeded({0: 20, 1: 20, 2: 20, 3: 20, 4: 20}, modified_page_limit=10)
    got: list[lsq.Lead] = []
    async with await make_client(fake, daily_quota=5, quota_reserve=0.4) as client:
        export = client.leads_modified(T0, at(5))
        with pytest.raises(lsq.QuotaExhaustedError):
            await _collect(export, got)
        saved = export.checkpoint
    assert 0 < export.pages <= 3
    async with await make_client(fake) as client:
        got += await read_all(client.leads_modified(resume_from=saved))
    assert Counter(ids(got)) == Counter(fake.store.ids())


@pytest.mark.parametrize("stop_after", [0, 1, 299, 300, 1234, 3999, 4400])
async def test_a_resumed_export_equals_an_uninterrupted_one(
    make_client: MakeClient, stop_after: int
) -> None:
    """Stop anywhere, keep the checkpoint as JSON, resume: the same leads, in the same order."""
    fake, _ = seeded({0: 300, 1: 3000, 2: 1, 7: 1000}, modified_page_limit=700)
    async with await make_client(fake) as client:
        whole = await read_all(client.leads_modified(T0, at(9)))
        export = client.leads_modified(T0, at(9))
        head = await read_all(export, stop_after)
        saved = export.checkpoint.to_json()
    async with await make_client(fake) as client:
        resumed = client.leads_modified(resume_from=lsq.ExportCheckpoint.from_json(saved))
        tail = await read_all(resumed)
    assert ids(head + tail) == ids(whole)
    assert len(whole) == 4301


async def test_rate_limits_are_learned_and_pages_wait(make_client: MakeClient) -> None:
    """Against a tighter limit than the client's, 429s are learned and nothing is lost."""
    fake, _ = seeded({0: 50, 1: 50, 2: 50, 3: 50}, modified_page_limit=20)
    fake.rate_limit = Limit(2, 1.0)
    async with await make_client(fake, rate_limit=lsq.RateLimit(50, 1.0)) as client:
        got = await read_all(client.leads_modified(T0, at(5)))
        stats = client.stats()
    assert sorted(ids(got)) == sorted(fake.store.ids())
    assert stats.rate_limited >= 1
    assert (stats.rate_limit.calls, stats.rate_limit.period) == (2, 1.0)  # learned


async def test_system_errors_are_retried_like_any_lookup(make_client: MakeClient) -> None:
    """A page answered by a system error is sent again; every lead still comes once."""
    fake, _ = seeded({0: 100, 1: 100}, modified_page_limit=30, faults=FaultPlan(system_error=0.3))
    async with await make_client(fake) as client:
        got = await read_all(client.leads_modified(T0, at(2)))
        stats = client.stats()
    assert Counter(ids(got)) == Counter(fake.store.ids())
    assert stats.retries >= 1


class RefuseThird(httpx2.AsyncBaseTransport):
    """Refuses the third range call with an MX error (HTTP 500), as the service refuses input."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith(RECENT):
            self.seen += 1
            if self.seen == 3:
                body = {
                    "Status": "Error",
                    "ExceptionType": "MXInvalidInputException",
                    "ExceptionMessage": "Invalid Paging",
                }
                return httpx2.Response(500, json=body)
        return await self.inner.handle_async_request(request)


async def _collect(export: lsq.LeadsModified, into: list[lsq.Lead]) -> None:
    async for lead in export:
        into.append(lead)


async def test_a_refused_page_raises_and_the_checkpoint_resumes(make_client: MakeClient) -> None:
    """An MX refusal is not retried: the iterator raises it; its checkpoint resumes the rest."""
    fake, _ = seeded({0: 10, 1: 10, 2: 10, 3: 10}, modified_page_limit=12)
    got: list[lsq.Lead] = []
    async with await make_client(RefuseThird(fake.transport())) as client:
        export = client.leads_modified(T0, at(5))
        with pytest.raises(lsq.LeadSquaredError, match="Invalid Paging"):
            await _collect(export, got)
        saved = export.checkpoint
    async with await make_client(fake) as client:
        got += await read_all(client.leads_modified(resume_from=saved))
    assert Counter(ids(got)) == Counter(fake.store.ids())


async def test_pages_are_announced_to_the_hooks(make_client: MakeClient) -> None:
    """Every page is a call the hooks see, its own operation, on the general budget."""
    fake, _ = seeded({0: 5, 1: 5}, modified_page_limit=4)
    events: list[lsq.Event] = []
    async with await make_client(fake, on_event=events.append) as client:
        export = client.leads_modified(T0, at(2), columns=["FirstName"])
        got = await read_all(export)
        stats = client.stats()
    started = [e for e in events if isinstance(e, lsq.CallEvent)]
    assert [e.endpoint for e in started] == [RECENT] * export.pages
    assert all(type(e.operations[0]).__name__ == "ReadModifiedPage" for e in started)
    assert stats.endpoints[RECENT].calls == export.pages
    assert set(got[0].fields) == {"ProspectID", "FirstName"}  # the key columns trimmed away


async def test_bad_arguments_fail_at_the_call(make_client: MakeClient) -> None:
    """A naive datetime, since after until, a bad page size: ValidationError naming it."""
    fake, _ = seeded({})
    async with await make_client(fake) as client:
        with pytest.raises(lsq.ValidationError, match="since"):
            client.leads_modified(dt.datetime(2026, 1, 1))
        with pytest.raises(lsq.ValidationError, match="since"):
            client.leads_modified(at(10), at(5))
        with pytest.raises(lsq.ValidationError, match="page_size"):
            client.leads_modified(T0, at(1), page_size=5001)
        with pytest.raises(lsq.ValidationError, match="columns"):
            client.leads_modified(T0, at(1), columns=["First,Name"])


async def test_until_defaults_to_the_second_before_the_iteration_starts(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without until, the range ends just before the second the iteration starts in."""
    import leadsq_async._client as client_module

    now = [at(20.5)]
    monkeypatch.setattr(client_module, "_utcnow", lambda: now[0])
    fake, _ = seeded({19: 1, 29: 1, 30: 1})
    async with await make_client(fake) as client:
        export = client.leads_modified(T0)
        assert export.checkpoint.until_datetime == at(19.999)  # for now
        now[0] = at(30.75)  # the iteration starts later
        got = await read_all(export)
    assert [lead.fields["FirstName"] for lead in got] == ["L1", "L2"]
    assert export.checkpoint.next_since == at(30)


def test_the_sync_client_iterates_the_same(fake: FakeLeadSquared) -> None:
    """SyncLeadSquaredClient.leads_modified is a plain iterator with a checkpoint."""
    fake.store.set_clock(lambda: T0)
    for n in range(30):
        fake.store.insert({"FirstName": f"S{n}"})
    fake.modified_page_limit = 7
    options: dict[str, Any] = {"rate_limit": lsq.RateLimit(10_000, 1.0), "backoff": 0.001}
    with lsq.SyncLeadSquaredClient(
        "u$rdemo0000000000000000000000000000",
        "demo0000000000000000000000000000000000000",
        base_url="https://api-in21.leadsquared.com",
        http_client_factory=lambda: httpx2.AsyncClient(transport=fake.transport()),
        **options,
    ) as client:
        export = client.leads_modified(T0, at(1))
        first = [next(export) for _ in range(10)]
        rest = list(client.leads_modified(resume_from=export.checkpoint))
    assert sorted(ids(first + rest)) == sorted(fake.store.ids())
    assert export.leads == 10
