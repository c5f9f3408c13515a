"""Ctrl-C on the importer, typed on a terminal: once lets the calls in flight finish, twice
stops at once; either way the printed ``--resume`` command completes the import, every row
once, no lead twice.

The console script runs in a subprocess on a pty of its own (it is the session leader and the
pty its controlling terminal), so the test types Ctrl-C (``\\x03``) as a user does; the fake is
served by uvicorn with scaled windows so that an import lasts long enough to interrupt.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared, FaultPlan

from .test_cli import SCRIPT, env, many_leads, read_results

pytestmark = pytest.mark.skipif(not Path(SCRIPT).exists(), reason="console script not installed")

#: The child makes the pty its controlling terminal, then becomes the console script.
_ON_PTY = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
CTRL_C = b"\x03"


@pytest.fixture
def fake() -> FakeLeadSquared:
    """A fake with a scaled window (5 calls per 0.25 s: 1,000 rows/s of creates)."""
    return FakeLeadSquared(rate_limit=lsq.RateLimit.parse("5/0.25"))


@pytest.fixture
def url(fake: FakeLeadSquared) -> Iterator[str]:
    """The fake served by uvicorn in a thread."""
    with fake.serve_in_thread() as base_url:
        yield base_url


@pytest.fixture
def busy_fake() -> FakeLeadSquared:
    """A fake whose calls take a second, with a wide scaled window (25 calls per 0.25 s).

    The window lets --resume look up the hundreds of rows left in flight quickly.
    """
    fake = FakeLeadSquared(rate_limit=lsq.RateLimit.parse("25/0.25"))
    fake.set_faults(FaultPlan(latency=(1.0, 1.0)))  # a window to type the second Ctrl-C in
    return fake


class Terminal:
    """The console script on a pty: what it printed, and a keyboard."""

    def __init__(self, args: list[str]) -> None:
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _ON_PTY, SCRIPT, *args],
            env={**env(), "TERM": "xterm-256color", "COLUMNS": "100"},
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the script and its children closed the pty
                return
            if not data:
                return
            self._chunks.append(data)

    @property
    def screen(self) -> str:
        """Everything printed so far, line ends as ``\\n``."""
        return b"".join(self._chunks).decode("utf-8", "replace").replace("\r\n", "\n")

    def type(self, keys: bytes) -> None:
        """Type on the keyboard."""
        os.write(self.master, keys)

    def wait_for(self, text: str, deadline: float = 20.0) -> None:
        """Wait until ``text`` is on the screen."""
        end = time.monotonic() + deadline
        while text not in self.screen:
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} never showed:\n{self.screen}")
            time.sleep(0.01)

    def finish(self, deadline: float = 30.0) -> int:
        """Wait for the script to exit; its exit code."""
        try:
            code = self.process.wait(timeout=deadline)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._reader.join(timeout=5)
            os.close(self.master)
        return code


def wait_for_lines(path: Path, count: int, deadline: float = 20.0) -> None:
    """Wait until ``path`` holds ``count`` lines."""
    end = time.monotonic() + deadline
    while not (path.exists() and path.read_text().count("\n") >= count):
        if time.monotonic() > end:
            raise AssertionError(f"{path} never reached {count} lines")
        time.sleep(0.005)


def resume_command(screen: str) -> list[str]:
    """The command the importer printed to continue, as arguments of the console script."""
    _, sep, tail = screen.partition("continue the import with:\n")
    assert sep, screen
    words = shlex.split(tail.splitlines()[0])
    assert words[0] == "leadsq-async"
    assert "--resume" in words
    return words[1:]


def check_every_row_once(fake: FakeLeadSquared, results: Path, rows: int) -> list[dict[str, Any]]:
    """One final line per row, all ok, and the fake holds each row's lead exactly once."""
    lines = read_results(results)
    assert sorted(r["line"] for r in lines) == list(range(2, rows + 2))
    assert Counter(r["status"] for r in lines) == {"ok": rows}
    emails = Counter(lead["EmailAddress"] for lead in fake.store.all())
    assert emails == {f"lead{i}@example.com": 1 for i in range(rows)}
    assert fake.store.duplicates() == []
    assert {r["lead_id"] for r in lines} == {lead["ProspectID"] for lead in fake.store.all()}
    return lines


