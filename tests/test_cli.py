"""The ``leadsq-async`` console script, run in a subprocess against a uvicorn-served fake."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import leadsq_async as lsq
from leadsq_async._cli import main
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared, remote_leads

SCRIPT = shutil.which("leadsq-async") or str(Path(sys.executable).parent / "leadsq-async")
SCALED = "25/0.25"
SENTINEL = "sentinel-SECRET-9f3c1e77"

pytestmark = pytest.mark.skipif(not Path(SCRIPT).exists(), reason="console script not installed")


@pytest.fixture
def fake() -> FakeLeadSquared:
    """A fake with a scaled window (25 calls per 0.25 s)."""
    return FakeLeadSquared(rate_limit=lsq.RateLimit.parse(SCALED))


@pytest.fixture
def url(fake: FakeLeadSquared) -> Iterator[str]:
    """The fake served by uvicorn in a thread."""
    with fake.serve_in_thread() as base_url:
        yield base_url


def env(secret: str = DEMO_SECRET_KEY) -> dict[str, str]:
    """The environment of the script: demo keys, no terminal."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("LSQ_")}
    out.update(LSQ_ACCESS_KEY=DEMO_ACCESS_KEY, LSQ_SECRET_KEY=secret, NO_COLOR="1")
    return out


def cli(*args: str, secret: str = DEMO_SECRET_KEY, timeout: float = 30) -> Any:
    """Run the console script to the end."""
    return subprocess.run(
        [SCRIPT, *args],
        env=env(secret),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def importing(url: str, path: Path, results: Path) -> list[str]:
    """The arguments of an import against the fake."""
    return ["import", str(path), "--base-url", url, "--rate", SCALED, "--results", str(results)]


def read_results(path: Path) -> list[dict[str, Any]]:
    """The lines of a results file."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_csv(path: Path, lines: list[str]) -> Path:
    """Write a CSV file."""
    path.write_text("\n".join(lines) + "\n")
    return path


def many_leads(path: Path, rows: int) -> Path:
    """A CSV of ``rows`` leads with distinct emails."""
    lines = ["FirstName,EmailAddress"] + [f"Lead{i},lead{i}@example.com" for i in range(rows)]
    return write_csv(path, lines)


def test_version_and_help_of_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the version (the script); --help of each command shows examples."""
    done = cli("--version")
    assert done.returncode == 0
    assert lsq.__version__ in done.stdout
    for command in ([], ["import"], ["demo"], ["fake-server"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0
        assert "examples:" in capsys.readouterr().out
    done = cli("import", "--help")
    assert "LSQ_SECRET_KEY" in done.stdout
    assert "exit codes" in cli("--help").stdout


def test_csv_create_with_field_set_bad_rows_and_plain_output(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """CSV creates: a field set column lands as a field set; bad rows are reported, not fatal."""
    source = write_csv(
        tmp_path / "leads.csv",
        [
            "FirstName,EmailAddress,mx_KYC.Status",
            "Ada,ada@example.com,Verified",
            ",,Pending",  # no name, email or phone: ValidationError
            "Bo,bo@example.com,Pending,extra",  # does not parse: 4 values, 3 columns
            '"Cy,cy@example.com,Pending',  # an unclosed quote runs to the end of the file
        ],
    )
    results = tmp_path / "results.jsonl"
    done = cli(*importing(url, source, results), "--op", "create")
    assert done.returncode == 1, done.stderr
    lines = {r["line"]: r for r in read_results(results)}
    assert sorted(lines) == [2, 3, 4, 5]
    assert lines[2]["status"] == "ok"
    assert lines[3]["status"] == "rejected"
    assert lines[3]["error_type"] == "ValidationError"
    assert lines[4]["status"] == "rejected"
    assert lines[4]["error_type"] == "ParseError"
    assert "3 columns" in lines[4]["reason"] or "header" in lines[4]["reason"]
    assert lines[5]["status"] == "rejected"
    lead = fake.store.get(lines[2]["lead_id"])
    assert lead is not None
    assert lead["mx_KYC"] == {"Value": "", "Fields": {"Status": "Verified"}}
    assert "\x1b" not in done.stdout + done.stderr
    assert "progress: 4/4 rows" in done.stderr
    assert "summary by status:" in done.stdout
    assert "ValidationError" in done.stdout


def test_jsonl_upsert_then_update_every_op(fake: FakeLeadSquared, url: str, tmp_path: Path) -> None:
    """JSONL upsert (with --search-by and a bad line), then update: statuses and exit codes."""
    existing = fake.store.insert({"EmailAddress": "old@example.com", "mx_City": "Pune"})
    source = tmp_path / "leads.jsonl"
    source.write_text(
        json.dumps({"EmailAddress": "old@example.com", "mx_City": "Goa"})
        + "\n{not json\n\n"
        + json.dumps({"EmailAddress": "new@example.com", "mx_KYC": {"Status": "Pending"}})
        + "\n"
    )
    results = tmp_path / "upsert.jsonl"
    done = cli(*importing(url, source, results), "--op", "upsert", "--search-by", "EmailAddress")
    assert done.returncode == 1, done.stderr
    lines = {r["line"]: r for r in read_results(results)}
    assert sorted(lines) == [1, 2, 4]
    assert lines[1] == {
        "line": 1,
        "status": "ok",
        "lead_id": existing,
        "error_type": None,
        "reason": None,
    }
    assert lines[2]["status"] == "rejected"
    assert lines[2]["error_type"] == "ParseError"
    assert lines[4]["status"] == "ok"
    assert fake.store.get(existing)["mx_City"] == "Goa"  # type: ignore[index]
    new = fake.store.find_by_email("new@example.com")
    assert new is not None
    assert new["mx_KYC"] == {"Value": "", "Fields": {"Status": "Pending"}}

    changes = tmp_path / "changes.csv"
    write_csv(changes, ["EmailAddress,mx_City", "old@example.com,Kochi", "new@example.com,Agra"])
    done = cli(*importing(url, changes, tmp_path / "update.jsonl"), "--op", "update")
    assert done.returncode == 0, done.stderr
    assert {r["status"] for r in read_results(tmp_path / "update.jsonl")} == {"ok"}
    assert fake.store.find_by_email("new@example.com")["mx_City"] == "Agra"  # type: ignore[index]

    write_csv(changes, ["EmailAddress,mx_City", "ghost@example.com,Kochi"])
    done = cli(*importing(url, changes, tmp_path / "missing.jsonl"), "--op", "update")
    assert done.returncode == 1
    assert read_results(tmp_path / "missing.jsonl")[0]["status"] == "not_found"


def test_wrong_key_is_one_clear_line_and_exit_3(url: str, tmp_path: Path) -> None:
    """A refused key stops the import with one line on stderr, exit code 3, no traceback."""
    source = many_leads(tmp_path / "leads.csv", 120)
    results = tmp_path / "results.jsonl"
    done = cli(*importing(url, source, results), "--op", "create", secret=SENTINEL)
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1
    assert errors[0].startswith(
        f"leadsq-async: error: the service at {url.removeprefix('http://')} refused the access "
        "key or secret key (HTTP 401); check LSQ_ACCESS_KEY and LSQ_SECRET_KEY"
    )
    assert SENTINEL not in done.stdout + done.stderr + results.read_text()


def test_sentinel_secret_never_printed(tmp_path: Path) -> None:
    """A secret the fake accepts appears in no output and no results line."""
    fake = FakeLeadSquared(secret_key=SENTINEL, rate_limit=lsq.RateLimit.parse(SCALED))
    source = write_csv(
        tmp_path / "leads.csv",
        ["FirstName,EmailAddress", "A,a@example.com", "A,a@example.com", ",", "B,b@example.com"],
    )
    results = tmp_path / "results.jsonl"
    with fake.serve_in_thread() as url:
        done = cli(*importing(url, source, results), "--op", "create", secret=SENTINEL)
    assert done.returncode == 1, done.stderr
    assert len(fake.store) == 2
    assert SENTINEL not in done.stdout + done.stderr + results.read_text()


def test_usage_and_config_errors(url: str, tmp_path: Path) -> None:
    """Missing file or existing results: exit 2; no credentials: exit 3; never a traceback."""
    source = many_leads(tmp_path / "leads.csv", 2)
    results = tmp_path / "results.jsonl"
    done = cli(*importing(url, tmp_path / "nope.csv", results), "--op", "create")
    assert done.returncode == 2
    results.write_text('{"line": 2, "status": "ok"}\n')
    done = cli(*importing(url, source, results), "--op", "create")
    assert done.returncode == 2
    assert "--resume" in done.stderr
    done = cli(*importing(url, source, results), "--op", "create", "--overwrite", secret="")
    assert done.returncode == 3
    assert "LSQ_SECRET_KEY" in done.stderr
    done = cli("import", str(source), "--results", str(results))  # no --op
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def wait_for_lines(path: Path, count: int, deadline: float = 10.0) -> None:
    """Wait until ``path`` holds ``count`` lines."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {count} lines")


def check_store_matches(fake: FakeLeadSquared, lines: list[dict[str, Any]]) -> None:
    """Every ok row's lead exists, nothing is duplicated, the store holds only answered rows."""
    ok = [r for r in lines if r["status"] == "ok"]
    unknown = [r for r in lines if r["status"] == "unknown_outcome"]
    assert fake.store.duplicates() == []
    for row in ok:
        assert row["lead_id"] in fake.store
    assert len(ok) <= len(fake.store) <= len(ok) + len(unknown)
    assert not [r for r in lines if r["status"] == "rejected"]  # no lead was sent twice


def test_sigint_finishes_in_flight_and_exits_130(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """Ctrl-C: stop reading, answer what was sent, print the summary, exit 130."""
    source = many_leads(tmp_path / "leads.csv", 3000)
    results = tmp_path / "results.jsonl"
    args = importing(url, source, results)
    args[args.index(SCALED)] = "5/0.25"
    process = subprocess.Popen(
        [SCRIPT, *args, "--op", "create"],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_lines(results, 300)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    assert "summary by status:" in stdout
    lines = read_results(results)
    assert 300 <= len(lines) < 3000
    assert len({r["line"] for r in lines}) == len(lines)
    check_store_matches(fake, lines)
    assert len(fake.store) == len([r for r in lines if r["status"] == "ok"])


def test_resume_after_sigkill_answers_every_row_once(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """Killed with SIGKILL and resumed: every row answered once, no lead created twice."""
    rows = 3000
    source = many_leads(tmp_path / "leads.csv", rows)
    results = tmp_path / "results.jsonl"
    args = importing(url, source, results)
    args[args.index(SCALED)] = "5/0.25"
    process = subprocess.Popen(
        [SCRIPT, *args, "--op", "create"],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_lines(results, 400)
    time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    first = read_results(results)
    assert len(first) < rows

    done = cli(*importing(url, source, results), "--op", "create", "--resume")
    assert done.returncode in (0, 1), done.stderr
    lines = read_results(results)
    numbers = [r["line"] for r in lines]
    assert sorted(numbers) == list(range(2, rows + 2))  # every row exactly once
    check_store_matches(fake, lines)
    assert done.returncode == (0 if all(r["status"] == "ok" for r in lines) else 1)
    assert not (tmp_path / "results.jsonl.sent").exists()

    again = cli(*importing(url, source, results), "--op", "create", "--resume")
    assert again.returncode == done.returncode
    assert f"skipped (already answered): {rows}" in again.stdout
    assert read_results(results) == lines


def test_resume_reports_rows_in_flight_as_unknown(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """Rows the journal shows in flight with no answer become unknown_outcome, not resent.

    (A row with no unique field stays unknown; since issue 14 one with an EmailAddress is
    looked up instead, see test_cli_reconcile.py.)
    """
    source = write_csv(tmp_path / "leads.csv", ["FirstName", "Ann", "Bob", "Cy"])
    results = tmp_path / "results.jsonl"
    results.write_text('{"line": 2, "status": "ok", "lead_id": "x"}\n{"line": 3, "status": "err')
    (tmp_path / "results.jsonl.sent").write_text('{"line": 3}\n')
    done = cli(*importing(url, source, results), "--op", "create", "--resume")
    assert done.returncode == 1, done.stderr
    lines = {r["line"]: r["status"] for r in read_results(results)}
    assert lines == {2: "ok", 3: "unknown_outcome", 4: "ok"}
    assert [lead["FirstName"] for lead in fake.store.all()] == ["Cy"]
    assert "1 rows were in flight" in done.stderr

    done = cli(*importing(url, source, results), "--op", "create", "--resume", "--retry-unknown")
    assert done.returncode == 0, done.stderr
    assert {r["line"]: r["status"] for r in read_results(results)} == {2: "ok", 3: "ok", 4: "ok"}


def test_demo_runs_with_no_account(tmp_path: Path) -> None:
    """``demo --rows 200`` serves the fake and imports; its 0.6 s of calls claim no rate."""
    results = tmp_path / "demo.jsonl"
    done = cli("demo", "--rows", "200", "--results", str(results))
    assert done.returncode == 0, done.stderr
    assert "too short to measure a rate against the 250 rows/s ceiling" in done.stdout
    assert "achieved" not in done.stdout
    assert "0 duplicated" in done.stdout
    statuses = [r["status"] for r in read_results(results)]
    assert len(statuses) == 200
    assert statuses.count("rejected") == 1  # the row with no name, email or phone


def test_fake_server_command_serves_an_import(tmp_path: Path) -> None:
    """``fake-server --port 0`` prints its URL, demo keys and admin endpoints; an import works."""
    process = subprocess.Popen(
        [SCRIPT, "fake-server", "--port", "0", "--rate", SCALED],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        rest = "".join(process.stdout.readline() for _ in range(4))
        assert DEMO_SECRET_KEY in rest
        banner = "".join(iter(process.stdout.readline, "Ctrl-C stops the server.\n"))
        for endpoint in ("/_fake/leads ", "/_fake/leads/ID", "/_fake/summary", "/_fake/reset"):
            assert f"{url}{endpoint}" in banner
        source = many_leads(tmp_path / "leads.csv", 60)
        done = cli(*importing(url, source, tmp_path / "r.jsonl"), "--op", "create")
        assert done.returncode == 0, done.stderr
        assert len(remote_leads(url)) == 60
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


def test_import_shares_the_limit_through_redis(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """--redis-url and --redis-prefix: every call of the import takes its grant from the
    shared Redis limiter, under the given prefix."""
    import hashlib

    import redis

    from tests.redis_support import REDIS_URL, fresh_prefix

    results = tmp_path / "results.jsonl"
    source = many_leads(tmp_path / "leads.csv", 120)
    account = hashlib.sha256(DEMO_ACCESS_KEY.encode()).hexdigest()[:24]
    with fresh_prefix("leadsq-cli-import") as prefix:
        # An hour's window, so that no grant of this import has left the log when it is read.
        shared = ("--redis-url", REDIS_URL, "--redis-prefix", prefix, "--rate", "1000/3600")
        done = cli(*importing(url, source, results), "--op", "create", *shared)
        with redis.Redis.from_url(REDIS_URL) as store:
            grants = store.zcard(f"{prefix}:{{{account}}}:general")
    assert done.returncode == 0, done.stderr
    assert [r["status"] for r in read_results(results)] == ["ok"] * 120
    assert fake.ledger.calls("Lead/Bulk/Create") == 3
    assert grants == fake.ledger.calls()  # each call, the fields' lookup too, took one


def test_the_journal_records_every_row_of_a_create_call_before_it_leaves(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """While a create call hangs at the service, the journal already names all its rows."""
    from leadsq_async.testing import FaultPlan

    fake.set_faults(FaultPlan(latency=(3.0, 3.0)))
    source = many_leads(tmp_path / "leads.csv", 3)
    results = tmp_path / "results.jsonl"
    process = subprocess.Popen(
        [SCRIPT, *importing(url, source, results), "--op", "create"],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        journal = tmp_path / "results.jsonl.sent"
        wait_for_lines(journal, 3)
        assert sorted(json.loads(line)["line"] for line in journal.read_text().splitlines()) == [
            2,
            3,
            4,
        ]
    finally:
        process.kill()
        process.wait(timeout=10)
