"""Helpers for event and telemetry tests: the in-process fake behind a script, on virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

UPSERT = "Lead/Bulk/CreateOrUpdate"
#: ``make_client``'s options here (``client_options``): calls leave at once, resends quickly.
CLIENT: dict[str, Any] = {"linger": 0, "backoff": 0.001}


def rate_limited(calls: int, period: int = 5) -> httpx2.Response:
    """The service's rate-limit refusal naming a budget of ``calls`` per ``period`` s."""
    return httpx2.Response(
        429,
        json={
            "Status": "Error",
            "ExceptionType": "MXAPIRateLimitExceededException",
            "ExceptionMessage": f"You have reached the API calls limit of {calls} in {period} "
            "second(s)",
        },
    )


def unavailable() -> httpx2.Response:
    """A 503 with an HTML body: a system error (resent for updates and upserts)."""
    return httpx2.Response(503, text="<html>Service Unavailable</html>")


class Scripted(httpx2.AsyncBaseTransport):
    """The fake behind a script: the first calls get ``answers``, the rest the fake's own.

    While ``gate`` is set to an unset event, every call waits for it (a call in flight).
    """

    def __init__(self, fake: FakeLeadSquared, *answers: httpx2.Response) -> None:
        self._inner = fake.transport()
        self._answers = list(answers)
        self.gate: asyncio.Event | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Answer from the script, then from the fake."""
        if self.gate is not None:
            await self.gate.wait()
        if self._answers:
            return self._answers.pop(0)
        return await self._inner.handle_async_request(request)


def upserts(n: int, prefix: str = "lead") -> list[lsq.UpsertLead]:
    """``n`` upserts of new leads."""
    return [lsq.UpsertLead({"EmailAddress": f"{prefix}{i}@example.com"}) for i in range(n)]


async def run_all(client: lsq.LeadSquaredClient, ops: list[lsq.UpsertLead]) -> list[Any]:
    """Queue every op before the engine runs (so calls leave full), then wait for all."""
    futures = [await client.submit(op) for op in ops]
    return list(await asyncio.gather(*futures, return_exceptions=True))
