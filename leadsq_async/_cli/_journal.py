"""The replicas' shared journal (in Redis): which messages' rows left in a call, which were
dead-lettered.

A message comes back redelivered when a worker died holding it or returned it. Looking every
redelivered create up costs a call per row (a create costs a fiftieth of one): after a crash
with hundreds of messages in hand, the lookups would eat the account's budget for seconds.
The journal says which of them may have been applied: the worker records each message's
digest just before the call carrying its row leaves (as the importer's ``RESULTS.sent``
journal does, but shared by every replica through the ``--redis-url`` Redis), so that only
those are looked up; the others were never sent and go as usual. Likewise a message is
recorded as dead-lettered between the broker's confirm of its dead letter and its ack, so a
redelivery does not dead-letter it twice.

A message's identity is its ``message_id`` when the publisher set one, else a hash of its body
(two messages with the same body and no id are taken for the same row).
Entries live in one Redis set per UTC day, kept ``DAYS`` days. When Redis cannot answer, the
journal answers "sent" (look it up: safe) and "not dead-lettered" (publish it again: a dead
letter may repeat, none is lost).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from ._options import UsageError

__all__ = ["DAYS", "Journal", "digest"]

logger = logging.getLogger("leadsq_async.consume")

#: How many days entries are kept: longer than any message waits in a queue to come back.
DAYS = 8
_DAY = 86_400


def digest(body: bytes, message_id: str | None = None) -> str:
    """A message's identity in the journal: 16 hex digits of the SHA-256 of its ``message_id``
    when the publisher set one, else of its body."""
    data = body if not message_id else b"id:" + message_id.encode()
    return hashlib.sha256(data).hexdigest()[:16]


class Journal:
    """The sets ``PREFIX:consume:QUEUE:{sent,dead}:DAY`` on the replicas' Redis."""

    def __init__(self, redis_url: str, prefix: str, queue: str) -> None:
        try:
            import redis
        except ImportError:
            raise UsageError(
                "--redis-url needs the redis package: pip install 'leadsq-async[redis]'"
            ) from None

        self._redis: Any = redis.Redis.from_url(
            redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        self._base = f"{prefix}:consume:{queue}"

    def _key(self, kind: str, day: int) -> str:
        return f"{self._base}:{kind}:{day}"

    def mark(self, kind: str, digests: Iterable[str]) -> None:
        """Record ``digests`` as ``kind`` (``sent`` or ``dead``) now; blocks for one round trip.

        Synchronous on purpose: it runs in the client's ``on_call``, before the call leaves.
        """
        items = list(digests)
        if not items:
            return
        key = self._key(kind, int(time.time() // _DAY))
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.sadd(key, *items)
            pipe.expire(key, DAYS * _DAY)
            pipe.execute()
        except Exception as exc:
            logger.warning("the journal could not record %d %s messages: %r", len(items), kind, exc)

    def seen(self, kind: str, item: str) -> bool | None:
        """Whether ``item`` was recorded as ``kind`` in the last ``DAYS`` days (None: unknown)."""
        today = int(time.time() // _DAY)
        try:
            pipe = self._redis.pipeline(transaction=False)
            for day in range(today - DAYS + 1, today + 1):
                pipe.sismember(self._key(kind, day), item)
            return any(pipe.execute())
        except Exception as exc:
            logger.warning("the journal could not be read: %r", exc)
            return None

    def close(self) -> None:
        """Close the connection."""
        self._redis.close()
