"""``leadsq-async export`` against a uvicorn-served fake: JSON Lines and CSV, ``--since last``,
and ``--resume`` after the process is killed mid-export (SIGKILL), which must give the file an
uninterrupted export writes, byte for byte."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadsq_async._cli import main
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared, FaultPlan

from .test_cli import SCRIPT, env

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
SINCE, UNTIL = "2026-11-01 00:00:00", "2026-11-01 00:10:00"


class LeadClock:
    """The fake's lead clock, moved by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> LeadClock:
    """The lead clock of ``fake``."""
    return LeadClock()


@pytest.fixture
def fake(clock: LeadClock) -> FakeLeadSquared:
    """A fake with pages of 40 leads, 300 leads: 100 crowded into one second."""
    service = FakeLeadSquared(rate_limit=None, modified_page_limit=40, now=clock)
    for n in range(300):
        clock.now = T0 + dt.timedelta(seconds=7 if n < 100 else n)
        service.store.insert({"FirstName": f"F{n}", "EmailAddress": f"e{n}@example.com"})
    return service


@pytest.fixture
def url(fake: FakeLeadSquared) -> Iterator[str]:
    """The fake served by uvicorn in a thread."""
    with fake.serve_in_thread() as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo keys in the environment, as a user sets them."""
    monkeypatch.setenv("LSQ_ACCESS_KEY", DEMO_ACCESS_KEY)
    monkeypatch.setenv("LSQ_SECRET_KEY", DEMO_SECRET_KEY)


def export(url: str, to: Path, *args: str) -> int:
    """Run ``leadsq-async export`` in-process."""
    return main(["export", "--base-url", url, "--rate", "none", "--to", str(to), *args])


def lines(path: Path) -> list[dict[str, Any]]:
    """The JSON Lines of an export."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jsonl_holds_every_lead_once(
    url: str, fake: FakeLeadSquared, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every lead of the range once, one JSON object a line; the summary names the counts."""
    out = tmp_path / "leads.jsonl"
    assert export(url, out, "--since", SINCE, "--until", UNTIL) == 0
    got = lines(out)
    assert sorted(g["ProspectID"] for g in got) == sorted(fake.store.ids())
    assert got[0]["FirstName"].startswith("F")
    err = capsys.readouterr().err
    assert "exported 300 leads" in err
    assert "--since last" in err
    state = json.loads((tmp_path / "leads.jsonl.checkpoint.json").read_text())
    assert state["finished"] is True
    assert state["next_since"] == "2026-11-01T00:10:00.001000+00:00"


def test_csv_has_a_header_and_the_asked_columns(url: str, tmp_path: Path) -> None:
    """A .csv gets a header of the columns (ProspectID first) and a row per lead."""
    out = tmp_path / "leads.csv"
    code = export(
        url, out, "--since", SINCE, "--until", UNTIL, "--columns", "FirstName,EmailAddress"
    )
    assert code == 0
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["ProspectID", "FirstName", "EmailAddress"]
    assert len(rows) == 301
    assert len({r[0] for r in rows[1:]}) == 300
    assert {r[2] for r in rows[1:]} == {f"e{n}@example.com" for n in range(300)}


def test_since_last_appends_what_changed_after_the_previous_export(
    url: str, fake: FakeLeadSquared, clock: LeadClock, tmp_path: Path
) -> None:
    """--since last starts where the previous export ended: new and changed leads only."""
    out = tmp_path / "leads.jsonl"
    assert export(url, out, "--since", SINCE, "--until", UNTIL) == 0
    clock.now = T0 + dt.timedelta(minutes=20)
    changed = fake.store.ids()[5]
    fake.store.update(changed, {"LastName": "Changed"})
    added = fake.store.insert({"FirstName": "New"})
    assert export(url, out, "--since", "last", "--until", "2026-11-01 00:30:00") == 0
    got = lines(out)
    assert len(got) == 302
    assert [g["ProspectID"] for g in got[300:]] == [changed, added]
    assert export(url, out, "--since", "last") == 0  # nothing since: nothing appended
    assert len(lines(out)) == 302


def test_refusals(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An existing file needs --overwrite; --since last needs a finished export; bad times."""
    out = tmp_path / "leads.jsonl"
    out.write_text("")
    assert export(url, out, "--since", SINCE) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert export(url, tmp_path / "x.jsonl", "--since", "last") == 2
    assert export(url, tmp_path / "x.jsonl", "--since", "yesterday") == 2
    assert export(url, tmp_path / "x.txt", "--since", SINCE) == 2
    assert "not a time" in capsys.readouterr().err


@pytest.mark.skipif(not Path(SCRIPT).exists(), reason="console script not installed")
def test_resume_after_sigkill_writes_what_an_uninterrupted_export_does(
    fake: FakeLeadSquared, tmp_path: Path
) -> None:
    """Killed (SIGKILL) after a few pages, --resume ends with the uninterrupted file, byte
    for byte: nothing repeated, nothing missing."""
    fake.set_faults(FaultPlan(latency=(0.05, 0.05)), "Leads.RecentlyModified")
    whole, killed = tmp_path / "whole.jsonl", tmp_path / "killed.jsonl"
    state = tmp_path / "killed.jsonl.checkpoint.json"
    with fake.serve_in_thread() as url:
        assert export(url, whole, "--since", SINCE, "--until", UNTIL, "--page-size", "40") == 0
        args = ["export", "--base-url", url, "--rate", "none", "--to", str(killed)]
        args += ["--since", SINCE, "--until", UNTIL]
        process = subprocess.Popen(
            [SCRIPT, *args], env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if state.exists() and json.loads(state.read_text() or "{}").get("pages", 0) >= 3:
                    break
                time.sleep(0.01)
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.wait(timeout=10)
        partial = json.loads(state.read_text())
        assert partial["finished"] is False
        assert export(url, killed, "--resume") == 0
    assert killed.read_bytes() == whole.read_bytes()
    assert len(lines(killed)) == 300
