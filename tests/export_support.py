"""What the export tests share: a lead clock, a seeded fake, and the export read out."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 1, 0, 0, 0, tzinfo=UTC)


def at(seconds: float) -> dt.datetime:
    """``seconds`` after T0."""
    return T0 + dt.timedelta(seconds=seconds)


class LeadClock:
    """A hand-driven lead clock: every write the fake applies takes ``now``."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, seconds: float) -> None:
        """Move to ``seconds`` after T0."""
        self.now = at(seconds)


def seeded(counts: dict[int, int], **options: Any) -> tuple[FakeLeadSquared, LeadClock]:
    """A fake (no rate limit, on the running loop's clock) holding ``counts[s]`` leads
    modified ``s`` seconds after T0, named L1, L2, ... in creation order."""
    clock = LeadClock()
    options.setdefault("rate_limit", None)
    fake = FakeLeadSquared(clock=asyncio.get_running_loop().time, now=clock, **options)
    n = 0
    for second, count in sorted(counts.items()):
        clock.at(second)
        for _ in range(count):
            n += 1
            fake.store.insert({"FirstName": f"L{n}", "EmailAddress": f"l{n}@example.com"})
    return fake, clock


async def read_all(leads: lsq.LeadsModified, stop_after: int | None = None) -> list[lsq.Lead]:
    """The leads ``leads`` gives (the first ``stop_after`` only, if given)."""
    out: list[lsq.Lead] = []
    if stop_after == 0:
        return out
    async for lead in leads:
        out.append(lead)
        if stop_after is not None and len(out) >= stop_after:
            break
    return out


def ids(leads: list[lsq.Lead]) -> list[str]:
    """The leads' ids, in the order given."""
    return [lead.lead_id for lead in leads]
