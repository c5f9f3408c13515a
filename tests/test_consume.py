"""``leadsq-async consume``: messages settled by their rows' outcomes, on the machine's RabbitMQ.

The worker runs in the test's loop (``_consume.run``) against the fake served by uvicorn on
loopback, on a queue of the test's own; the fake's store and ledger say what the account saw.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

import leadsq_async as lsq
from leadsq_async._cli import main
from leadsq_async._cli._consume import (
    ERROR_FIELD,
    ERROR_MESSAGE,
    ERROR_TYPE,
    SOURCE_QUEUE,
    ConsumeConfig,
    ConsumeReport,
    run,
    safe_url,
)
from leadsq_async._cli._messages import MessageError, parse_message
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared
from tests.amqp_support import (
    AMQP_URL,
    create,
    depth,
    fresh_queue,
    hold_and_drop,
    publish,
    take_all,
)

pytestmark = pytest.mark.amqp
SCALED = lsq.RateLimit(25, 0.25)


def config(url: str, queue: str, **options: Any) -> ConsumeConfig:
    """A worker's configuration for the fake at ``url`` and ``queue`` (scaled limits)."""
    defaults: dict[str, Any] = {
        "access_key": DEMO_ACCESS_KEY,
        "secret_key": DEMO_SECRET_KEY,
        "base_url": url,
        "amqp_url": AMQP_URL,
        "rate": SCALED,
        "retry_delay": 0.05,
        "quota_pause": 0.2,
        "grace": 10.0,
        "progress_every": 0.5,
    }
    defaults.update(options)
    return ConsumeConfig(queue=queue, **defaults)


async def consume_until(
    cfg: ConsumeConfig, done: Callable[[str], bool] | None = None
) -> tuple[ConsumeReport, str]:
    """Run a worker until its queue has nothing ready (or, given ``done``, until ``done`` of its
    output so far), then drain it (SIGTERM's path); its report and its output."""
    stop = asyncio.Event()
    out, err = io.StringIO(), io.StringIO()
    worker = asyncio.create_task(run(cfg, out=out, err=err, stop=stop))
    while not worker.done():
        await asyncio.sleep(0.05)
        if done is None:
            ready, _ = await depth(cfg.queue)
            finished = ready == 0
        else:
            finished = done(err.getvalue())
        if finished:
            stop.set()
            break
    report = await worker
    return report, out.getvalue() + err.getvalue()


# -- the message format ----------------------------------------------------------------------

MESSAGES = [
    (b'{"op": "create", "fields": {"EmailAddress": "a@example.com"}}', None, "CreateLead"),
    (b'{"fields": {"EmailAddress": "a@example.com"}}', "upsert", "UpsertLead"),
    (b'{"op": "update", "fields": {"EmailAddress": "a@x.io", "City": "Pune"}}', None, "UpdateLead"),
    (
        b'{"op": "activity", "fields": {"EmailAddress": "a@x.io", "ActivityEvent": 201}}',
        None,
        "PostActivity",
    ),
    (
        b'{"op": "activity", "fields": {"EmailAddress": "a@x.io"}, "event": 201}',
        None,
        "PostActivity",
    ),
]
BAD_MESSAGES = [
    (b"not json", "body"),
    (b"\xff\xfe", "body"),
    (b"[1, 2]", "body"),
    (b'{"op": "delete", "fields": {"EmailAddress": "a@x.io"}}', "op"),
    (b'{"fields": {"EmailAddress": "a@x.io"}}', "op"),
    (b'{"op": "create", "fields": {}}', "fields"),
    (b'{"op": "create", "field": {"EmailAddress": "a@x.io"}}', "field"),
    (b'{"op": "create", "fields": {"EmailAddress": ["a"]}}', "fields"),
    (b'{"op": "update", "fields": {"City": "Pune"}, "search_by": ""}', "search_by"),
    (b'{"op": "activity", "fields": {"EmailAddress": "a@x.io"}, "event": "201"}', "event"),
    (b'{"op": "activity", "fields": {"EmailAddress": "a"}, "search_by": "Phone"}', "search_by"),
]


