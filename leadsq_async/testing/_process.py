"""The fake served in a process of its own, and its ledger read over HTTP from outside."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx2

from ._endpoints import DEMO_ACCESS_KEY, DEMO_SECRET_KEY

__all__ = ["remote_lead", "remote_leads", "remote_reset", "remote_summary", "serve_subprocess"]

_HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}


@contextlib.contextmanager
def serve_subprocess(
    rate: str = "25/5", *options: str, stop_timeout: float = 10.0
) -> Iterator[str]:
    """Run ``python -m leadsq_async.testing`` on a free loopback port; yield its base URL.

    ``rate`` is ``"CALLS/SECONDS"`` or ``"none"``; ``options`` are more of its command-line
    options (``"--system-error", "0.1"``). The process gets SIGTERM on exit, SIGKILL if it
    has not stopped within ``stop_timeout`` seconds. The demo keys are accepted.
    """
    argv = [sys.executable, "-m", "leadsq_async.testing", "--port", "0", "--rate", rate, *options]
    with url_of_process(argv, "the fake LeadSquared", stop_timeout) as url:
        yield url


@contextlib.contextmanager
def url_of_process(argv: list[str], what: str, stop_timeout: float = 10.0) -> Iterator[str]:
    """Run ``argv``, a server that prints its base URL as its first line; yield that URL.

    ``what`` names the server in the error raised when the first line is not a loopback URL.
    The process gets SIGTERM on exit, SIGKILL if it has not stopped within ``stop_timeout``.
    """
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"{what} did not start: {url!r}")
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def remote_summary(url: str, window: float | None = None) -> dict[str, Any]:
    """``FakeLeadSquared.summary()`` of the fake at ``url`` (calls, 429s, most in a window)."""
    params = {} if window is None else {"window": window}
    response = httpx2.get(f"{url}/_fake/summary", params=params, headers=_HEADERS)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def remote_reset(url: str) -> None:
    """Forget every lead and ledger entry of the fake at ``url``."""
    httpx2.post(f"{url}/_fake/reset", headers=_HEADERS).raise_for_status()


def remote_leads(url: str) -> list[dict[str, Any]]:
    """Every lead the fake at ``url`` holds, in creation order (``GET /_fake/leads``)."""
    response = httpx2.get(f"{url}/_fake/leads", headers=_HEADERS)
    response.raise_for_status()
    leads: list[dict[str, Any]] = response.json()["leads"]
    return leads


def remote_lead(url: str, lead_id: str) -> dict[str, Any] | None:
    """The lead with this id at the fake at ``url``, or None (``GET /_fake/leads/{id}``)."""
    response = httpx2.get(f"{url}/_fake/leads/{lead_id}", headers=_HEADERS)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    lead: dict[str, Any] = response.json()
    return lead
