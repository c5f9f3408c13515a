"""Quick start: 2,000 single-lead creates against a local fake LeadSquared, batched.

Run with ``uv run python examples/quickstart.py``. No account needed: the fake service is
served with uvicorn on 127.0.0.1 with LeadSquared's default limit (25 calls in any 5 s).
"""

from __future__ import annotations

import asyncio
import time

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

ROWS = 2000


async def main() -> None:
    """Serve the fake, create ROWS leads one call each, and print what went over the wire."""
    fake = FakeLeadSquared()
    async with (
        fake.serve() as base_url,
        lsq.LeadSquaredClient(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=base_url) as client,
    ):
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                client.create_lead({"EmailAddress": f"lead{i}@example.com", "FirstName": "Ada"})
                for i in range(ROWS)
            ),
            return_exceptions=True,
        )
        elapsed = time.perf_counter() - started
        stats = client.stats()
    created = sum(isinstance(r, lsq.LeadCreated) for r in results)
    ceiling = fake.rate_limit.calls / fake.rate_limit.period * 50  # type: ignore[union-attr]
    print(f"created {created} of {ROWS} leads in {elapsed:.1f}s")
    print(f"{stats.calls} calls, {stats.mean_rows_per_call:.1f} rows per call")
    print(f"{created / elapsed:.0f} rows/s = {created / elapsed / ceiling:.2f} of the ceiling")
    print(f"rate-limit rejections at the service: {fake.ledger.rate_limited()}")
    print(f"most calls in any 5 s window: {fake.ledger.max_calls_in_window(5.0)} (limit 25)")


if __name__ == "__main__":
    asyncio.run(main())
