"""The fake over real HTTP: uvicorn in the loop, in a thread, as a subprocess, as fixtures."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys

import httpx2
import pytest

from leadsq_async.testing import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    FakeLeadSquared,
    FaultPlan,
    Limit,
    add_arguments,
    build_fake,
)

LM = "/v2/LeadManagement.svc/"
HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}
CREATE = [[{"Attribute": "EmailAddress", "Value": "wire@example.com"}]]


async def test_serve_answers_a_real_client() -> None:
    """fake.serve() runs uvicorn on a free loopback port in this loop."""
    fake = FakeLeadSquared()
    async with fake.serve() as url:
        assert url.startswith("http://127.0.0.1:")
        async with httpx2.AsyncClient(base_url=url, headers=HEADERS) as c:
            r = await c.post(LM + "Lead/Bulk/Create", json=CREATE)
            assert r.status_code == 200
            lead_id = r.json()[0]["LeadId"]
            got = await c.get(LM + "Leads.GetById", params={"id": lead_id})
            assert got.json()[0]["EmailAddress"] == "wire@example.com"
            missing = await c.get("/nope")
            assert missing.status_code == 404
    assert fake.store.count() == 1
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert pending == []


@pytest.mark.parametrize(("kind", "applied"), [("drop_before", False), ("drop_after", True)])
async def test_drop_under_uvicorn_is_a_transport_error(
    kind: str, applied: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A deliberate drop over HTTP reaches the client as an httpx2 transport error, quietly."""
    fake = FakeLeadSquared(faults=FaultPlan(**{kind: 1.0}))
    caplog.set_level(logging.INFO)
    async with fake.serve() as url, httpx2.AsyncClient(base_url=url, headers=HEADERS) as c:
        with pytest.raises(httpx2.TransportError):
            await c.post(LM + "Lead/Bulk/Create", json=CREATE)
        fake.set_faults(None)
        r = await c.get(LM + "Leads.GetByEmailaddress", params={"emailaddress": "a@b.c"})
        assert r.status_code == 200
    assert (fake.store.count() == 1) is applied
    assert fake.ledger.entries[0].fault == kind
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


def test_serve_in_thread_for_sync_code() -> None:
    """serve_in_thread serves from a daemon thread and stops cleanly."""
    fake = FakeLeadSquared()
    with fake.serve_in_thread() as url, httpx2.Client(base_url=url, headers=HEADERS) as c:
        r = c.post(LM + "Lead/Bulk/Create", json=CREATE)
        assert r.status_code == 200
        assert fake.store.find_by_email("WIRE@example.com") is not None
    with pytest.raises(httpx2.ConnectError), httpx2.Client() as c:
        c.get(url + "/v2/Authentication.svc/UserByAccessKey.Get")


def test_fixtures(fake_leadsquared: FakeLeadSquared, fake_leadsquared_url: str) -> None:
    """The pytest plugin's fixtures give a fake (no rate limit) and the URL it is served at."""
    assert fake_leadsquared.rate_limit is None
    with httpx2.Client(base_url=fake_leadsquared_url, headers=HEADERS) as c:
        r = c.get("/v2/Authentication.svc/UserByAccessKey.Get")
    assert r.status_code == 200
    assert fake_leadsquared.ledger.calls("UserByAccessKey.Get") == 1


def test_cli_arguments_build_the_fake() -> None:
    """add_arguments / build_fake turn command-line options into a configured fake."""
    parser = add_arguments(argparse.ArgumentParser())
    args = parser.parse_args(
        ["--rate", "10/2", "--bulk-rate", "5/5", "--latency", "0,0.1", "--drop-after", "0.2"]
    )
    fake = build_fake(args)
    assert str(fake.rate_limit) == "10/2"
    assert str(fake.bulk_rate_limit) == "5/5"
    assert fake.faults("Lead/Bulk/Create") == FaultPlan(latency=(0.0, 0.1), drop_after=0.2)
    assert build_fake(parser.parse_args(["--rate", "none"])).rate_limit is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--system-error", "2"])


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM semantics")
def test_cli_subprocess_prints_url_answers_and_exits_on_sigterm() -> None:
    """python -m leadsq_async.testing --port 0 prints its URL, serves, exits 0 on SIGTERM."""
    secret = "cli-secret-value"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leadsq_async.testing",
            "--port",
            "0",
            "--secret-key",
            secret,
            "--rate",
            "5/1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), url
            headers = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": secret}
            with httpx2.Client(base_url=url, headers=headers) as c:
                r = c.get("/v2/Authentication.svc/UserByAccessKey.Get")
                assert r.status_code == 200
                assert c.get(LM + "Leads.GetById", params={"id": "x"}).json() == []
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert out == ""  # exactly one line was printed
    assert secret not in err


def test_cli_listen_latency_and_rate_type(capsys: pytest.CaptureFixture[str]) -> None:
    """--listen (old --host still works, with a warning), MIN,MAX latency only, rate_type."""
    parser = add_arguments(argparse.ArgumentParser())
    assert parser.parse_args([]).listen == "127.0.0.1"
    assert parser.parse_args(["--listen", "0.0.0.0"]).listen == "0.0.0.0"
    assert parser.parse_args(["--host", "::1"]).listen == "::1"
    assert "--host is deprecated" in capsys.readouterr().err
    assert "--host" not in parser.format_help()
    assert parser.parse_args(["--latency", "1,1"]).latency == (1.0, 1.0)
    for bad in ("5", "0.2,0.1", "nan,1"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--latency", bad])
    assert "MIN,MAX" in capsys.readouterr().err
    custom = add_arguments(argparse.ArgumentParser(), rate_type=lambda text: Limit(7, 1.0))
    args = custom.parse_args(["--rate", "anything", "--bulk-rate", "x"])
    assert (args.rate, args.bulk_rate) == (Limit(7, 1.0), Limit(7, 1.0))
