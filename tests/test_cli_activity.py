"""``import --op activity`` in-process on virtual time, and stream() with the new operations.

The importer runs on ``vtime.VirtualTimeLoop`` with its client wired to the in-process fake (a
patched ``from_settings``), so nothing is served, nothing sleeps, and the store is checked.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async._cli import main
from leadsq_async._cli._importer import ImportConfig, ImportReport, check_source, run
from leadsq_async._cli._options import UsageError
from leadsq_async._cli._source import Source
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

from .conftest import MakeClient
from .lookups_support import CLIENT, fake, seed

pytestmark = [pytest.mark.vtime, pytest.mark.client_options(**CLIENT)]

MISSING = "00000000-0000-4000-8000-000000000001"


async def _import(
    monkeypatch: pytest.MonkeyPatch, path: Path, prepare: Any, **options: Any
) -> tuple[FakeLeadSquared, ImportReport, list[dict[str, Any]], str]:
    """Seed a fake with ``prepare(fake)``, import ``path`` into it; report, lines, summary."""
    original = lsq.LeadSquaredClient.from_settings
    service = fake()
    prepare(service)
    loop = asyncio.get_running_loop()

    def wired(settings: lsq.Settings, **kw: Any) -> lsq.LeadSquaredClient:
        http = httpx2.AsyncClient(transport=service.transport())
        return original(settings, http_client=http, clock=loop.time, **kw)

    monkeypatch.setattr(lsq.LeadSquaredClient, "from_settings", staticmethod(wired))
    options.setdefault("fmt", "jsonl" if path.suffix == ".jsonl" else "csv")
    cfg = ImportConfig(
        path=path,
        op="activity",
        search_by=None,
        results=path.with_suffix(".results.jsonl"),
        access_key=DEMO_ACCESS_KEY,
        secret_key=DEMO_SECRET_KEY,
        base_url="https://fake",
        rate=None,
        plain=True,
        **options,
    )
    out = io.StringIO()
    report = await run(cfg, out=out, err=io.StringIO())
    summary = out.getvalue()
    results = path.with_suffix(".results.jsonl").read_text().splitlines()
    return service, report, [json.loads(line) for line in results], summary


async def test_a_csv_of_activities_posts_each_row_on_its_lead(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Rows by id and by email are posted; a missing lead, a bad date, no lead: their own lines."""
    ids: list[str] = []
    source = tmp_path / "visits.csv"

    def prepare(service: FakeLeadSquared) -> None:
        ids.extend(seed(service, 2))
        source.write_text(
            "ProspectID,EmailAddress,ActivityEvent,ActivityNote,ActivityDateTime,mx_Custom_1\n"
            f"{ids[0]},,201,Brochure,2024-05-06 07:00:15,pdf\n"
            f",lead1@example.com,202,,2024-05-06T12:30:15+05:30,\n"
            f"{MISSING},,201,Gone,,\n"
            f"{ids[0]},,201,Late,yesterday,\n"
            ",,201,Nobody,,\n"
        )

    service, report, lines, summary = await _import(monkeypatch, source, prepare)
    statuses = [(line["line"], line["status"]) for line in lines]
    assert sorted(statuses) == [
        (2, "ok"),
        (3, "ok"),
        (4, "not_found"),
        (5, "rejected"),
        (6, "rejected"),
    ]
    by_line = {line["line"]: line for line in lines}
    (first,) = service.store.activities(ids[0])
    assert first == {
        "ProspectActivityId": by_line[2]["activity_id"],
        "RelatedProspectId": ids[0],
        "ActivityEvent": 201,
        "ActivityNote": "Brochure",
        "ActivityDateTime": "2024-05-06 07:00:15",
        "Fields": {"mx_Custom_1": "pdf"},
    }
    (second,) = service.store.activities(ids[1])
    assert second["ProspectActivityId"] == by_line[3]["activity_id"]
    assert second["ActivityDateTime"] == "2024-05-06 07:00:15"
    assert "ActivityDateTime" in by_line[5]["reason"]
    assert report.exit_code == 1
    assert "not_found" in summary


async def test_jsonl_activities_take_the_event_option(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--event gives rows without ActivityEvent their code; a row's own code wins."""
    source = tmp_path / "visits.jsonl"

    def prepare(service: FakeLeadSquared) -> None:
        seed(service, 3)
        source.write_text(
            "\n".join(
                json.dumps(row)
                for row in (
                    {"EmailAddress": "lead0@example.com", "Note": "a"},
                    {"Phone": "9800000001", "Event": 250},
                    {"EmailAddress": "lead2@example.com", "mx_Score": 7},
                )
            )
            + "\n"
        )

    service, report, lines, _ = await _import(monkeypatch, source, prepare, event=201)
    assert report.exit_code == 0
    assert [line["status"] for line in lines] == ["ok"] * 3
    events = sorted(
        a["ActivityEvent"] for i in service.store.ids() for a in service.store.activities(i)
    )
    assert events == [201, 201, 250]


def test_activity_imports_check_the_header_and_their_options(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No event column nor --event, or --search-by: exit 2 before any call; --dry-run counts."""
    monkeypatch.setenv("LSQ_ACCESS_KEY", DEMO_ACCESS_KEY)
    monkeypatch.setenv("LSQ_SECRET_KEY", DEMO_SECRET_KEY)
    source = tmp_path / "visits.csv"
    source.write_text(f"ProspectID,ActivityNote\n{MISSING},x\n")
    args = ["import", str(source), "--op", "activity", "--base-url", "http://127.0.0.1:9"]
    assert main(args) == 2
    assert main([*args, "--event", "201", "--search-by", "EmailAddress"]) == 2
    assert main(["import", str(source), "--op", "create", "--event", "201"]) == 2
    with pytest.raises(UsageError, match="ActivityEvent"):
        check_source(Source(source, "csv", op="activity"))
    good = tmp_path / "good.csv"
    good.write_text(f"ProspectID,ActivityEvent\n{MISSING},201\n{MISSING},soon\n")
    assert main(["import", str(good), "--op", "activity", "--dry-run"]) == 1


async def test_stream_takes_activities_and_lookups_in_input_order(make_client: MakeClient) -> None:
    """stream() yields one outcome per operation, whatever kind, in input order."""
    service = fake()
    ids = seed(service, 3)
    ops: list[lsq.Operation] = [
        lsq.PostActivity(lead_id=ids[0], event=201),
        lsq.GetLead(ids[1]),
        lsq.FindLead(email="lead2@example.com"),
        lsq.PostActivity(lead_id=MISSING, event=201),
        lsq.GetLead(MISSING),
    ]
    async with await make_client(service) as c:
        outcomes = [o async for o in c.stream(ops)]
    assert [o.operation for o in outcomes] == ops
    assert isinstance(outcomes[0].result, lsq.ActivityPosted)
    assert isinstance(outcomes[1].result, lsq.Lead)
    assert outcomes[1].result.lead_id == ids[1]
    assert isinstance(outcomes[2].result, lsq.Lead)
    assert outcomes[2].result.lead_id == ids[2]
    assert isinstance(outcomes[3].error, lsq.LeadNotFoundError)
    assert outcomes[4].ok
    assert outcomes[4].result is None
