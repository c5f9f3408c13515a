"""Serving the fake over real HTTP with uvicorn (in the running loop or in a thread)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import TYPE_CHECKING

from ._wire import Drop

try:
    import uvicorn
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ModuleNotFoundError(
        f"serving the fake LeadSquared over HTTP needs uvicorn ({exc}): "
        "pip install 'leadsq-async[fake]'",
        name="uvicorn",
    ) from exc

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Generator, Iterator

    from ._wire import ASGIApp

__all__ = ["serve", "serve_in_thread"]

_START_TIMEOUT = 10.0


class _QuietDrops(logging.Filter):
    """Hide uvicorn's error log for the connections the fake drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        return not (exc_info and isinstance(exc_info[1], Drop))


_FILTER = _QuietDrops()


def _quiet_uvicorn() -> None:
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its owner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
    # TCP, and without it every answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def serve(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Run uvicorn on ``host:port`` (0: a free port) in this loop; yield the base URL."""
    _quiet_uvicorn()
    sock = _bind(host, port)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="h11",
        ws="none",
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="fake-leadsquared-uvicorn")
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_TIMEOUT
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("the fake LeadSquared server stopped during startup")
            if loop.time() > deadline:
                raise RuntimeError("the fake LeadSquared server did not start in time")
            await asyncio.sleep(0.002)
        yield _url(sock)
    finally:
        server.should_exit = True
        try:
            await task
        finally:
            sock.close()


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run uvicorn in a daemon thread with its own event loop; yield the base URL."""
    ready = threading.Event()
    url: list[str] = []
    errors: list[BaseException] = []
    control: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        stop = asyncio.Event()
        control.append((asyncio.get_running_loop(), stop))
        async with serve(app, host, port) as base_url:
            url.append(base_url)
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the caller's thread
            errors.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="fake-leadsquared", daemon=True)
    thread.start()
    ready.wait(_START_TIMEOUT)
    try:
        if not url:
            raise RuntimeError("the fake LeadSquared server did not start") from (
                errors[0] if errors else None
            )
        yield url[0]
    finally:
        if control:
            loop, stop = control[0]
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stop.set)
        thread.join(_START_TIMEOUT)
    if errors:
        raise RuntimeError("the fake LeadSquared server failed") from errors[0]
