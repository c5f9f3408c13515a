"""The fake LeadSquared served by uvicorn in a separate process, so it does not share a core."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx

from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY

HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}


@contextlib.contextmanager
def fake_server(rate: str) -> Iterator[str]:
    """Start ``python -m leadsq_async.testing`` with ``rate`` ("25/5" or "none"); yield its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "leadsq_async.testing", "--port", "0", "--rate", rate],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the fake server did not start: {url!r}")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def summary(url: str, window: float) -> dict[str, Any]:
    """The fake's ledger summary (calls, 429s, most calls in any ``window``)."""
    response = httpx.get(f"{url}/_fake/summary", params={"window": window}, headers=HEADERS)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def reset(url: str) -> None:
    """Forget every lead and ledger entry."""
    httpx.post(f"{url}/_fake/reset", headers=HEADERS).raise_for_status()
