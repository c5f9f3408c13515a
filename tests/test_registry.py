"""The registry: every operation's road comes from its spec module, and a new endpoint is one
spec and its road, carried by the client, batcher and engine as they are."""

from __future__ import annotations

import asyncio
import json
import typing
import uuid
from collections.abc import Iterator, Sequence

import attrs
import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async._api import registry
from leadsq_async._api.operations import Operation
from leadsq_async._api.registry import ENDPOINTS, ROADS, Endpoint, Road, Row, RowOutcome
from leadsq_async._api.spec import check_lead_id, identity

from . import vtime

LEAD_IDS = [str(uuid.UUID(int=n, version=4)) for n in range(1, 8)]
#: At least one operation for each spec its type's road may choose.
SAMPLES: list[Operation] = [
    lsq.CreateLead({"EmailAddress": "a@example.com"}),
    lsq.UpsertLead({"EmailAddress": "a@example.com"}),
    lsq.UpdateLead({"EmailAddress": "a@example.com", "FirstName": "A"}),
    lsq.UpdateLead({"ProspectId": LEAD_IDS[0], "FirstName": "A"}, search_by="ProspectId"),
    lsq.UpdateLeadById(LEAD_IDS[0], {"FirstName": "A"}),
    lsq.UpdateLeadById(LEAD_IDS[0], {"FirstName": "A"}, post_updated_lead=True),
    lsq.UpdateField(LEAD_IDS[0], "mx_Stage", "Won"),
    lsq.GetLead(LEAD_IDS[0]),
    lsq.FindLead(email="a@example.com"),
    lsq.FindLead(phone="9876543210"),
    lsq.PostActivity(event=201, lead_id=LEAD_IDS[0]),
    lsq.PostActivity(event=201, email="a@example.com"),
]


def test_every_operation_type_has_exactly_one_road() -> None:
    """Each operation type of the API has one road, and its rows per call are its spec's."""
    operations = [road.operation for road in ROADS]
    assert sorted(kind.__name__ for kind in operations) == sorted(
        kind.__name__ for kind in typing.get_args(Operation)
    )
    assert len(set(operations)) == len(operations)
    for road in ROADS:
        assert lsq.rows_per_call(road.operation) == road.spec.max_rows


@pytest.mark.parametrize("op", SAMPLES, ids=lambda op: type(op).__name__)
def test_each_road_names_every_spec_its_rows_may_go_by(op: Operation) -> None:
    """The spec an operation is routed to, its row's single-lead road and a lone row's carrier
    are all declared by its road, so that ``ENDPOINTS`` names every spec in use."""
    (road,) = [road for road in ROADS if road.operation is type(op)]
    spec = registry.route(op)
    assert spec in (road.spec, *road.choices)
    row = spec.prepare(op)
    assert row.single is None or row.single in road.singles
    assert spec.carrier([row]) in (spec, *road.singles)
    for declared in (road.spec, *road.choices, *road.singles):
        assert declared.name in ENDPOINTS


def test_a_shared_name_names_the_routed_spec() -> None:
    """``Lead.Update`` names the spec that asks for automations, not the quiet single road."""
    assert ENDPOINTS["Lead.Update"] is registry.route(
        lsq.UpdateLeadById(LEAD_IDS[0], {"FirstName": "A"}, post_updated_lead=True)
    )


def test_a_second_road_for_an_operation_type_is_refused() -> None:
    """One operation type, one road: registering another for it raises."""
    with pytest.raises(ValueError, match="CreateLead already has a road"):
        registry.register(Road(lsq.CreateLead, ENDPOINTS["Lead/Bulk/Update"]))
    assert registry.route(lsq.CreateLead({"EmailAddress": "a@example.com"})).name == (
        "Lead/Bulk/Create"
    )


# -- a toy endpoint: one spec and its road, nothing else ------------------------------------


@attrs.frozen
class TagLead:
    """A toy operation: put a tag on a lead."""

    lead_id: str
    tag: str
    priority: lsq.Priority | None = attrs.field(default=None, kw_only=True)


class BulkTag(Endpoint):
    """A toy bulk API, ``Lead/Bulk/Tag``: one tag, up to three leads a call."""

    name = "Lead/Bulk/Tag"
    max_rows = 3

    def prepare(self, op: TagLead) -> Row:
        lead_id = check_lead_id(op.lead_id)
        return Row(op, (self.name, op.tag), {}, (identity("ProspectId", lead_id),), lead_id)  # type: ignore[arg-type]

    def request(self, rows: Sequence[Row]) -> tuple[dict[str, str], object]:
        return {}, {"Tag": rows[0].group[1], "LeadIds": [row.key_value for row in rows]}  # type: ignore[index]

    def decode(self, rows: Sequence[Row], data: object) -> list[RowOutcome]:
        tagged = set(data["Tagged"])  # type: ignore[index]
        return [
            lsq.FieldUpdated(row.key_value or "", "Tag", True, len(tagged), len(rows))
            if row.key_value in tagged
            else lsq.LeadNotFoundError("no such lead")
            for row in rows
        ]


@pytest.fixture
def toy_road() -> Iterator[Road]:
    """The toy road in the registry for the test, and out of it again after."""
    road = Road(TagLead, BulkTag())
    registry.register(road)
    try:
        yield road
    finally:
        registry.unregister(TagLead)


def test_a_new_endpoint_is_one_spec_and_its_road(toy_road: Road) -> None:
    """Registered, a toy spec's operations are checked, batched by its max_rows and group,
    sent to its path and answered through its decoder, by the client as it is."""
    calls: list[tuple[str, object]] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        calls.append((request.url.path, body))
        ids = body["LeadIds"]
        return httpx2.Response(200, json={"Tagged": ids[:2] if len(calls) == 1 else ids})

    async def main() -> list[object]:
        http = httpx2.AsyncClient(transport=httpx2.MockTransport(handle))
        loop = asyncio.get_running_loop()
        async with lsq.LeadSquaredClient(
            "u$rkey", "secret", base_url="https://api.example", http_client=http, clock=loop.time
        ) as client:
            futures = [await client.submit(TagLead(i, "vip")) for i in LEAD_IDS[:4]]  # type: ignore[arg-type]
            return list(await asyncio.gather(*futures, return_exceptions=True))

    results = vtime.run(main)
    assert [path for path, _ in calls] == ["/v2/LeadManagement.svc/Lead/Bulk/Tag"] * 2
    assert [body["LeadIds"] for _, body in calls] == [LEAD_IDS[:3], LEAD_IDS[3:4]]  # type: ignore[index]
    assert results[:2] == [lsq.FieldUpdated(i, "Tag", True, 2, 3) for i in LEAD_IDS[:2]]
    assert isinstance(results[2], lsq.LeadNotFoundError)
    assert results[3] == lsq.FieldUpdated(LEAD_IDS[3], "Tag", True, 1, 1)
    assert lsq.rows_per_call(TagLead) == 3  # type: ignore[arg-type]
    with pytest.raises(lsq.ValidationError, match="lead_id"):
        lsq.validate(TagLead("not-an-id", "vip"))  # type: ignore[arg-type]


def test_an_unregistered_operation_is_refused() -> None:
    """Without its road, the toy operation is no operation the registry knows."""
    with pytest.raises(lsq.ValidationError, match="not TagLead"):
        lsq.validate(TagLead(LEAD_IDS[0], "vip"))  # type: ignore[arg-type]
    with pytest.raises(lsq.ValidationError, match="not an operation type"):
        lsq.rows_per_call(TagLead)  # type: ignore[arg-type]
    assert "Lead/Bulk/Tag" not in ENDPOINTS
