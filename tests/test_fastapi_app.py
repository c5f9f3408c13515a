"""The FastAPI example (``examples/fastapi_app``) served by real uvicorn against a fake process.

The fake LeadSquared runs in its own process (``python -m leadsq_async.testing``) and so does
each app (``python -m uvicorn examples.fastapi_app.app:app``), both on loopback; the tests talk
HTTP to the app and read the fake's ledger through ``/_fake/summary``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import redis

import leadsq_async as lsq
from examples.fastapi_app.app import create_app
from leadsq_async.testing import (
    DEMO_ACCESS_KEY,
    DEMO_SECRET_KEY,
    remote_lead,
    remote_summary,
    serve_subprocess,
)

ROOT = Path(__file__).resolve().parent.parent
ADMIN = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
UPSERT = "Lead/Bulk/CreateOrUpdate"
GRACE = 10  # uvicorn --timeout-graceful-shutdown; LSQ_DELIVERY_TIMEOUT stays below it

StartApp = Callable[..., str]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=GRACE + 5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _fake(rate: str, *options: str) -> contextlib.AbstractContextManager[str]:
    return serve_subprocess(rate, *options, stop_timeout=GRACE + 5)


def _summary(fake_url: str) -> dict[str, Any]:
    return remote_summary(fake_url, 5)


class App:
    """One uvicorn process serving the example; its log goes to a file."""

    def __init__(self, fake_url: str, log: Path, env: dict[str, str], workers: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("LSQ_", "APP_"))}
        environ.update(
            LSQ_ACCESS_KEY=DEMO_ACCESS_KEY,
            LSQ_SECRET_KEY=DEMO_SECRET_KEY,
            LSQ_BASE_URL=fake_url,
            LSQ_RATE="25/5",
            LSQ_DELIVERY_TIMEOUT="8",
            APP_CLOSE_TIMEOUT="3",
        )
        environ.update(env)
        command = [
            *(sys.executable, "-m", "uvicorn", "examples.fastapi_app.app:app"),
            *("--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"),
            *("--timeout-graceful-shutdown", str(GRACE), "--workers", str(workers)),
        ]
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the app exited:\n{self.log.read_text()}"
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise AssertionError(f"the app did not start:\n{self.log.read_text()}")


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """Start the example under uvicorn against a fake URL; every app is stopped after the test."""
    apps: list[App] = []

    def start(fake_url: str, *, workers: int = 1, **env: str) -> App:
        app = App(fake_url, tmp_path / f"app{len(apps)}.log", env, workers)
        apps.append(app)
        app.wait_ready()
        return app

    yield start
    for app in apps:
        _stop(app.process)
        log = app.log.read_text()
        assert DEMO_SECRET_KEY not in log, "the app logged the secret key"


class Answer:
    """One HTTP answer: status, headers (lower-case names) and JSON body."""

    def __init__(self, raw: bytes) -> None:
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ", 2)[1])
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }
        # A crash answers in plain text ("Internal Server Error"): kept as text, so the test
        # reports the status rather than a JSON error.
        is_json = self.headers.get("content-type", "").startswith("application/json")
        self.json: Any = json.loads(body) if body and is_json else (body.decode() or None)


class Refused(Exception):
    """The connection was refused: the server was no longer listening."""


class Reset(Exception):
    """The server took the request and closed the connection without an answer."""


async def _call(port: int, method: str, path: str, body: object = None) -> Answer:
    """One request on its own connection (``Connection: close``).

    httpx2's pool costs O(connections) per request, which at 500 connections makes the test
    client, not the app, the bottleneck; a bare HTTP/1.1 exchange also tells a refused
    connection from one dropped after the request was sent.
    """
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        raise Refused(str(exc)) from exc
    try:
        data = b"" if body is None else json.dumps(body).encode()
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        raw = await reader.read()
    except OSError as exc:
        raise Reset(str(exc)) from exc
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if not raw:
        raise Reset("closed without an answer")
    return Answer(raw)


def _lead(tag: str, i: int) -> dict[str, Any]:
    return {"EmailAddress": f"{tag}-{i}@example.com", "FirstName": f"N{i}", "mx_City": "Pune"}


async def test_500_concurrent_signups_ride_at_most_25_calls(start_app: Callable[..., App]) -> None:
    """500 concurrent POST /leads answer 201 with the fake's LeadId, in at most 25 calls."""
    # The fake allows 5 calls a window beyond the app's 25 for the sampled lookups below.
    with _fake("30/5") as fake_url:
        app = start_app(fake_url, LSQ_RATE="25/5")
        leads = [_lead("burst", i) for i in range(500)]
        answers = await asyncio.gather(*(_call(app.port, "POST", "/leads", x) for x in leads))
        assert Counter(a.status for a in answers) == {201: 500}
        bodies = [a.json for a in answers]
        assert all(b["created"] and not b["updated"] for b in bodies)
        assert len({b["lead_id"] for b in bodies}) == 500

        summary = _summary(fake_url)
        assert summary["endpoints"][UPSERT] == {"calls": summary["calls"], "rows": 500}
        assert summary["calls"] <= 25
        assert (summary["leads"], summary["duplicates"], summary["rate_limited"]) == (500, 0, 0)

        async with httpx2.AsyncClient(base_url=fake_url, headers=ADMIN, trust_env=False) as fake:
            for i in random.Random(8).sample(range(500), 5):
                found = await fake.get(
                    "/v2/LeadManagement.svc/Leads.GetByEmailaddress",
                    params={"emailaddress": leads[i]["EmailAddress"]},
                )
                assert [lead["ProspectID"] for lead in found.json()] == [bodies[i]["lead_id"]]
        print(f"500 upserts in {summary['calls']} calls")


