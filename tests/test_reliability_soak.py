"""Fault soak: many rows through the uvicorn-served fake under every fault at once.

CI runs a bounded size (2,000 upserts, 1,000 creates, 1,000 v2 updates); ``SOAK_SCALE=5`` gives
the issue's 10,000 / 5,000 / 5,000. The fake's store is the truth every outcome is checked
against: nothing reported ok is missing or different, nothing exists twice, and only creates
whose answer was lost may end in an unknown state.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from typing import Any

import pytest

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared, FaultPlan

SCALE = float(os.environ.get("SOAK_SCALE", "1"))
UPSERTS = int(2_000 * SCALE)
CREATES = int(1_000 * SCALE)
UPDATES = int(1_000 * SCALE)
#: One update in fifty targets a lead that does not exist (a definite service rejection).
MISSING_EVERY = 50
RATE = lsq.RateLimit(25, 0.25)

# Wanted share of requests hit by each fault. FaultPlan draws one fault per request in the
# order drop_before, rate_limited, system_error, drop_after (first hit wins), so each field is
# raised to give the wanted share after the faults drawn before it.
DROP_BEFORE = 0.05
RATE_LIMITED = 0.05
SYSTEM_ERROR = 0.10
DROP_AFTER = 0.03


def _plan() -> FaultPlan:
    left = 1.0 - DROP_BEFORE
    rate_limited = RATE_LIMITED / left
    left *= 1.0 - rate_limited
    system_error = SYSTEM_ERROR / left
    left *= 1.0 - system_error
    return FaultPlan(
        latency=(0.0, 0.2),
        drop_before=DROP_BEFORE,
        rate_limited=rate_limited,
        rate_limited_as_200=0.5,
        system_error=system_error,
        drop_after=DROP_AFTER / left,
    )


def _operations() -> list[lsq.Operation]:
    """Creates, upserts and v2 updates interleaved, each on its own lead."""
    upserts: list[lsq.Operation] = [
        lsq.UpsertLead(
            {"EmailAddress": f"u{i}@soak.example.com", "FirstName": f"U{i}", "mx_City": f"C{i % 7}"}
        )
        for i in range(UPSERTS)
    ]
    creates: list[lsq.Operation] = [
        lsq.CreateLead({"EmailAddress": f"c{i}@soak.example.com", "LastName": f"L{i}"})
        for i in range(CREATES)
    ]
    updates: list[lsq.Operation] = []
    for i in range(UPDATES):
        email = f"v{i}@soak.example.com" if i % MISSING_EVERY else f"missing{i}@soak.example.com"
        updates.append(lsq.UpdateLead({"EmailAddress": email, "mx_Stage": f"S{i}"}))
    mixed: list[lsq.Operation] = []
    streams = [iter(upserts), iter(creates), iter(updates)]
    while streams:
        for stream in list(streams):
            op = next(stream, None)
            if op is None:
                streams.remove(stream)
            else:
                mixed.append(op)
    return mixed


def _email(op: lsq.Operation) -> str:
    value = op.fields["EmailAddress"]  # type: ignore[union-attr]
    assert isinstance(value, str)
    return value


def _assert_holds(lead: dict[str, object] | None, fields: Any, what: str) -> None:
    assert lead is not None, f"{what}: reported ok but the store does not hold it"
    for name, value in fields.items():
        assert lead.get(name) == value, f"{what}: {name}={lead.get(name)!r}, sent {value!r}"


@pytest.mark.soak
@pytest.mark.timeout(120 + 150 * SCALE)
async def test_fault_soak_nothing_lost_nothing_doubled() -> None:
    """Under every fault at once, every row ends with a true answer checked against the store."""
    fake = FakeLeadSquared(
        DEMO_ACCESS_KEY, DEMO_SECRET_KEY, rate_limit=RATE, faults=_plan(), seed=6
    )
    seeded = [f"v{i}@soak.example.com" for i in range(UPDATES) if i % MISSING_EVERY]
    seeded_ids = {email: fake.store.insert({"EmailAddress": email}) for email in seeded}
    ops = _operations()
    outcomes: list[lsq.Outcome] = []
    started = time.monotonic()
    async with fake.serve() as base_url:
        client = lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            base_url=base_url,
            rate_limit=RATE,
            max_in_flight=16,
            backoff=0.01,
            backoff_max=0.5,
            delivery_timeout=60,
        )

        async def run() -> None:
            async with client:
                async for outcome in client.stream(ops):
                    outcomes.append(outcome)

        await asyncio.wait_for(run(), timeout=60 + 120 * SCALE)
        stats = client.stats()
    duration = time.monotonic() - started

    # Every operation got exactly one outcome, in input order.
    assert [o.operation for o in outcomes] == ops
    kinds: collections.Counter[str] = collections.Counter()
    unknown_creates: list[lsq.Operation] = []
    created_ids: list[str] = []
    store = fake.store
    for outcome in outcomes:
        op, error = outcome.operation, outcome.error
        name = type(op).__name__
        kinds[f"{name}:{'ok' if error is None else type(error).__name__}"] += 1
        if isinstance(op, lsq.CreateLead):
            if error is None:
                assert isinstance(outcome.result, lsq.LeadCreated)
                created_ids.append(outcome.result.lead_id)
                _assert_holds(store.get(outcome.result.lead_id), op.fields, _email(op))
            elif isinstance(error, lsq.OutcomeUnknownError):
                unknown_creates.append(op)
            else:
                # Any other error on a create is a definite "not applied". A service rejection
                # of a create (every email here is new) could only mean it was sent twice.
                assert isinstance(error, (lsq.ServiceError, lsq.RateLimitedError)), error
                assert store.find_by_email(_email(op)) is None, f"{error!r} but it exists"
        elif isinstance(op, lsq.UpsertLead):
            if error is None:
                assert isinstance(outcome.result, lsq.LeadUpserted)
                lead = store.get(outcome.result.lead_id)
                _assert_holds(lead, op.fields, _email(op))
            else:
                assert isinstance(error, (lsq.ServiceError, lsq.RateLimitedError)), error
        else:
            assert isinstance(op, lsq.UpdateLead)
            email = _email(op)
            if email.startswith("missing"):
                assert isinstance(error, lsq.LeadNotFoundError), error
                assert store.find_by_email(email) is None
            elif error is None:
                assert isinstance(outcome.result, lsq.LeadUpdated)
                lead = store.get(seeded_ids[email])
                _assert_holds(lead, op.fields, email)
            else:
                assert isinstance(error, (lsq.ServiceError, lsq.RateLimitedError)), error

    assert len(set(created_ids)) == len(created_ids), "two creates reported the same lead"
    assert store.duplicates() == []
    # Every lead the store holds came from a seed, an upsert, a create reported ok, or a create
    # whose outcome was reported unknown: nothing appeared that the client denied.
    upserted = {_email(op) for op in ops if isinstance(op, lsq.UpsertLead)}
    unknown_emails = {_email(op) for op in unknown_creates}
    created = {str(store.get(i)["EmailAddress"]) for i in created_ids}  # type: ignore[index]
    for lead in store.all():
        email = str(lead["EmailAddress"])
        assert (
            email in seeded_ids
            or email in upserted
            or email in created
            or email in (unknown_emails)
        ), f"{email} exists but no ok or unknown outcome accounts for it"
    applied_unknown = sum(1 for e in unknown_emails if store.find_by_email(e) is not None)
    assert store.count() == len(seeded) + (
        len({e for e in upserted if store.find_by_email(e) is not None})
        + len(created_ids)
        + applied_unknown
    )

    entries = fake.ledger.entries
    faults = collections.Counter(e.fault for e in entries if e.fault)
    window_429 = sum(1 for e in entries if e.rate_limited and e.fault is None)
    for kind in ("drop_before", "system_error", "drop_after", "rate_limited"):
        assert faults[kind], f"no {kind} was injected"
    statuses = collections.Counter(e.status for e in entries if e.fault == "rate_limited")
    assert statuses[200], "rate-limit rejections in the HTTP 200 form were injected"
    assert statuses[429], "rate-limit rejections as HTTP 429 were injected"
    rows = len(ops)
    fault_text = ", ".join(f"{k} {v}" for k, v in sorted(faults.items()))
    outcome_text = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    print(
        f"\nSOAK rows={rows} (upserts {UPSERTS}, creates {CREATES}, v2 updates {UPDATES}) "
        f"calls={len(entries)} faults: {fault_text}, window 429 {window_429} | "
        f"outcomes: {outcome_text} | unknown creates {len(unknown_creates)} "
        f"(applied {applied_unknown}) | retries {stats.retries} 429s {stats.rate_limited} | "
        f"duration {duration:.1f}s"
    )
