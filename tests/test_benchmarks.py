"""The benchmark runner's --quick mode, so that it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(180)
def test_quick_benchmark_runs_and_writes_results(tmp_path: Path) -> None:
    """`python -m benchmarks --quick` runs every scenario and writes JSON, a table and plots."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=True,
    )
    report = json.loads((tmp_path / "quick.json").read_text())
    assert set(report["results"]) == {
        "saturation",
        "client_cost",
        "in_process",
        "idle_latency",
        "limiters",
        "interactive_under_load",
        "memory",
        "stream_memory",
        "plans",
        "refused",
        "accounts",
    }
    assert report["results"]["memory"]["rows"] > 0
    for name in ("client_cost", "in_process"):
        cost = report["results"][name]
        assert isinstance(cost["orjson"], bool)
        for side in ("client", "raw_httpx"):
            assert cost[side]["rows"] > 0
            assert cost[side]["ok"] == cost[side]["rows"]
            assert cost[side]["gc_per_1000_rows"] >= 0
    flat = report["results"]["stream_memory"]
    assert len(flat["rows"]) == 2
    for rows in flat["rows"]:
        assert flat[str(rows)]["ok"] == rows > 0
        assert flat[str(rows)]["peak_kib"] >= flat[str(rows)]["rss_after_warm_up_kib"] > 0
    refused = report["results"]["refused"]["plans"]
    for plan in refused.values():
        assert plan["clean"]["good_ok"] == plan["clean"]["rows"]
        bad = plan["bad_rows"]
        assert bad["good_ok"] + bad["bad_rejected"] == bad["rows"]
        assert bad["bad_rejected"] == bad["bad"] > 0
        assert bad["duplicates"] == 0
        # The same bad rows with schema="account": answered at the call, no call refused.
        checked = plan["schema_bad_rows"]
        assert checked["bad"] == bad["bad"]
        assert checked["bad_at_call"] == checked["bad"]
        assert checked["good_ok"] + checked["bad_at_call"] == checked["rows"]
        assert checked["refused_bulk_calls"] == checked["calls_refused_whole"] == 0
        assert checked["single_calls"] == 0
        assert checked["metadata_calls"] == 1
        assert checked["duplicates"] == 0
        assert plan["schema"]["refused_per_bad_row"] == 0
    assert refused["enterprise-a"]["bad_rows"]["single_calls"] > 0
    plans = report["results"]["plans"]
    assert {plan["version"] for plan in plans["plans"].values()} == {"A", "B"}
    for plan in plans["plans"].values():
        for config in ("none_general", "learned_all", "configured_interactive"):
            assert plan[config]["rows_ok"] > 0
    spent = plans["spent_quota"]["learned"]
    assert spent["all_answered_after_s"] is not None
    assert spent["errors"].get("QuotaExhaustedError", 0) > 0
    many = report["results"]["accounts"]
    assert many["memory"]["accounts"]["kib_per_account"] > 0
    assert many["idle_close"]["closed"] == many["idle_close"]["accounts"]
    assert many["idle_close"]["early"] == 0
    load = many["hot_and_quiet"]
    assert load["hot_ok"] == load["hot"] * load["rows_per_hot"]
    assert load["quiet_errors"] == 0
    create = report["results"]["saturation"]["create"]["client"]
    assert create["ok"] == create["rows"]
    assert create["server_429s"] == 0
    assert (tmp_path / "quick.png").stat().st_size > 0
    assert (tmp_path / "quick-plans.png").stat().st_size > 0
    assert "| figure | measured | target |" in done.stdout
    assert '| with `schema="account"` |' in done.stdout
    assert "to come" not in done.stdout