async def test_sigterm_answers_every_accepted_request(start_app: Callable[..., App]) -> None:
    """SIGTERM with 200 requests held: each gets 2xx or a mapped error; the fake has the 201s."""
    with _fake("25/5") as fake_url:
        app = start_app(fake_url, LSQ_RATE="25/5")
        first = [
            asyncio.ensure_future(_call(app.port, "POST", "/leads", _lead("held", i)))
            for i in range(200)
        ]
        # Wait until the app holds every one of the 200 rows (pending, in flight or answered),
        # so that each request was read by the app before the signal.
        while True:
            health = (await _call(app.port, "GET", "/healthz")).json
            held = health["pending"] + health["in_flight"]
            if held + sum(f.done() for f in first) >= 200:
                break
            await asyncio.sleep(0.01)
        app.process.send_signal(signal.SIGTERM)
        # A second wave over the next 0.5 s: served while uvicorn has not yet stopped listening
        # (it looks every 0.1 s), refused at the socket after.
        later = []
        for i in range(50):
            later.append(asyncio.ensure_future(_call(app.port, "POST", "/leads", _lead("late", i))))
            await asyncio.sleep(0.01)
        results = await asyncio.gather(*first, *later, return_exceptions=True)
        await asyncio.to_thread(app.process.wait, GRACE + 5)
        log = app.log.read_text()
        assert "Application shutdown complete" in log, log
        assert "timeout graceful shutdown exceeded" not in log, log

        def outcome(result: Answer | BaseException) -> int | str:
            return result.status if isinstance(result, Answer) else type(result).__name__

        accepted = Counter(outcome(r) for r in results[:200])
        late = Counter(outcome(r) for r in results[200:])
        assert set(accepted) <= {201, 502, 503}, accepted
        assert held >= 50, f"only {held} rows were unanswered at SIGTERM: the test proves little"
        assert set(late) <= {201, 503, "Refused", "Reset"}, late
        created = accepted[201] + late[201]

        summary = _summary(fake_url)
        assert summary["endpoints"][UPSERT]["rows"] == created
        assert (summary["leads"], summary["duplicates"], summary["rate_limited"]) == (created, 0, 0)
        print(f"held at SIGTERM {held}; first wave {dict(accepted)}; second wave {dict(late)}")


