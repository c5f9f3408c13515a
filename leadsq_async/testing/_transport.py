"""An in-process ``httpx2`` transport to the fake that turns its deliberate drops into errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx2

from ._wire import Drop

if TYPE_CHECKING:
    from ._wire import ASGIApp

__all__ = ["FakeTransport"]


class FakeTransport(httpx2.AsyncBaseTransport):
    """``httpx2.ASGITransport`` to the fake, turning deliberate drops into transport errors."""

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx2.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` to the app; a drop surfaces as the error a real socket gives."""
        try:
            return await self._inner.handle_async_request(request)
        except Drop as drop:
            if drop.kind == "drop_before":
                raise httpx2.ConnectError(
                    "fake LeadSquared dropped the connection before the request", request=request
                ) from None
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a complete response", request=request
            ) from None

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()