@pytest.mark.parametrize(("body", "default", "kind"), MESSAGES)
def test_a_message_names_its_operation_and_fields(
    body: bytes, default: str | None, kind: str
) -> None:
    """Each operation of ``import`` has its message; ``--op`` supplies a missing ``op``."""
    row = parse_message(body, default)
    assert type(row.operation).__name__ == kind
    lsq.validate(row.operation)


@pytest.mark.parametrize(("body", "field"), BAD_MESSAGES)
def test_a_message_that_is_not_a_row_names_the_key_at_fault(body: bytes, field: str) -> None:
    """A malformed message is one MessageError naming its key (it is dead-lettered)."""
    with pytest.raises(MessageError) as caught:
        parse_message(body)
    assert caught.value.field == field


def test_the_broker_password_is_never_shown() -> None:
    """The AMQP URL in messages hides its password."""
    assert safe_url("amqp://user:s3cret@rabbit:5672/vh") == "amqp://user:***@rabbit:5672/vh"
    assert "s3cret" not in repr(config("http://x", "q", amqp_url="amqp://u:s3cret@h/"))


# -- against RabbitMQ -------------------------------------------------------------------------


async def test_rows_are_acknowledged_and_refused_ones_dead_lettered_with_their_error() -> None:
    """60 creates and 3 bad rows: 60 leads, 3 dead letters whose headers say type, text, field."""
    fake = FakeLeadSquared(rate_limit=SCALED)
    bad = [
        json.dumps({"op": "create", "fields": {"Notes": "no name"}}).encode(),  # client refuses
        b'{"op": "create", "feilds": {}}',  # not a row
        create(3, FirstName="Other"),  # the service refuses: lead3's email is taken
    ]
    async with fresh_queue() as queue, fake.serve() as url:
        await publish(queue, [create(i) for i in range(60)])
        await publish(queue, bad)
        report, output = await consume_until(config(url, queue))
        dead = await take_all(f"{queue}.dead")
        left, _ = await depth(queue)
    assert left == 0
    assert report.exit_code == 0
    assert report.counts["done"] == 60
    assert report.counts["dead_lettered"] == 3
    assert fake.store.count() == 60
    assert fake.store.duplicates() == []
    headers = {h[ERROR_TYPE]: h for _, h in dead}
    assert set(headers) == {"ValidationError", "MessageError", "LeadRejectedError"}
    assert headers["ValidationError"][ERROR_FIELD] == "fields"
    assert headers["MessageError"][ERROR_FIELD] == "feilds"
    assert "MXDuplicateEntryException" in headers["LeadRejectedError"][ERROR_MESSAGE]
    assert all(h[SOURCE_QUEUE] == queue for _, h in dead)
    assert sorted(body for body, _ in dead) == sorted(bad)
    assert "60 done, 3 dead-lettered" in output


async def test_a_redelivered_create_is_looked_up_and_not_created_twice() -> None:
    """A create a crashed worker applied comes back redelivered: found by its email, not sent."""
    fake = FakeLeadSquared(rate_limit=SCALED)
    async with fresh_queue() as queue, fake.serve() as url:
        async with lsq.LeadSquaredClient(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=url) as c:
            await c.create_lead({"EmailAddress": "lead0@example.com", "FirstName": "Lead0"})
        await publish(queue, [create(0), create(1)])
        await hold_and_drop(queue, 2)  # the crash: both come back marked redelivered
        report, _ = await consume_until(config(url, queue))
    assert report.counts["looked_up"] == 2
    assert report.counts["done"] == 2
    assert fake.store.count() == 2  # lead0 found, lead1 created once
    assert fake.store.duplicates() == []
    creates = [e for e in fake.ledger.entries if "Create" in e.endpoint and e.applied]
    assert sum(e.rows for e in creates) == 2  # the first client's lead0, the worker's lead1