def test_ctrl_c_once_finishes_the_calls_in_flight_and_prints_the_resume_command(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """One Ctrl-C: no new call, calls in flight answered, the rest NotSent; resume completes."""
    rows = 3000
    source = many_leads(tmp_path / "leads.csv", rows)
    results = tmp_path / "results.jsonl"
    args = ["import", str(source), "--op", "create", "--base-url", url, "--rate", "5/0.25"]
    # 30 calls' worth of rows wait in the queue: none of them may leave after the Ctrl-C.
    terminal = Terminal([*args, "--results", str(results), "--overwrite", "--max-pending", "1500"])
    wait_for_lines(results, 300)
    terminal.type(CTRL_C)
    terminal.wait_for("interrupted")
    calls_then = fake.ledger.calls("Lead/Bulk/Create")
    code = terminal.finish()
    screen = terminal.screen
    assert code == 130, screen
    assert "Traceback" not in screen
    assert "aclose(" not in screen
    # Only calls formed before the Ctrl-C leave after it: one per in-flight slot (8), and a
    # call the fake's window refused may go again.
    assert fake.ledger.calls("Lead/Bulk/Create") - calls_then <= 12
    lines = read_results(results)
    assert len({r["line"] for r in lines}) == len(lines)
    not_sent = [r for r in lines if r["error_type"] == "NotSent"]
    assert not_sent, "the queued rows are journaled as not sent"
    assert {r["status"] for r in not_sent} == {"error"}
    ok = [r for r in lines if r["status"] == "ok"]
    kinds = Counter((r["status"], r["error_type"]) for r in lines)
    assert len(ok) + len(not_sent) == len(lines) < rows, kinds
    assert len(fake.store) == len(ok)  # every row that was sent was answered
    assert not (tmp_path / "results.jsonl.sent").exists()

    command = resume_command(screen)
    assert "--overwrite" not in command
    done = subprocess.run([SCRIPT, *command], env=env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    check_every_row_once(fake, results, rows)


def test_ctrl_c_twice_stops_at_once_with_the_journal_intact(
    busy_fake: FakeLeadSquared, tmp_path: Path
) -> None:
    """A second Ctrl-C exits at once mid-call; --resume settles the rows in flight: no dupes."""
    with busy_fake.serve_in_thread() as url:
        stop_twice_then_resume(busy_fake, url, tmp_path)


def stop_twice_then_resume(fake: FakeLeadSquared, url: str, tmp_path: Path) -> None:
    """Ctrl-C twice while calls are in flight, then the printed --resume command."""
    rows = 3000
    source = many_leads(tmp_path / "leads.csv", rows)
    results = tmp_path / "results.jsonl"
    journal = tmp_path / "results.jsonl.sent"
    args = ["import", str(source), "--op", "create", "--base-url", url, "--rate", "25/0.25"]
    terminal = Terminal([*args, "--results", str(results), "--plain"])
    wait_for_lines(results, 200)
    terminal.type(CTRL_C)
    terminal.wait_for("interrupted")
    terminal.type(CTRL_C)
    code = terminal.finish(deadline=5.0)
    screen = terminal.screen
    assert code == 130, screen
    assert "stopped at once" in screen
    assert "Traceback" not in screen
    answered = {r["line"] for r in read_results(results)}
    in_flight = {json.loads(line)["line"] for line in journal.read_text().splitlines()} - answered
    assert in_flight, "the second Ctrl-C came while calls were in flight"
    assert fake.ledger.calls("Lead/Bulk/Create") * 50 < rows  # it did not wait for the rest
    fake.set_faults(FaultPlan())
    # The calls the stopped run left at the fake are applied there a second after they came.
    settled = time.monotonic() + 5.0
    while time.monotonic() < settled and not all(
        fake.store.find_by_email(f"lead{line - 2}@example.com") for line in in_flight
    ):
        time.sleep(0.01)

    done = subprocess.run(
        [SCRIPT, *resume_command(screen)], env=env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = check_every_row_once(fake, results, rows)
    assert sum(1 for r in lines if r.get("reconciled")) <= len(in_flight)
    assert not journal.exists()


def test_calls_outliving_the_grace_are_reported_in_the_commands_words(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """When --grace runs out after Ctrl-C, the command says so itself: no library wording."""
    fake.set_faults(FaultPlan(latency=(3.0, 3.0)))
    source = many_leads(tmp_path / "leads.csv", 3)
    results = tmp_path / "results.jsonl"
    args = ["import", str(source), "--op", "create", "--base-url", url, "--rate", "5/0.25"]
    process = subprocess.Popen(
        [SCRIPT, *args, "--results", str(results), "--grace", "0.5"],
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_lines(tmp_path / "results.jsonl.sent", 3)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert "aclose" not in stdout + stderr
    assert "timeout=" not in stdout + stderr
    assert "were not answered within 0.5 s (--grace)" in stderr
    assert {r["status"] for r in read_results(results)} == {"unknown_outcome"}
    assert "continue the import with:" in stderr
