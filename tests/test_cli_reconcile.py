"""``import --resume`` settles creates an earlier run left unknown, when they have a unique key."""

from __future__ import annotations

import json
from pathlib import Path

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

from .test_cli import SCALED, cli, importing, read_results, write_csv


def test_resume_looks_unknown_creates_up_by_their_unique_field(tmp_path: Path) -> None:
    """Found and same: ok, reconciled; not found: created; different: rejected; no key: kept."""
    fake = FakeLeadSquared(rate_limit=lsq.RateLimit.parse(SCALED))
    fake.store.insert({"EmailAddress": "there@example.com", "FirstName": "Ann"})
    fake.store.insert({"EmailAddress": "other@example.com", "FirstName": "Zed"})
    source = write_csv(
        tmp_path / "leads.csv",
        [
            "FirstName,EmailAddress",
            "Ann,there@example.com",
            "Bob,missing@example.com",
            "Cy,other@example.com",
            "NoKey,",
        ],
    )
    results = tmp_path / "results.jsonl"
    unknown = {"status": "unknown_outcome", "lead_id": None, "error_type": "OutcomeUnknownError"}
    results.write_text(
        "".join(json.dumps({"line": n, **unknown, "reason": "lost"}) + "\n" for n in (2, 3, 4, 5))
    )
    with fake.serve_in_thread() as url:
        done = cli(*importing(url, source, results), "--op", "create", "--resume", "--plain")
    assert done.returncode == 1, done.stderr  # one row rejected, one still unknown
    final = {line["line"]: line for line in read_results(results)}
    assert final[2]["status"] == "ok"
    assert final[2]["reconciled"] is True
    assert final[2]["lead_id"] == fake.store.find_by_email("there@example.com")["ProspectID"]
    assert final[3]["status"] == "ok"
    assert "reconciled" not in final[3]
    assert final[4]["status"] == "rejected"
    assert final[4]["error_type"] == "LeadRejectedError"
    assert final[5]["status"] == "unknown_outcome"
    assert fake.store.count() == 3
    assert fake.store.duplicates() == []
    assert fake.ledger.calls("Lead/Bulk/Create") == 1
    # The summary counts each row once: the earlier unknown lines answered now are not twice.
    summary = " ".join(done.stdout.split())
    assert "ok 2 rejected 1 unknown_outcome 1" in summary
    assert "LeadRejectedError 1 OutcomeUnknownError 1" in summary
