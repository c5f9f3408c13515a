"""Sending calls: grants from the limiters, the HTTP request, and the verdict on its answer.

The sender knows nothing of rows waiting or of what happens to them: it is given an endpoint
and the rows of one call, waits for nothing but its grant, and returns the ``Verdict`` that
``classify`` gives the answer (or the transport error that stood in for one).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence

import httpx

from ._endpoints import Endpoint, Row
from ._limits import Limiter
from ._verdict import Verdict, classify, classify_transport_error

__all__ = ["Sender"]

logger = logging.getLogger("leadsq_async")


class Sender:
    """Gets grants (limiters and an in-flight slot) and sends calls over HTTP."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        limiter: Limiter,
        bulk_limiter: Limiter | None,
        max_in_flight: int,
        clock: Callable[[], float],
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._headers = headers
        self._timeout = timeout
        self.limiter = limiter
        self.bulk_limiter = bulk_limiter
        self._slots = asyncio.Semaphore(max_in_flight)
        self._clock = clock

    async def grant(self, bulk: bool) -> tuple[bool, float]:
        """Wait for an in-flight slot and a grant.

        Gives whether bulk calls may use the grant, and the seconds spent waiting for it.
        """
        await self._slots.acquire()
        started = self._clock()
        try:
            await self.limiter.acquire()
            if bulk and self.bulk_limiter is not None:
                await self.bulk_limiter.acquire()
        except BaseException:
            self._slots.release()
            raise
        return bulk or self.bulk_limiter is None, self._clock() - started

    def release(self) -> None:
        """Give back the in-flight slot of a grant (its call ended, or was never made)."""
        self._slots.release()

    async def send(self, endpoint: Endpoint, rows: Sequence[Row]) -> tuple[Verdict, int | str]:
        """Send one call; give the verdict on its answer and its HTTP status (or error name)."""
        params, body = endpoint.request(rows)
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            response = await self._http.post(
                self._base_url + endpoint.path,
                params=params or None,
                content=content,
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            return classify_transport_error(endpoint, exc), type(exc).__name__
        bulk = self.bulk_limiter.rate if self.bulk_limiter is not None else None
        verdict = classify(
            endpoint,
            rows,
            response.status_code,
            response.headers,
            response.content,
            general=self.limiter.rate,
            bulk=bulk,
            reason=response.reason_phrase,
        )
        return verdict, response.status_code