async def test_signups_on_a_plan_with_a_bulk_budget_answer_201(
    start_app: Callable[..., App],
) -> None:
    """On a plan with a bulk budget, sign-ups that went by Lead.CreateOrUpdate still answer 201.

    That road's answer does not say whether the lead was created, so ``created`` and
    ``updated`` are null there, and true/false only for rows that rode a bulk call.
    """
    # pro-a, five times faster: 5 calls per 1 s, of which 1 may be a bulk call. The app is
    # told both budgets, so every sign-up after the first bulk call spills onto the
    # single-lead road rather than wait for the next bulk grant.
    # (The fake's --rate is the plan's own 5/5; --scale shrinks it with the plan's.)
    with _fake("5/5", "--plan", "pro-a", "--scale", "5") as fake_url:
        app = start_app(fake_url, LSQ_RATE="5/1", LSQ_BULK_RATE="1/1")
        leads = [_lead("plan", i) for i in range(4)]
        answers = []
        for lead in leads:  # one at a time: each its own call, none waits for a bulk grant
            answers.append(await _call(app.port, "POST", "/leads", lead))
        assert [a.status for a in answers] == [201] * 4, [a.json for a in answers]
        bodies = [a.json for a in answers]
        assert len({b["lead_id"] for b in bodies}) == 4
        single = [b for b in bodies if b["created"] is None]
        assert all(b["updated"] is None for b in single)
        assert all(b["created"] and not b["updated"] for b in bodies if b not in single)

        summary = _summary(fake_url)
        assert summary["endpoints"]["Lead.CreateOrUpdate"]["rows"] == len(single) >= 3
        assert (summary["leads"], summary["rate_limited"]) == (4, 0)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the machine's Redis; its keys are deleted after the test."""
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1) as r:
            r.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        message = f"no Redis answers at {REDIS_URL}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"leadsq-fastapi-{uuid.uuid4().hex[:12]}"
    yield name
    with redis.Redis.from_url(REDIS_URL) as r:
        keys = list(r.scan_iter(match=f"{name}:*"))
        if keys:
            r.delete(*keys)


async def test_two_workers_share_the_limit_through_redis(
    start_app: Callable[..., App], redis_prefix: str
) -> None:
    """Two uvicorn workers with the Redis limiter: a 400-request burst gets no 429 at the fake."""
    # 16 calls at 10 per 1 s; two workers on separate limiters could together send ~20 per 1 s
    # (how many they do depends on how the kernel spreads the connections between them).
    with _fake("10/1") as fake_url:
        app = start_app(
            fake_url,
            workers=2,
            LSQ_RATE="10/1",
            LSQ_REDIS_URL=REDIS_URL,
            LSQ_REDIS_PREFIX=redis_prefix,
        )
        answers = await asyncio.gather(
            *(_call(app.port, "POST", "/leads", _lead("shared", i)) for i in range(400))
        )
        assert Counter(a.status for a in answers) == {201: 400}
        summary = _summary(fake_url)
        assert summary["rate_limited"] == 0
        assert (summary["leads"], summary["duplicates"]) == (400, 0)
        print(f"calls {summary['calls']}, 429s {summary['rate_limited']}")


