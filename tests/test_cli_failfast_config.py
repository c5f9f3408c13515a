"""``leadsq-async import`` fails fast on a wrong place to call (issue 15, the client's half).

A host or base URL that cannot be right is refused before anything is read or sent; one that
is plainly meant is used. Every test runs the real console script in a subprocess.
"""

from __future__ import annotations

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
