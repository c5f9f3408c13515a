"""Sending calls: the HTTP request, and the verdict on its answer.

The sender knows nothing of rows waiting, of budgets or of what happens to rows: it is given
an endpoint and the rows of one call, and returns the ``Verdict`` that ``classify`` gives the
answer (or the transport error that stood in for one).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import httpx2

from .._api.registry import Endpoint, Row
from .._api.verdict import Verdict, classify, classify_transport_error
from .._util.json import dumps

__all__ = ["Sender"]


class Sender:
    """Sends calls over HTTP and reads each answer into a verdict."""

    def __init__(
        self,
        *,
        http: httpx2.AsyncClient,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        # Made once: given a dict, httpx2 encodes and lower-cases each header on every call.
        self._headers = httpx2.Headers(headers)
        # Made once: given a float, httpx2 builds a Timeout per request, and checks the float
        # against a runtime Protocol (``SupportsFloat``) there, ~8 us a call on Python 3.11.
        self._timeout = _timeout(timeout)

    @property
    def base_url(self) -> str:
        """The base URL calls go to."""
        return self._base_url

    async def send(
        self,
        endpoint: Endpoint,
        rows: Sequence[Row],
    ) -> tuple[Verdict, int | str]:
        """Send one call; give the verdict on its answer and its HTTP status (or error name)."""
        params, body = endpoint.request(rows)
        content = None if body is None else dumps(body)
        url = self._base_url + endpoint.path
        try:
            response = await self._http.request(
                endpoint.method,
                url,
                params=params or None,
                content=content,
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx2.HTTPError as exc:
            return classify_transport_error(endpoint, exc, url), type(exc).__name__
        status = response.status_code
        verdict = classify(
            endpoint,
            rows,
            status,
            response.headers,
            response.content,
            # Read only where ``classify`` may say it (not on a 2xx answer): httpx2 looks the
            # phrase up through its status-code enum on every read.
            reason="" if 200 <= status < 300 else response.reason_phrase,
            url=url,
        )
        return verdict, status


@functools.lru_cache(maxsize=32)
def _timeout(seconds: float) -> httpx2.Timeout:
    """One ``Timeout`` per value for every client (httpx2 only reads it)."""
    return httpx2.Timeout(seconds)
