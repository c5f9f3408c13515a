"""What the RabbitMQ tests share: the machine's broker, fresh queues, publishing, reading back.

Uses the machine's RabbitMQ (``AMQP_URL``, default ``amqp://guest:guest@127.0.0.1:5672/``);
each test works on queues of its own (a random name, and its ``.dead`` queue), deleted
afterwards. Without a reachable broker the tests skip locally and fail in CI (``CI`` set).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def rabbit_or_fail() -> None:
    """Skip (locally) or fail (in CI) when the machine's RabbitMQ does not answer."""
    where = urlsplit(AMQP_URL)
    try:
        with socket.create_connection((where.hostname or "127.0.0.1", where.port or 5672), 1):
            pass
    except OSError as exc:
        message = f"no RabbitMQ answers at {where.hostname}:{where.port}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


async def declare(name: str) -> None:
    """Declare the durable queue ``name`` and its ``.dead`` queue."""
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for queue in (name, f"{name}.dead"):
            await channel.declare_queue(queue, durable=True)


async def delete(name: str) -> None:
    """Delete the queue ``name`` and its ``.dead`` queue."""
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        for queue in (name, f"{name}.dead"):
            await channel.queue_delete(queue)


def queue_name(kind: str) -> str:
    """A new queue name (the broker is checked first)."""
    rabbit_or_fail()
    return f"{kind}-{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def fresh_queue(kind: str = "leadsq-test") -> AsyncIterator[str]:
    """A new durable queue; it and its ``.dead`` queue are deleted afterwards."""
    name = queue_name(kind)
    await declare(name)
    try:
        yield name
    finally:
        await delete(name)


@contextlib.contextmanager
def fresh_queue_sync(kind: str = "leadsq-test") -> Iterator[str]:
    """``fresh_queue`` for a test without an event loop of its own."""
    name = queue_name(kind)
    asyncio.run(declare(name))
    try:
        yield name
    finally:
        asyncio.run(delete(name))


def create(index: int, **extra: Any) -> bytes:
    """A create message for lead ``index`` (a unique EmailAddress)."""
    fields = {"EmailAddress": f"lead{index}@example.com", "FirstName": f"Lead{index}", **extra}
    return json.dumps({"op": "create", "fields": fields}).encode()


async def publish(queue: str, bodies: Iterable[bytes], ids: Iterable[str] = ()) -> int:
    """Publish ``bodies`` (persistent, confirmed) to ``queue``; how many. ``ids`` are their
    message ids (default: aio-pika's, a random one each)."""
    items = list(bodies)
    names: list[str | None] = [*ids]
    names += [None] * (len(items) - len(names))
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = channel.default_exchange
        for start in range(0, len(items), 500):  # confirmed 500 at a time
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body,
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            message_id=name,
                        ),
                        routing_key=queue,
                    )
                    for body, name in zip(
                        items[start : start + 500], names[start : start + 500], strict=True
                    )
                )
            )
    return len(items)


async def depth(queue: str) -> tuple[int, int]:
    """Messages ready in ``queue`` and consumers on it (a passive declare's answer)."""
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        result = declared.declaration_result
        return result.message_count or 0, result.consumer_count or 0


async def take_all(queue: str) -> list[tuple[bytes, dict[str, Any]]]:
    """Every message ready in ``queue`` (body and headers), acknowledged."""
    out: list[tuple[bytes, dict[str, Any]]] = []
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        while True:
            message = await declared.get(fail=False, no_ack=True)
            if message is None:
                return out
            out.append((message.body, dict(message.headers or {})))


async def hold_and_drop(queue: str, count: int) -> None:
    """Take ``count`` messages without acknowledging them, then drop the connection (a crash):
    the broker returns them, marked redelivered."""
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, passive=True)
    for _ in range(count):
        message = await declared.get(fail=True)
        assert message is not None
    await connection.close()