async def test_library_errors_become_http_answers(start_app: Callable[..., App]) -> None:
    """Bad input 422 naming the field, unknown lead 404, non-GUID id 422, duplicate phone 409.

    A JSON object under a field is a custom field set; one nested deeper is bad input.
    """
    with _fake("25/1") as fake_url:
        app = start_app(fake_url, LSQ_RATE="25/1")
        port = app.port
        made = await _call(
            port, "POST", "/leads", {"EmailAddress": "a@x.com", "Phone": "9876543210"}
        )
        assert made.status == 201
        lead_id = made.json["lead_id"]

        again = await _call(port, "POST", "/leads", {"EmailAddress": "a@x.com", "mx_City": "Goa"})
        assert (again.status, again.json) == (
            201,
            {"lead_id": lead_id, "created": False, "updated": True},
        )

        bad = await _call(port, "POST", "/leads", {"EmailAddress": "b@x.com", "mx_Tags": [1, 2]})
        assert (bad.status, bad.json["field"]) == (422, "mx_Tags")

        kyc = {"EmailAddress": "k@x.com", "mx_KYC": {"Status": "Pending"}}
        made_kyc = await _call(port, "POST", "/leads", kyc)
        assert made_kyc.status == 201
        stored = remote_lead(fake_url, made_kyc.json["lead_id"])
        assert stored is not None
        assert stored["mx_KYC"] == {"Value": "", "Fields": {"Status": "Pending"}}
        deep = {"EmailAddress": "d@x.com", "mx_KYC": {"Doc": {"Status": "Pending"}}}
        too_deep = await _call(port, "POST", "/leads", deep)
        assert (too_deep.status, too_deep.json["field"]) == (422, "mx_KYC")

        no_email = await _call(port, "POST", "/leads", {"Phone": "9876500000"})
        assert (no_email.status, no_email.json["field"]) == (422, "EmailAddress")

        clash = await _call(
            port, "POST", "/leads", {"EmailAddress": "c@x.com", "Phone": "9876543210"}
        )
        assert (clash.status, clash.json["exception_type"]) == (409, "MXDuplicateEntryException")

        updated = await _call(port, "PATCH", f"/leads/{lead_id}", {"mx_City": "Pune"})
        assert (updated.status, updated.json) == (200, {"lead_id": lead_id})

        missing = await _call(port, "PATCH", f"/leads/{uuid.uuid4()}", {"mx_City": "X"})
        assert (missing.status, missing.json["error"]) == (404, "LeadNotFoundError")

        not_guid = await _call(port, "PATCH", "/leads/12345", {"mx_City": "X"})
        assert (not_guid.status, not_guid.json["field"]) == (422, "lead_id")


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (lsq.RateLimitedError("window full"), 503, "5"),
        (lsq.DeliveryTimeoutError("too late"), 503, "5"),
        (lsq.LimiterUnavailableError("no redis"), 503, "5"),
        (lsq.QueueFullError("full"), 503, "1"),
        (lsq.ServiceError("5xx"), 503, "10"),
        (lsq.ServiceUnavailableError("could not reach it", "https://h/v2/x"), 503, "10"),
        (lsq.ClientClosedError("closing"), 503, "1"),
        (lsq.OutcomeUnknownError("lost"), 502, None),
        (lsq.ResponseMismatchError("mismatch"), 502, None),
        (lsq.LeadRejectedError("nope", "MXDuplicateEntryException"), 409, None),
        (lsq.LeadNotFoundError("gone"), 404, None),
        (lsq.ValidationError("mx_X", "too long"), 422, None),
        (lsq.AuthenticationError(f"refused {DEMO_SECRET_KEY}"), 500, None),
        (lsq.EndpointNotFoundError("no such API at https://h/v2/x", "https://h/v2/x"), 500, None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
async def test_each_error_maps_to_its_status(
    monkeypatch: pytest.MonkeyPatch, error: Exception, status: int, retry_after: str | None
) -> None:
    """Each library error gets its status and Retry-After; a 500 says nothing more."""
    app = create_app()
    client = lsq.LeadSquaredClient(
        DEMO_ACCESS_KEY, DEMO_SECRET_KEY, rate_limit=lsq.RateLimit(25, 5)
    )

    async def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(client, "upsert_lead", fail)
    app.state.leads = client
    transport = httpx2.ASGITransport(app=app)
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://app") as http:
            answer = await http.post("/leads", json={"EmailAddress": "a@example.com"})
    finally:
        await client.aclose()
    assert answer.status_code == status
    assert answer.headers.get("Retry-After") == retry_after
    if status == 500:
        assert answer.json() == {"error": "internal error"}
    else:
        assert answer.json()["error"] == type(error).__name__