async def test_refused_keys_stop_the_worker_and_leave_every_message_in_the_queue() -> None:
    """Keys refused (401): the worker stops with exit 3 and nothing is acked or dead-lettered."""
    fake = FakeLeadSquared(rate_limit=SCALED)
    async with fresh_queue() as queue, fake.serve() as url:
        await publish(queue, [create(i) for i in range(20)])
        cfg = config(url, queue, secret_key="wrong-secret")
        report = await asyncio.wait_for(run(cfg, out=io.StringIO(), err=io.StringIO()), 20)
        ready, _ = await depth(queue)
        dead, _ = await depth(f"{queue}.dead")
    assert isinstance(report.stopped_by, lsq.AuthenticationError)
    assert report.exit_code == 3
    assert (ready, dead) == (20, 0)
    assert "wrong-secret" not in repr(report.as_dict())


async def test_a_spent_quota_pauses_consuming_and_returns_the_messages() -> None:
    """Quota spent after 4 calls: the worker pauses; the rows not sent go back to the queue."""
    fake = FakeLeadSquared(rate_limit=SCALED, daily_quota=lsq.RateLimit(4, 86_400))
    async with fresh_queue() as queue, fake.serve() as url:
        await publish(queue, [create(i) for i in range(500)])
        report, output = await consume_until(config(url, queue), lambda err: "paused" in err)
        ready, _ = await depth(queue)
        dead, _ = await depth(f"{queue}.dead")
    assert "daily" in output.lower() or "quota" in output.lower()
    assert report.counts["pauses"] == 1
    assert dead == report.counts["dead_lettered"] == 0
    created = fake.store.count()
    assert 0 < created <= 4 * 50  # four calls, as full as the deliveries made them
    assert ready == 500 - created  # every message not applied is back, none lost
    assert report.counts["done"] == created


def test_the_command_needs_keys() -> None:
    """No keys: exit 3 naming the variable, before anything connects."""
    import os

    saved = {k: os.environ.pop(k) for k in ("LSQ_ACCESS_KEY", "LSQ_SECRET_KEY") if k in os.environ}
    try:
        assert main(["consume", "some-queue"]) == 3
    finally:
        os.environ.update(saved)


async def test_with_the_journal_only_creates_whose_call_left_are_looked_up() -> None:
    """Two creates come back redelivered; the journal saw one call leave: one lookup, not two."""
    from leadsq_async._cli._journal import Journal, digest
    from tests.redis_support import REDIS_URL, fresh_prefix

    fake = FakeLeadSquared(rate_limit=SCALED)
    with fresh_prefix("leadsq-journal") as prefix:
        async with fresh_queue() as queue, fake.serve() as url:
            journal = Journal(REDIS_URL, prefix, queue)
            journal.mark("sent", [digest(create(0), "m0")])  # its call left before the crash
            journal.close()
            await publish(queue, [create(0), create(1)], ids=["m0", "m1"])
            await hold_and_drop(queue, 2)
            cfg = config(url, queue, redis_url=REDIS_URL, redis_prefix=prefix)
            report, _ = await consume_until(cfg)
    assert report.counts["looked_up"] == 1
    assert report.counts["done"] == 2
    assert fake.store.count() == 2
    assert fake.store.duplicates() == []


def test_without_aio_pika_the_command_names_the_amqp_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`consume` without aio-pika exits 2 with one line naming the amqp extra."""
    monkeypatch.setitem(sys.modules, "aio_pika", None)
    monkeypatch.setenv("LSQ_ACCESS_KEY", DEMO_ACCESS_KEY)
    monkeypatch.setenv("LSQ_SECRET_KEY", DEMO_SECRET_KEY)
    assert main(["consume", "some-queue"]) == 2
    assert "pip install 'leadsq-async[amqp]'" in capsys.readouterr().err


def test_without_redis_a_shared_journal_names_the_redis_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--redis-url without the redis package is one usage error naming the extra."""
    from leadsq_async._cli._journal import Journal
    from leadsq_async._cli._options import UsageError

    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(UsageError, match=r"leadsq-async\[redis\]"):
        Journal("redis://127.0.0.1:6379/0", "p", "q")
