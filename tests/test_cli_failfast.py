"""``leadsq-async`` fails fast and explains (issue 15): whole-file checks before the first call,
``--dry-run``, summaries over the whole results file, shared options, progress at 80 columns.

Every test runs the real console script in a subprocess, against a uvicorn-served fake.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadsq_async.testing import FakeLeadSquared

from .test_cli import SCALED, SCRIPT, cli, env, importing, many_leads, read_results, write_csv

pytestmark = pytest.mark.skipif(not Path(SCRIPT).exists(), reason="console script not installed")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def url(fake: FakeLeadSquared) -> Iterator[str]:
    """The fake (25 calls per 0.25 s, from conftest) served by uvicorn in a thread."""
    with fake.serve_in_thread() as base_url:
        yield base_url


def run_with(extra_env: dict[str, str], *args: str, timeout: float = 30) -> Any:
    """Run the console script with more environment variables."""
    return subprocess.run(
        [SCRIPT, *args],
        env={**env(), **extra_env},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def errors_of(stderr: str) -> list[str]:
    """The error lines a run printed."""
    return [line for line in stderr.splitlines() if "error" in line.lower()]


WHOLE_FILE_PROBLEMS = [
    pytest.param(
        "csv",
        "FirstName;EmailAddress\nAda;ada@example.com\nBo;bo@example.com\n",
        ["--op", "create", "--delimiter", ","],
        "is the delimiter right",
        id="semicolon-file-read-with-a-comma",
    ),
    pytest.param(
        "csv",
        "FirstName,mx_City\nAda,Pune\nBo,Goa\n",
        ["--op", "update"],
        "--op update finds each lead by EmailAddress",
        id="update-without-its-search-column",
    ),
    pytest.param(
        "csv",
        "FirstName,,EmailAddress\nAda,x,ada@example.com\n",
        ["--op", "create"],
        "column 2 of the header has no name",
        id="empty-header-name",
    ),
    pytest.param(
        "csv",
        "EmailAddress,FirstName,emailaddress\na@example.com,Ada,b@example.com\n",
        ["--op", "create"],
        "names 'EmailAddress' twice (columns 1 and 3",
        id="duplicated-header-any-case",
    ),
    pytest.param(
        "csv",
        "Name,Email\nAda,ada@example.com\n",
        ["--op", "create"],
        "a create needs one of EmailAddress, Phone, FirstName or LastName",
        id="create-without-name-email-or-phone",
    ),
    pytest.param(
        "csv",
        "FirstName,EmailAddress\nAda,ada@example.com\n",
        ["--op", "upsert", "--search-by", "mx_PAN"],
        "--search-by mx_PAN",
        id="upsert-without-its-search-by-column",
    ),
    pytest.param(
        "csv",
        "FirstName,SearchBy\nAda,x\n",
        ["--op", "create"],
        "SearchBy: is reserved",
        id="reserved-column",
    ),
    pytest.param(
        "latin-1",
        "FirstName,EmailAddress\nAda,ada@example.com\nJos\u00e9,jose@example.com\n",
        ["--op", "create"],
        "line 3: the byte 0xe9",
        id="latin-1-file-read-as-utf-8",
    ),
    pytest.param(
        "jsonl",
        '{"FirstName": "Ada"}\n{"FirstName": "Bo"}\n',
        ["--op", "update"],
        "no line of the file has such a key",
        id="jsonl-update-without-the-key",
    ),
    pytest.param(
        "csv",
        "",
        ["--op", "create"],
        "no header line",
        id="empty-csv",
    ),
]


@pytest.mark.parametrize(("kind", "text", "options", "message"), WHOLE_FILE_PROBLEMS)
def test_a_problem_of_the_whole_file_is_one_message_exit_2_and_no_call(
    fake: FakeLeadSquared,
    url: str,
    tmp_path: Path,
    kind: str,
    text: str,
    options: list[str],
    message: str,
) -> None:
    """Each whole-file problem: one error line naming file and line, exit 2, 0 calls."""
    source = tmp_path / ("leads.jsonl" if kind == "jsonl" else "leads.csv")
    source.write_bytes(text.encode("latin-1" if kind == "latin-1" else "utf-8"))
    results = tmp_path / "results.jsonl"
    done = cli(*importing(url, source, results), *options)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = errors_of(done.stderr)
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert str(source) in lines[0]
    assert fake.ledger.calls() == 0
    assert not results.exists()
    if kind == "latin-1":
        assert "--encoding" in lines[0]


def test_a_semicolon_csv_is_sniffed_and_cells_are_stripped(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """The delimiter comes from the header line; cells are stripped unless --keep-whitespace."""
    source = write_csv(
        tmp_path / "leads.csv",
        ["FirstName ; EmailAddress;mx_City", " Ada ;ada@example.com ;  Pune", "Bo;bo@example.com;"],
    )
    done = cli(*importing(url, source, tmp_path / "r.jsonl"), "--op", "create")
    assert done.returncode == 0, done.stderr
    ada = fake.store.find_by_email("ada@example.com")
    assert ada is not None
    assert (ada["FirstName"], ada["mx_City"]) == ("Ada", "Pune")

    kept = write_csv(tmp_path / "kept.csv", ["FirstName;EmailAddress", " Cy ;cy@example.com"])
    done = cli(*importing(url, kept, tmp_path / "k.jsonl"), "--op", "create", "--keep-whitespace")
    assert done.returncode == 0, done.stderr
    assert fake.store.find_by_email("cy@example.com")["FirstName"] == " Cy "  # type: ignore[index]


def test_encoding_option_reads_a_latin_1_file(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """--encoding latin-1 reads the file that utf-8-sig refuses."""
    source = tmp_path / "leads.csv"
    source.write_bytes("FirstName,EmailAddress\nJos\u00e9,jose@example.com\n".encode("latin-1"))
    done = cli(
        *importing(url, source, tmp_path / "r.jsonl"), "--op", "create", "--encoding", "latin-1"
    )
    assert done.returncode == 0, done.stderr
    assert fake.store.find_by_email("jose@example.com")["FirstName"] == "Jos\u00e9"  # type: ignore[index]
    done = cli(*importing(url, source, tmp_path / "x.jsonl"), "--op", "create", "--encoding", "x")
    assert done.returncode == 2
    assert "unknown encoding 'x'" in done.stderr


def test_dry_run_checks_every_row_and_sends_nothing(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """--dry-run: per-row reasons with line numbers, exit 1 for refused rows, no write, no keys
    needed (then the account's fields go unchecked, said once); with keys, one metadata call."""
    source = write_csv(
        tmp_path / "leads.csv",
        ["FirstName,EmailAddress", "Ada,ada@example.com", ",", "Bo,bo@example.com,extra"],
    )
    results = tmp_path / "results.jsonl"
    done = cli(*importing(url, source, results), "--op", "create", "--dry-run", secret="")
    assert done.returncode == 1, done.stderr
    assert "nothing was sent" in done.stdout
    assert "rows in file: 3; would be sent: 1" in done.stdout
    assert "line 3: ValidationError" in done.stdout
    assert "line 4: ParseError" in done.stdout
    assert done.stdout.count("NOT checked against the account's lead fields (no keys") == 1
    assert fake.ledger.calls() == 0
    assert not results.exists()

    clean = many_leads(tmp_path / "clean.csv", 120)
    done = cli(*importing(url, clean, results), "--op", "create", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert (
        "would be sent: 120 (calls: at least 3, up to 50 rows each, under 1 s at 25/0.25)"
        in done.stdout
    )
    # This fake has no schema, hence no LeadsMetaData.Get: said once, no write.
    assert done.stdout.count("NOT checked against the account's lead fields") == 1
    assert fake.ledger.calls() == fake.ledger.calls("LeadsMetaData.Get") == 1


def test_resume_summary_covers_the_earlier_runs_unknown_rows(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """After --resume the summary counts earlier runs' rows and says what to do with unknowns.

    The unknown rows have no unique field: one with an EmailAddress would be looked up and
    settled by the resume itself (issue 14; tests/test_cli_reconcile.py).
    """
    rows = 1250
    source = write_csv(
        tmp_path / "leads.csv",
        ["FirstName,EmailAddress"]
        + [f"Lead{i}," if 600 <= i < 900 else f"Lead{i},lead{i}@example.com" for i in range(rows)],
    )
    results = tmp_path / "results.jsonl"
    earlier = [{"line": n, "status": "ok", "lead_id": f"id{n}"} for n in range(2, 602)]
    earlier += [
        {"line": n, "status": "unknown_outcome", "error_type": "OutcomeUnknownError"}
        for n in range(602, 902)
    ]
    results.write_text("".join(json.dumps(r) + "\n" for r in earlier))
    done = cli(*importing(url, source, results), "--op", "create", "--resume")
    assert done.returncode == 1, done.stderr
    assert fake.ledger.calls("Lead/Bulk/Create") == 7  # the 350 rows never sent, 50 a call
    assert "summary by status (whole results file, earlier runs included):" in done.stdout
    assert re.search(r"^  ok +950$", done.stdout, re.M), done.stdout
    assert re.search(r"^  unknown_outcome +300$", done.stdout, re.M), done.stdout
    assert re.search(r"^  OutcomeUnknownError +300$", done.stdout, re.M), done.stdout
    assert "skipped (already answered): 900, answered now: 350" in done.stdout
    assert "300 rows have an unknown outcome" in done.stdout
    assert "--retry-unknown" in done.stdout
    assert "duplicate lead" in done.stdout
    assert len(read_results(results)) == rows


def test_results_default_to_a_file_beside_the_input(url: str, tmp_path: Path) -> None:
    """Without --results, leads.csv gets leads.results.jsonl beside it."""
    source = many_leads(tmp_path / "leads.csv", 3)
    done = cli("import", str(source), "--base-url", url, "--rate", SCALED, "--op", "create")
    assert done.returncode == 0, done.stderr
    assert len(read_results(tmp_path / "leads.results.jsonl")) == 3
    assert f"results: {tmp_path / 'leads.results.jsonl'}" in done.stdout


def test_rate_none_and_lsq_rate_for_import(url: str, tmp_path: Path) -> None:
    """import takes --rate none and reads LSQ_RATE; a bad LSQ_RATE is a usage error naming it."""
    source = many_leads(tmp_path / "leads.csv", 60)
    done = cli(*importing(url, source, tmp_path / "a.jsonl"), "--op", "create", "--rate", "none")
    assert done.returncode == 0, done.stderr
    assert "ceiling: no client-side limit" in done.stdout or "rows/s, over" in done.stdout
    plan = ["import", str(source), "--op", "create", "--dry-run", "--no-schema"]
    assert "at 5/1" in run_with({"LSQ_RATE": "5/1"}, *plan).stdout
    assert "at 25/5" in run_with({"LSQ_RATE": "5/1"}, *plan, "--rate", "25/5").stdout
    bad = run_with({"LSQ_RATE": "fast"}, *plan)
    assert bad.returncode == 2
    assert errors_of(bad.stderr) == [
        "leadsq-async: error: LSQ_RATE: the rate must be CALLS/SECONDS with CALLS >= 1 and "
        "SECONDS > 0 (e.g. 25/5), or none; got 'fast'"
    ]
    for command in (["import", str(source), "--op", "create"], ["demo"], ["fake-server"]):
        wrong = cli(*command, "--rate", "25")
        assert wrong.returncode == 2
        assert "CALLS/SECONDS" in wrong.stderr  # the one grammar, for every command


def test_short_runs_never_claim_more_than_the_ceiling(tmp_path: Path) -> None:
    """Rates are clamped to the ceiling; with no call the summary prints no rate at all."""
    done = cli("demo", "--rows", "150", "--rate", "1/0.5", "--results", str(tmp_path / "d.jsonl"))
    assert done.returncode == 0, done.stderr
    fractions = [float(f) for f in re.findall(r"= (\d+\.\d\d) of the", done.stdout)]
    too_short = "too short to measure" in done.stdout
    assert too_short or (fractions and max(fractions) <= 1.0), done.stdout
    for rate, ceiling in re.findall(r"(\d+) rows/s of a (\d+) rows/s ceiling", done.stdout):
        assert int(rate) <= int(ceiling)

    bad = write_csv(tmp_path / "bad.csv", ["FirstName,EmailAddress", ",", ","])
    fake = FakeLeadSquared()
    with fake.serve_in_thread() as url:
        done = cli(*importing(url, bad, tmp_path / "b.jsonl"), "--op", "create", "--no-schema")
    assert done.returncode == 1
    assert "no calls were sent" in done.stdout
    with fake.serve_in_thread() as url:  # one LeadsMetaData.Get call, no row sent
        done = cli(*importing(url, bad, tmp_path / "c.jsonl"), "--op", "create")
    assert done.returncode == 1
    assert "no rows were sent" in done.stdout
    assert "rows/s of" not in done.stdout
    assert "0 rows/s" not in done.stderr


def test_fake_server_options_are_consistent_and_explained(tmp_path: Path) -> None:
    """--listen (not --host) in help, defaults on fault options, MIN,MAX latency, a named port."""
    shown = cli("fake-server", "--help").stdout
    assert "--listen ADDRESS" in shown
    assert "--host" not in shown
    assert re.search(r"--system-error P +answer a system error", shown)
    assert "(default 0)" in shown
    assert "LSQ_RATE" in cli("import", "--help").stdout
    refused = cli("fake-server", "--latency", "5")
    assert refused.returncode == 2
    assert "MIN,MAX" in refused.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("fake-server", "--port", str(port), timeout=20)
    assert done.returncode == 2
    assert errors_of(done.stderr) == [
        f"leadsq-async: error: port {port} is already in use on 127.0.0.1; "
        "pick another with --port (0: a free one)"
    ]


def read_pty(fd: int, process: subprocess.Popen[bytes], deadline: float = 30.0) -> str:
    """Everything written to the pty until the process exits and the pty drains."""
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([fd], [], [], deadline)
        if not ready:
            raise AssertionError("the pty stayed silent")
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: every writer closed the pty
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=deadline)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_rich_progress_keeps_done_total_and_percent_at_80_columns(url: str, tmp_path: Path) -> None:
    """On an 80-column terminal the live line keeps done/total, %, rows/s, ETA and not ok."""
    import fcntl
    import struct
    import termios

    source = many_leads(tmp_path / "leads.csv", 1250)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    terminal = {**env(), "COLUMNS": "80", "LINES": "24", "TERM": "xterm-256color"}
    try:
        with subprocess.Popen(
            [SCRIPT, *importing(url, source, tmp_path / "r.jsonl"), "--op", "create"],
            env=terminal,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
        ) as process:
            os.close(slave)
            slave = -1
            screen = read_pty(master, process)
            assert process.stdout is not None
            summary = process.stdout.read().decode()
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert process.returncode == 0, screen + summary
    frames = [ANSI.sub("", f).rstrip() for f in re.split(r"[\r\n]", screen)]
    final = [f for f in frames if "1250/1250" in f]
    assert final, screen
    for frame in frames:
        assert len(frame) <= 80, frame
    line = final[-1]
    assert "100%" in line
    assert "rows/s" in line
    assert "ETA" in line
    assert "0 not ok" in line
    assert "summary by status:" in summary


@pytest.mark.parametrize("width", [80, 100, 160])
def test_the_progress_line_drops_decoration_before_figures(width: int) -> None:
    """Mid-run at 900/1250: figures stay at any width >= 80; the bar only gets what is left."""
    import io

    import leadsq_async as lsq
    from leadsq_async._cli._display import RichDisplay, Tally, progress_line

    tally = Tally(total=1250, ceiling=625.0)
    tally.statuses.update(ok=897, rejected=3)
    tally.first_call, tally.answered_by_calls = tally.started - 2.0, 900
    stats = lsq.Stats({}, rate_limited=2, retries=1, pending=0, in_flight=0, limiter_wait=0.0)
    label, bar, figures = progress_line(tally, stats, width)
    assert len(label) + bar + (bar > 0) + len(figures) <= width
    assert figures.startswith("900/1250 72% · ")
    for part in ("/625 rows/s", "ETA ", "3 not ok", "2 429s", "1 retries"):
        assert part in figures
    assert (bar > 0) == (width >= 100)
    out = io.StringIO()
    display = RichDisplay(out, width=width)
    display.start(tally)
    display.stop(tally, stats)
    drawn = [ANSI.sub("", f).rstrip() for f in re.split(r"[\r\n]", out.getvalue())]
    assert any("900/1250 72%" in f and len(f) <= width for f in drawn), drawn
