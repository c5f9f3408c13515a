"""``Accounts`` with ``redis_url``: each account's budgets under its own keys, one Redis client."""

from __future__ import annotations

import hashlib

import httpx2
import redis.asyncio as aioredis

import leadsq_async as lsq
from leadsq_async.testing import FakeAccounts, FakeLeadSquared

from .redis_support import REDIS_URL, fresh_prefix

HOST = "api-in21.leadsquared.com"


async def test_each_account_keeps_its_budgets_under_its_own_keys_on_one_redis_client() -> None:
    """Two accounts share one Redis client; each one's grants go under its access key's digest."""
    keys = [(f"u$r-redis-{n}", f"secret-{n}") for n in range(2)]
    fakes = FakeAccounts(FakeLeadSquared(access_key=a, secret_key=s) for a, s in keys)
    with fresh_prefix() as prefix:
        async with httpx2.AsyncClient(transport=fakes.transport()) as http:
            async with lsq.Accounts(
                http_client=http, redis_url=REDIS_URL, redis_prefix=prefix, linger=0.001
            ) as accounts:
                clients = [accounts.client(a, s, host=HOST) for a, s in keys]
                for n, client in enumerate(clients):
                    await client.create_lead({"EmailAddress": f"r{n}@example.com"})
                limiters = [client.limiter for client in clients]
                assert all(isinstance(limiter, lsq.RedisLimiter) for limiter in limiters)
                shared = limiters[0]._store.redis
                assert limiters[1]._store.redis is shared
            assert all(client.closed for client in clients)
        raw = aioredis.Redis.from_url(REDIS_URL)
        try:
            for access, _ in keys:
                digest = hashlib.sha256(access.encode()).hexdigest()[:24]
                assert await raw.exists(f"{prefix}:{{{digest}}}:general")
        finally:
            await raw.aclose()
