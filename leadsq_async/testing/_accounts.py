"""Several fake accounts behind one host: each request goes to the account its keys name."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import httpx2

from ._app import FakeLeadSquared
from ._transport import FakeTransport
from ._wire import Receive, Scope, Send, envelope, read_query, send_json

__all__ = ["FakeAccounts"]


def _access_key(scope: Scope) -> str | None:
    """The access key a request carries (header first, then the query string)."""
    for name, value in scope["headers"]:
        if name.lower() == b"x-lsq-accesskey":
            return bytes(value).decode(errors="replace")
    return read_query(scope).get("accesskey")


class FakeAccounts:
    """One host serving several ``FakeLeadSquared`` accounts, told apart by access key.

    Each account keeps its own leads, ledger and budgets (give each fake its own
    ``access_key`` and ``secret_key``); a request whose access key no account has is answered
    401, as the service does. Use it like a fake: ``transport()``, ``serve()``.
    """

    def __init__(self, fakes: Iterable[FakeLeadSquared] = ()) -> None:
        self._fakes: dict[str, FakeLeadSquared] = {}
        for fake in fakes:
            self.add(fake)

    def add(self, fake: FakeLeadSquared) -> FakeLeadSquared:
        """Serve ``fake`` too (its access key must be new); give it back."""
        if fake.access_key in self._fakes:
            raise ValueError("an account with this access key is served already")
        self._fakes[fake.access_key] = fake
        return fake

    def __getitem__(self, access_key: str) -> FakeLeadSquared:
        """The account of ``access_key``."""
        return self._fakes[access_key]

    def __iter__(self) -> Iterator[FakeLeadSquared]:
        """Every account served."""
        return iter(list(self._fakes.values()))

    def __len__(self) -> int:
        """How many accounts are served."""
        return len(self._fakes)

    def __repr__(self) -> str:
        return f"FakeAccounts(accounts={len(self._fakes)})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand an HTTP request to its account's fake (lifespan to none: nothing to start)."""
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        key = _access_key(scope)
        fake = self._fakes.get(key) if key is not None else None
        if fake is None:
            await send_json(send, 401, envelope("MXUnAuthorizedAccessException", "bad keys"))
            return
        await fake(scope, receive, send)

    def transport(self) -> httpx2.AsyncBaseTransport:
        """An in-process ``httpx2`` transport to every account (no sockets)."""
        return FakeTransport(self)

    def serve(
        self, host: str = "127.0.0.1", port: int = 0
    ) -> contextlib.AbstractAsyncContextManager[str]:
        """Serve every account over HTTP with uvicorn in the running loop; yields the base URL."""
        from ._serve import serve

        return serve(self, host, port)
