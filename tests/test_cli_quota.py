"""The importer and a spent daily quota: it stops at once with its own exit code, and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

from .test_cli import SCALED, cli, importing, many_leads


def test_a_spent_quota_stops_the_import_with_exit_4_and_resume_finishes_it(
    tmp_path: Path,
) -> None:
    """Quota spent mid-import: exit 4 naming --resume, few calls; after the reset, resume ends."""
    fake = FakeLeadSquared(
        rate_limit=lsq.RateLimit.parse(SCALED), daily_quota=lsq.RateLimit(6, 86_400)
    )
    source = many_leads(tmp_path / "leads.csv", 1000)
    results = tmp_path / "results.jsonl"
    with fake.serve_in_thread() as url:
        first = cli(*importing(url, source, results), "--op", "create")
        assert first.returncode == 4, first.stderr
        assert "quota" in first.stderr
        assert "--resume" in first.stderr
        # No hammering: once the client has read a refusal naming the quota it sends nothing
        # more, so what reaches the service after the first one is only what was already on
        # its way (8 calls in flight at the most).
        first_refusal = min(e.seq for e in fake.ledger.entries if e.budget == "quota")
        later = [e for e in fake.ledger.entries if e.seq > first_refusal]
        assert len(later) <= 8, "no hammering once the quota is spent"
        assert fake.ledger.rate_limited(budget="quota") >= 1
        created = fake.store.count()
        assert created == 6 * 50

        fake.daily_quota = None  # the next day
        second = cli(*importing(url, source, results), "--op", "create", "--resume")
        assert second.returncode == 0, second.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    final = {line["line"]: line for line in lines}
    assert len(final) == 1000
    assert all(line["status"] == "ok" for line in final.values())
    assert fake.store.count() == 1000
    assert fake.store.duplicates() == []
