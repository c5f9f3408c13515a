"""What an idle account costs a full garbage collection: the GC-tracked objects its client keeps.

A process serving a thousand accounts walks every live client's objects at each full collection,
so an idle client (one lookup made, then nothing) must keep few: no task, no closure per account,
no container made for work it is not doing. Counted, not timed.
"""

from __future__ import annotations

import asyncio
import gc

import httpx2
import pytest

import leadsq_async as lsq

pytestmark = pytest.mark.vtime

#: Idle clients counted; the bound is just above the 36 objects each keeps (93 before).
CLIENTS = 50
MAX_OBJECTS_PER_CLIENT = 40


def _no_lead(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, json=[])


async def _idle_accounts(http: httpx2.AsyncClient, count: int) -> lsq.Accounts:
    """``count`` accounts, each after one lookup, every call ended."""
    clock = asyncio.get_running_loop().time
    accounts = lsq.Accounts(http_client=http, idle_timeout=None, clock=clock)
    clients = [accounts.client(f"access-{n}", f"secret-{n}") for n in range(count)]
    await asyncio.gather(
        *(c.find_lead(email=f"nobody{n}@example.com") for n, c in enumerate(clients))
    )
    await asyncio.sleep(1.0)
    return accounts


async def test_an_idle_client_keeps_few_gc_tracked_objects() -> None:
    """Each idle account's client keeps at most MAX_OBJECTS_PER_CLIENT GC-tracked objects."""
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(_no_lead)) as http:
        await (await _idle_accounts(http, 1)).aclose()  # what the first use makes once
        gc.collect()
        before = len(gc.get_objects())
        accounts = await _idle_accounts(http, CLIENTS)
        gc.collect()
        per_client = (len(gc.get_objects()) - before) / CLIENTS
        await accounts.aclose()
    assert per_client <= MAX_OBJECTS_PER_CLIENT, f"{per_client:.1f} objects per idle client"
