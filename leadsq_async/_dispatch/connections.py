"""The client's own HTTP transport: one connection per call in flight, each with a pool of one.

httpx's shared pool (httpcore 1.0) hands the same idle keep-alive connection to every request
that starts before the first of them has begun on it; all but one then fail over to another
pass of the pool, and each pass polls every idle socket. The client starts calls in bursts
(calls end together, new ones leave together), so most of its requests paid two or three
passes: measured, the pool cost a call about twice what it cost raw httpx2. Here each request
takes a free slot (an ``AsyncHTTPTransport`` limited to one connection) and keeps it until its
response is closed: one request per pool, one pass per request.

Only for the ``AsyncClient`` the client builds itself, and not when proxies come from the
environment (httpx2 honours those only without a custom transport): ``http_client=`` is used
as given.
"""

from __future__ import annotations

import asyncio
import collections
import urllib.request
from collections.abc import AsyncIterator, Callable

import httpx2

__all__ = ["ConnectionSlots", "own_http_client"]


class _Released(httpx2.AsyncByteStream):
    """A response body that gives its slot back once it is closed (exactly once)."""

    def __init__(self, stream: httpx2.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


class ConnectionSlots(httpx2.AsyncBaseTransport):
    """``count`` single-connection transports; a request waits, first come first, for one."""

    def __init__(self, count: int, *, verify: bool = True) -> None:
        limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
        # One TLS context for all: each would otherwise load the CA bundle again.
        context = httpx2.create_ssl_context(verify=verify)
        self._slots = [
            httpx2.AsyncHTTPTransport(verify=context, limits=limits) for _ in range(count)
        ]
        self._free = list(self._slots)
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def free(self) -> int:
        """Slots no request holds now."""
        return len(self._free)

    async def _take(self) -> httpx2.AsyncHTTPTransport:
        while not self._free:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif not waiter.cancelled():
                    self._wake()  # it was woken for a slot it will not take: pass it on
                raise
        return self._free.pop()  # the most recent: its connection is the warmest

    def _give(self, slot: httpx2.AsyncHTTPTransport) -> None:
        self._free.append(slot)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` on a free slot, held until its response is closed."""
        slot = await self._take()
        try:
            response = await slot.handle_async_request(request)
        except BaseException:
            self._give(slot)
            raise
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        response.stream = _Released(response.stream, lambda: self._give(slot))
        return response

    async def aclose(self) -> None:
        """Close every slot's connection."""
        for slot in self._slots:
            await slot.aclose()


def own_http_client(max_in_flight: int, timeout: float) -> httpx2.AsyncClient:
    """The ``AsyncClient`` the client makes for itself: one slot per call in flight."""
    if urllib.request.getproxies():  # proxies from the environment: httpx2's own pool honours them
        limits = httpx2.Limits(
            max_connections=max_in_flight, max_keepalive_connections=max_in_flight
        )
        return httpx2.AsyncClient(timeout=timeout, limits=limits)
    return httpx2.AsyncClient(timeout=timeout, transport=ConnectionSlots(max_in_flight))
