"""The ``AsyncClient`` the client makes for itself when no ``http_client=`` is given.

httpx2's own pool, sized to the calls in flight. httpcore 1.0's pool handed one idle
connection to every request started in the same instant (1.75 extra pool passes per request
in the client's bursts), which a transport of single-connection slots used to work around;
httpcore2's pool reserves the connection it assigns (0 extra passes, measured), so the slots
are gone and proxies from the environment work as httpx2 makes them work (``trust_env``).
"""

from __future__ import annotations

import httpx2

__all__ = ["own_http_client"]


def own_http_client(max_in_flight: int, timeout: float) -> httpx2.AsyncClient:
    """httpx2's pool with a connection (kept alive) for each call in flight."""
    limits = httpx2.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
    return httpx2.AsyncClient(timeout=timeout, limits=limits)
