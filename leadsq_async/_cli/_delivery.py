"""The messages ``consume`` settles, read straight from aiormq's delivery.

aio-pika wraps every delivery in an ``IncomingMessage`` (some thirty checked attribute writes)
and runs the callback in a task of its own on top of aiormq's: at a thousand rows a second
that is a tenth of a worker's CPU. ``consume`` subscribes on the channel under aio-pika's
(``basic_consume``) and reads the few properties it uses from the delivery itself; ``Delivered``
is what the worker needs of a message, which an aio-pika ``IncomingMessage`` also is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel, AbstractQueue
    from aiormq.abc import DeliveredMessage

__all__ = ["Delivered", "Delivery", "cancel", "subscribe"]


class Delivered(Protocol):
    """What the worker reads of a delivered message and does with it."""

    @property
    def body(self) -> bytes: ...
    @property
    def delivery_tag(self) -> int | None: ...
    @property
    def redelivered(self) -> bool | None: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def headers(self) -> Any: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def correlation_id(self) -> str | None: ...
    async def ack(self, multiple: bool = False) -> None: ...
    async def nack(self, multiple: bool = False, requeue: bool = True) -> None: ...


class Delivery:
    """One delivery as aiormq read it: the body, the tag, the properties a dead letter copies."""

    __slots__ = ("_raw", "body", "delivery_tag", "redelivered")

    def __init__(self, raw: DeliveredMessage) -> None:
        self._raw = raw
        self.body: bytes = raw.body
        self.delivery_tag: int | None = raw.delivery_tag
        self.redelivered: bool | None = raw.redelivered

    @property
    def message_id(self) -> str | None:
        """The publisher's message id, if it set one."""
        return self._raw.header.properties.message_id

    @property
    def headers(self) -> Any:
        """The message's headers (a dict), if any."""
        return self._raw.header.properties.headers

    @property
    def content_type(self) -> str | None:
        """The message's content type, if set."""
        return self._raw.header.properties.content_type

    @property
    def correlation_id(self) -> str | None:
        """The message's correlation id, if set."""
        return self._raw.header.properties.correlation_id

    async def ack(self, multiple: bool = False) -> None:
        """``basic.ack`` this tag (and, with ``multiple``, every outstanding one below it)."""
        assert self.delivery_tag is not None  # consumed with acknowledgements
        await self._raw.channel.basic_ack(self.delivery_tag, multiple=multiple)

    async def nack(self, multiple: bool = False, requeue: bool = True) -> None:
        """``basic.nack`` this tag, returning it to the queue by default."""
        assert self.delivery_tag is not None
        await self._raw.channel.basic_nack(self.delivery_tag, multiple=multiple, requeue=requeue)


async def subscribe(
    channel: AbstractChannel,
    queue: AbstractQueue,
    on_message: Callable[[Delivered], Awaitable[None]],
) -> str:
    """Consume ``queue`` (with acknowledgements) on ``channel``; the consumer tag."""

    async def deliver(raw: DeliveredMessage) -> None:
        await on_message(Delivery(raw))

    underlay = await channel.get_underlay_channel()
    ok = await underlay.basic_consume(queue.name, deliver, no_ack=False)
    if ok.consumer_tag is None:  # pamqp types it optional; the broker always names it
        raise RuntimeError("the broker named no consumer tag")
    return ok.consumer_tag


async def cancel(channel: AbstractChannel, tag: str) -> None:
    """Stop the consumer ``tag`` (deliveries already sent are still handed over)."""
    underlay = await channel.get_underlay_channel()
    await underlay.basic_cancel(tag)
