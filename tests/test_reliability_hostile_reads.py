"""Hostile answers to lookups and activities: every caller gets a true answer, nothing escapes.

Like ``test_reliability_hostile`` for the lead writes, on virtual time: hypothesis answers
each call with roughly the promised shape, every part of it wrong (types, row numbers,
ids in another case or unknown, missing or extra entries), or with any status and junk.
A lookup's caller gets its own ``Lead``, None or an error; an activity's caller its id or
an error, and an activity that may have been applied is never sent twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import leadsq_async as lsq

from . import vtime
from .test_reliability_hostile import intish, junk

IDS = [str(uuid.UUID(int=n, version=4)) for n in (1, 2, 3)]
KINDS = ["by_ids", "by_email", "activities"]
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "60"))


def operations(kind: str) -> list[lsq.Operation]:
    """The rows one hostile call carries."""
    if kind == "by_ids":
        return [lsq.GetLead(i) for i in IDS]
    if kind == "by_email":
        return [lsq.FindLead(email="a@example.com")]
    return [lsq.PostActivity(lead_id=i, event=201) for i in IDS]


def _ids() -> st.SearchStrategy[object]:
    return st.one_of(
        st.sampled_from(IDS),
        st.sampled_from([i.upper() for i in IDS]),
        st.sampled_from([f" {i} " for i in IDS]),
        st.just(str(uuid.UUID(int=9, version=4))),
        junk,
    )


def _lead() -> st.SearchStrategy[object]:
    return st.one_of(
        st.fixed_dictionaries({"ProspectID": _ids()}, optional={"FirstName": junk}),
        st.fixed_dictionaries({"ProspectId": _ids(), "mx_X": junk}),
        junk,
    )


def shaped(kind: str) -> st.SearchStrategy[object]:
    """A body roughly as ``kind``'s endpoint promises it, every part of it wrong."""
    if kind == "by_ids":
        return st.fixed_dictionaries(
            {}, optional={"RecordCount": intish, "Leads": st.lists(_lead(), max_size=5) | junk}
        )
    if kind == "by_email":
        return st.lists(_lead(), max_size=3) | junk
    row = st.fixed_dictionaries(
        {},
        optional={
            "RowNumber": intish,
            "ProspectActivityId": junk | st.just(str(uuid.uuid4())),
            "ExceptionType": junk | st.just("MXInvalidEntityException"),
            "ErrorMessage": junk,
        },
    )
    return st.fixed_dictionaries({}, optional={"Response": st.lists(row, max_size=5) | junk})


@st.composite
def answers(draw: st.DrawFn, kind: str) -> tuple[int, bytes]:
    """A status and a body."""
    status = draw(st.sampled_from([200, 200, 200, 200, 400, 429, 500, 502, 503]))
    body = draw(st.one_of(shaped(kind), junk))
    raw = json.dumps(body).encode() if draw(st.booleans()) or status == 200 else b"<html>"
    return status, raw


def _run(kind: str, status: int, body: bytes) -> None:
    async def main() -> None:
        requests = 0

        def handler(request: httpx2.Request) -> httpx2.Response:
            nonlocal requests
            requests += 1
            return httpx2.Response(status, content=body)

        loop = asyncio.get_running_loop()
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
        client = lsq.LeadSquaredClient(
            "access",
            "secret",
            base_url="https://api-in21.leadsquared.com",
            http_client=http,
            rate_limit=lsq.RateLimit(10**6, 0.05),
            linger=0,
            max_retries=1,
            backoff=0.001,
            delivery_timeout=5,
            clock=loop.time,
        )
        try:
            futures = [await client.submit(op) for op in operations(kind)]
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
        finally:
            await client.aclose(timeout=1)
            await http.aclose()
        for op, outcome in zip(operations(kind), outcomes, strict=True):
            if isinstance(outcome, lsq.LeadSquaredError):
                continue
            if kind == "activities":
                assert isinstance(outcome, lsq.ActivityPosted), repr(outcome)
                continue
            assert outcome is None or isinstance(outcome, lsq.Lead), repr(outcome)
            if isinstance(op, lsq.GetLead) and outcome is not None:
                assert outcome.lead_id == op.lead_id  # a caller never gets another lead
        if kind == "activities" and status not in (400, 429):
            assert requests == 1, f"an activity call was sent {requests} times"

    vtime.run(main)


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_hostile_answers_to_lookups_and_activities_end_every_row(
    kind: str, data: st.DataObject
) -> None:
    """Any answer to a lookup or an activity call: each caller its own true answer."""
    status, body = data.draw(answers(kind), label="answer")
    _run(kind, status, body)
