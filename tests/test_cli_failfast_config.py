"""``leadsq-async import`` fails fast on a wrong place to call (issue 15, the client's half).

A host or base URL that cannot be right is refused before anything is read or sent; one that
is plainly meant is used. Nothing listening, or no such API at the URL, stops the import with
exit code 3 and a line naming the URL, resumable; refused keys name the host. Every test runs
the real console script in a subprocess.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leadsq_async.testing import FakeLeadSquared

from .test_cli import SCALED, SCRIPT, importing, many_leads, read_results
from .test_cli_failfast import errors_of, run_with

pytestmark = pytest.mark.skipif(not Path(SCRIPT).exists(), reason="console script not installed")


@pytest.fixture
def url(fake: FakeLeadSquared) -> Iterator[str]:
    """The fake (25 calls per 0.25 s, from conftest) served by uvicorn in a thread."""
    with fake.serve_in_thread() as base_url:
        yield base_url


def test_a_base_url_ending_in_v2_is_used_without_it(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """--base-url .../v2/ is the base URL without /v2: the import goes through."""
    source = many_leads(tmp_path / "leads.csv", 60)
    results = tmp_path / "r.jsonl"
    args = importing(url + "/v2/", source, results)
    done = run_with({}, *args, "--op", "create")
    assert done.returncode == 0, done.stderr
    assert {r["status"] for r in read_results(results)} == {"ok"}
    assert len(fake.store) == 60


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        pytest.param(
            "--host", "http://127.0.0.1:{port}", "--host: is a host name and the client always "
            "uses https; for http:// give the base URL 'http://127.0.0.1:{port}' instead",
            id="host-with-http-scheme",
        ),
        pytest.param(
            "LSQ_HOST", "https://127.0.0.1:{port}/leads", "LSQ_HOST: is a host name without a "
            "path", id="env-host-with-a-path",
        ),
        pytest.param(
            "--base-url", "http://127.0.0.1:{port}/v2/v2", "--base-url: must end before /v2 "
            "(the client adds /v2/LeadManagement.svc/... itself), got "
            "'http://127.0.0.1:{port}/v2/v2': use 'http://127.0.0.1:{port}'",
            id="base-url-v2-twice",
        ),
        pytest.param(
            "LSQ_BASE_URL", "127.0.0.1:{port}", "LSQ_BASE_URL: must start with https://",
            id="env-base-url-without-scheme",
        ),
    ],
)  # fmt: skip
def test_a_wrong_host_or_base_url_is_refused_at_once(
    fake: FakeLeadSquared, url: str, tmp_path: Path, where: str, value: str, message: str
) -> None:
    """A host or base URL that cannot be right: one line naming it and the fix, exit 3, 0 calls."""
    port = url.rsplit(":", 1)[1]
    value, message = value.format(port=port), message.format(port=port)
    source = many_leads(tmp_path / "leads.csv", 60)
    results = tmp_path / "r.jsonl"
    args = ["import", str(source), "--rate", SCALED, "--results", str(results), "--op", "create"]
    extra: dict[str, str] = {}
    if where.startswith("--"):
        args += [where, value]
    else:
        extra[where] = value
    started = time.monotonic()
    done = run_with(extra, *args)
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stdout + done.stderr
    lines = errors_of(done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"leadsq-async: error: {message}"), lines[0]
    assert "Traceback" not in done.stderr
    assert fake.ledger.calls() == 0
    assert not results.exists()
    assert elapsed < 10  # the script's start-up; nothing waits on the network


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def summary_calls(stdout: str) -> int:
    """The calls the summary says this run made."""
    found = re.search(r"^calls: (\d+)", stdout, re.M)
    assert found, stdout
    return int(found.group(1))


@pytest.mark.timeout(120)  # two runs of the script, one of them ~10 s of circuit by design
def test_nothing_listening_exits_3_in_seconds_after_a_handful_of_calls(tmp_path: Path) -> None:
    """Nothing at the URL (LSQ_HOST with a scheme, normalised): exit 3 under 30 s, resumable."""
    port = free_port()
    source = many_leads(tmp_path / "leads.csv", 5000)
    results = tmp_path / "r.jsonl"
    args = ["import", str(source), "--rate", "25/0.25", "--results", str(results), "--op", "create"]
    started = time.monotonic()
    done = run_with({"LSQ_HOST": f"https://127.0.0.1:{port}/"}, *args, "--plain", timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stdout + done.stderr
    assert elapsed < 30
    # The first call is the account's fields' (LeadsMetaData.Get), then the rows' calls.
    url = f"https://127.0.0.1:{port}/v2/LeadManagement.svc/"  # not https://https
    last = errors_of(done.stderr)[-1]
    assert last.startswith(f"leadsq-async: error: could not reach {url}"), last
    assert "--resume" in last
    assert "Traceback" not in done.stderr
    assert summary_calls(done.stdout) <= 12  # 5 calls, then one probe at a time
    lines = read_results(results)
    assert lines, "the rows that waited are error lines"
    assert {r["status"] for r in lines} == {"error"}
    assert {r["error_type"] for r in lines} <= {"ServiceUnavailableError", "ServiceError"}

    fake = FakeLeadSquared()  # the service comes up where it was expected: resume finishes
    with fake.serve_in_thread(port=port) as served:
        again = run_with({}, *args, "--base-url", served, "--resume", timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    final = {r["line"]: r["status"] for r in read_results(results)}
    assert len(final) == 5000
    assert set(final.values()) == {"ok"}
    assert len(fake.store) == 5000
    assert fake.store.duplicates() == []


def test_every_path_404_exits_3_after_one_call_naming_the_url(
    fake: FakeLeadSquared, url: str, tmp_path: Path
) -> None:
    """A base URL where every path is "No API" (a proxy prefix): exit 3 in seconds, 1-2 calls."""
    source = many_leads(tmp_path / "leads.csv", 5000)
    results = tmp_path / "r.jsonl"
    wrong = url + "/leadsquared"
    started = time.monotonic()
    args = [*importing(wrong, source, results), "--op", "create", "--plain", "--rate", "25/5"]
    done = run_with({}, *args)  # the real rate: the first answer comes before the next grant
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stdout + done.stderr
    assert elapsed < 15
    called = f"{wrong}/v2/LeadManagement.svc/Lead/Bulk/Create"
    last = errors_of(done.stderr)[-1]
    assert last.startswith(f"leadsq-async: error: no such API at {called} (HTTP 404"), last
    assert "fix --host or --base-url" in last
    assert 1 <= fake.ledger.calls() <= 2  # no split, no retry
    assert len(fake.store) == 0
    lines = read_results(results)
    assert {(r["status"], r["error_type"]) for r in lines} == {("error", "EndpointNotFoundError")}

    again = run_with({}, *importing(url, source, results), "--op", "create", "--resume")
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(fake.store) == 5000


def test_refused_keys_name_the_host_and_ask_which_is_theirs(url: str, tmp_path: Path) -> None:
    """A 401 names the host called and asks UserByAccessKey.Get whether the keys are wrong."""
    source = many_leads(tmp_path / "leads.csv", 60)
    host = url.removeprefix("http://")
    done = run_with(
        {"LSQ_SECRET_KEY": "wrong-secret"}, *importing(url, source, tmp_path / "r.jsonl"), "--op",
        "create",
    )  # fmt: skip
    assert done.returncode == 3
    assert errors_of(done.stderr) == [
        f"leadsq-async: error: the service at {host} refused the access key or secret key "
        "(HTTP 401); check LSQ_ACCESS_KEY and LSQ_SECRET_KEY (UserByAccessKey.Get refuses them "
        "too: the keys themselves are wrong)"
    ]
