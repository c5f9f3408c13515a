"""The bad input catalogue: every malformed operation a user could pass, in one table.

Each row is refused with ``ValidationError`` at the call (``submit`` and the convenience
method), while valid rows of the same endpoint, submitted around it, share one call and land.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeLeadSquared

from .conftest import MakeClient

GUID = str(uuid.UUID(int=7, version=4))
CFS = lsq.CustomFieldSet
BIG = 32_001  # one past the longest value the client accepts


def C(**fields: Any) -> lsq.CreateLead:
    """A create carrying ``fields`` beside a valid identity."""
    return lsq.CreateLead({"FirstName": "Ok", **fields})


def U(**fields: Any) -> lsq.UpsertLead:
    """An upsert carrying ``fields`` beside a valid identity."""
    return lsq.UpsertLead({"EmailAddress": "bad@example.com", **fields})


class Weird:
    """An object no field can hold."""


# id, the bad operation (anything a user might pass to submit)
CATALOGUE: list[Any] = [
    # wrong types
    pytest.param(lsq.CreateLead([("FirstName", "A")]), id="fields-list"),  # type: ignore[arg-type]
    pytest.param(lsq.CreateLead("FirstName=A"), id="fields-str"),  # type: ignore[arg-type]
    pytest.param(lsq.CreateLead(None), id="fields-none"),  # type: ignore[arg-type]
    pytest.param(lsq.UpsertLead(["EmailAddress"]), id="upsert-fields-list"),  # type: ignore[arg-type]
    pytest.param(lsq.UpdateLeadById(42, {"mx_A": "x"}), id="lead-id-int"),  # type: ignore[arg-type]
    pytest.param(lsq.UpdateLeadById(None, {"mx_A": "x"}), id="lead-id-none"),  # type: ignore[arg-type]
    pytest.param(lsq.UpdateLeadById(True, {"mx_A": "x"}), id="lead-id-bool"),  # type: ignore[arg-type]
    pytest.param(lsq.UpdateField(uuid.UUID(GUID), "mx_A", "x"), id="lead-id-uuid-object"),  # type: ignore[arg-type]
    pytest.param(lsq.UpdateField(GUID, 7, "x"), id="attribute-int"),  # type: ignore[arg-type]
    pytest.param(lsq.UpdateField(GUID, None, "x"), id="attribute-none"),  # type: ignore[arg-type]
    pytest.param(lsq.UpdateField(GUID, "mx_A", "x", lead_type=1), id="lead-type-int"),  # type: ignore[arg-type]
    pytest.param(lsq.UpsertLead({"EmailAddress": "a@b.c"}, 5), id="upsert-search-by-int"),  # type: ignore[arg-type]
    pytest.param(lsq.UpdateLead({"EmailAddress": "a@b.c"}, 5), id="update-search-by-int"),  # type: ignore[arg-type]
    pytest.param(lsq.UpdateLead({"EmailAddress": "a@b.c"}, None), id="update-search-by-none"),  # type: ignore[arg-type]
    pytest.param(
        lsq.UpdateLeadById(GUID, {"mx_A": "x"}, "false"),  # type: ignore[arg-type]
        id="post-updated-lead-str",
    ),
    pytest.param({"FirstName": "A"}, id="operation-dict"),
    pytest.param(None, id="operation-none"),
    pytest.param(lsq.LeadCreated(GUID), id="operation-result"),
    # values no field can hold
    pytest.param(C(mx_A="x" * BIG), id="string-one-too-long"),
    pytest.param(C(mx_A="x" * 10_000_000), id="string-10-MB"),
    pytest.param(C(mx_A=float("nan")), id="float-nan"),
    pytest.param(C(mx_A=float("inf")), id="float-inf"),
    pytest.param(C(mx_A=float("-inf")), id="float-minus-inf"),
    pytest.param(C(mx_A=Decimal("NaN")), id="decimal-nan"),
    pytest.param(C(mx_A=Decimal("sNaN")), id="decimal-snan"),
    pytest.param(C(mx_A=Decimal("-Infinity")), id="decimal-minus-inf"),
    pytest.param(C(mx_A=10**5000), id="int-5000-digits"),
    pytest.param(C(mx_A={"nested": {"deeper": "x"}}), id="nested-dict-in-dict"),
    pytest.param(C(mx_A=["x"]), id="list-value"),
    pytest.param(C(mx_A={"x"}), id="set-value"),
    pytest.param(C(mx_A=("x",)), id="tuple-value"),
    pytest.param(C(mx_A=b"x"), id="bytes-value"),
    pytest.param(C(mx_A=bytearray(b"x")), id="bytearray-value"),
    pytest.param(C(mx_A=1j), id="complex-value"),
    pytest.param(C(mx_A=Weird()), id="object-value"),
    pytest.param(C(mx_A=print), id="function-value"),
    pytest.param(C(mx_A=dt.datetime(2024, 1, 1, 12, 0)), id="naive-datetime"),
    pytest.param(C(mx_A="bad \ud800 text"), id="lone-surrogate-value"),
    pytest.param(lsq.CreateLead({"FirstName": "A", "mx_\udfff": "x"}), id="lone-surrogate-name"),
    pytest.param(lsq.CreateLead({"FirstName": "A", "x" * BIG: "x"}), id="name-too-long"),
    pytest.param(lsq.UpdateField(GUID, "mx_A", "bad \ud800"), id="lone-surrogate-field-value"),
    pytest.param(
        lsq.UpdateField(GUID, "mx_\ud800", "x"),
        id="lone-surrogate-attribute",
    ),
    pytest.param(
        lsq.UpdateField(GUID, "mx_A", "x", lead_type="OT_\ud800"),
        id="lone-surrogate-lead-type",
    ),
    pytest.param(lsq.UpdateField(GUID, "mx_A", float("nan")), id="update-field-nan"),
    pytest.param(lsq.UpdateField(GUID, "mx_A", {"a": 1}), id="update-field-dict"),
    # shapes
    pytest.param(
        lsq.CreateLead({"FirstName": "A", **{f"mx_F{i}": "x" for i in range(10_000)}}),
        id="10000-fields",
    ),
    pytest.param(lsq.CreateLead({}), id="create-empty"),
    pytest.param(lsq.UpsertLead({}), id="upsert-empty"),
    pytest.param(lsq.UpdateLeadById(GUID, {}), id="update-by-id-empty"),
    pytest.param(lsq.CreateLead({"mx_City": "Pune"}), id="create-no-identity"),
    pytest.param(lsq.CreateLead({"EmailAddress": "   "}), id="create-blank-identity"),
    pytest.param(lsq.CreateLead({"": "x", "FirstName": "A"}), id="name-empty"),
    pytest.param(lsq.CreateLead({"  ": "x", "FirstName": "A"}), id="name-blank"),
    pytest.param(lsq.CreateLead({1: "x", "FirstName": "A"}), id="name-int"),  # type: ignore[dict-item]
    pytest.param(lsq.CreateLead({"FirstName": "A", "firstname": "B"}), id="name-repeated-in-case"),
    pytest.param(U(SearchBy="EmailAddress"), id="reserved-searchby"),
    pytest.param(C(searchby="EmailAddress"), id="reserved-searchby-lowercase"),
    pytest.param(lsq.UpdateLeadById(GUID, {"ProspectId": GUID}), id="reserved-prospectid"),
    pytest.param(C(mx_KYC=CFS(fields={"Inner": CFS(fields={"x": "y"})})), id="nested-field-set"),
    pytest.param(C(mx_KYC=CFS(fields={"Doc": float("nan")})), id="field-set-nan"),
    pytest.param(C(mx_KYC=CFS(fields=["Doc"])), id="field-set-fields-list"),  # type: ignore[arg-type]
    pytest.param(C(mx_KYC=CFS(value=float("inf"))), id="field-set-value-inf"),  # type: ignore[arg-type]
    pytest.param(lsq.UpdateField(GUID, "mx_KYC", CFS(value="x")), id="update-field-field-set"),
    # identities
    pytest.param(lsq.UpdateLeadById("not-a-guid", {"mx_A": "x"}), id="lead-id-not-guid"),
    pytest.param(lsq.UpdateLeadById("12345", {"mx_A": "x"}), id="lead-id-number-string"),
    pytest.param(lsq.UpdateLeadById(GUID + "x", {"mx_A": "x"}), id="lead-id-guid-plus-junk"),
    pytest.param(lsq.UpdateLeadById("", {"mx_A": "x"}), id="lead-id-empty"),
    pytest.param(lsq.UpdateField("not-a-guid", "mx_A", "x"), id="update-field-id-not-guid"),
    pytest.param(
        lsq.UpdateLeadById("x", {"mx_A": "x"}, post_updated_lead=True), id="lead-update-not-guid"
    ),
    pytest.param(
        lsq.UpdateLead({"ProspectId": "not-a-guid", "mx_A": "x"}, "ProspectId"),
        id="search-by-prospectid-not-guid",
    ),
    pytest.param(lsq.UpdateLead({"FirstName": "A"}), id="update-search-key-missing"),
    pytest.param(lsq.UpdateLead({"EmailAddress": " ", "mx_A": "x"}), id="update-search-key-blank"),
    pytest.param(lsq.UpsertLead({"FirstName": "A"}), id="upsert-no-key"),
    pytest.param(
        lsq.UpsertLead({"EmailAddress": "a@b.c"}, "mx_Key"), id="upsert-search-key-missing"
    ),
    pytest.param(lsq.UpsertLead({"EmailAddress": "a@b.c"}, ""), id="upsert-search-by-empty"),
    pytest.param(
        lsq.UpdateLead({"LeadId": GUID, "mx_A": "x"}, "LeadId"), id="update-search-by-alias"
    ),
]


def _convenience(client: lsq.LeadSquaredClient, op: Any) -> Awaitable[Any] | None:
    """The convenience method call equivalent to ``op`` (None when there is none)."""
    if isinstance(op, lsq.CreateLead):
        return client.create_lead(op.fields)  # type: ignore[arg-type]
    if isinstance(op, lsq.UpsertLead):
        return client.upsert_lead(op.fields, search_by=op.search_by)  # type: ignore[arg-type]
    if isinstance(op, lsq.UpdateLead):
        return client.update_lead(op.fields, search_by=op.search_by)  # type: ignore[arg-type]
    if isinstance(op, lsq.UpdateLeadById):
        return client.update_lead_by_id(
            op.lead_id,
            op.fields,  # type: ignore[arg-type]
            post_updated_lead=op.post_updated_lead,
        )
    if isinstance(op, lsq.UpdateField):
        return client.update_field(op.lead_id, op.attribute, op.value, lead_type=op.lead_type)
    return None


def _companions(op: Any, lead_ids: list[str]) -> list[lsq.Operation]:
    """Two valid operations for the endpoint ``op`` would have used."""
    if isinstance(op, lsq.UpsertLead):
        return [lsq.UpsertLead({"EmailAddress": f"ok{i}@example.com"}) for i in range(2)]
    if isinstance(op, lsq.UpdateLead):
        return [
            lsq.UpdateLead({"EmailAddress": f"seed{i}@example.com", "mx_A": "ok"}) for i in range(2)
        ]
    if isinstance(op, lsq.UpdateLeadById) and op.post_updated_lead is True:
        return [lsq.UpdateLeadById(lead_ids[0], {"mx_A": "ok"}, post_updated_lead=True)]
    if isinstance(op, lsq.UpdateLeadById):
        return [lsq.UpdateLeadById(i, {"mx_A": "ok"}) for i in lead_ids]
    if isinstance(op, lsq.UpdateField):
        return [lsq.UpdateField(i, "mx_A", "ok") for i in lead_ids]
    return [lsq.CreateLead({"EmailAddress": f"ok{i}@example.com"}) for i in range(2)]


@pytest.mark.parametrize("bad", CATALOGUE)
async def test_bad_input_is_refused_at_the_call_and_spoils_nothing(
    fake: FakeLeadSquared, make_client: MakeClient, bad: Any
) -> None:
    """A malformed operation raises ValidationError at the call; valid rows around it land."""
    lead_ids = [fake.store.insert({"EmailAddress": f"seed{i}@example.com"}) for i in range(2)]
    client = await make_client(linger=0.05)
    first, second = [*_companions(bad, lead_ids), None][:2]
    valid = [await client.submit(first)]
    with pytest.raises(lsq.ValidationError):
        await client.submit(bad)
    call = _convenience(client, bad)
    if call is not None:
        with pytest.raises(lsq.ValidationError):
            await call
    if second is not None:
        valid.append(await client.submit(second))
    results = await asyncio.wait_for(asyncio.gather(*valid), 5)

    assert all(
        isinstance(r, (lsq.LeadCreated, lsq.LeadUpserted, lsq.LeadUpdated, lsq.FieldUpdated))
        for r in results
    )
    entries = fake.ledger.entries
    assert len(entries) == 1, "the valid rows shared one call and nothing else was sent"
    assert entries[0].applied
    assert entries[0].rows == len(valid)
    for result in results:
        if isinstance(result, (lsq.LeadCreated, lsq.LeadUpserted)):
            assert result.lead_id in fake.store
        elif isinstance(result, lsq.FieldUpdated):
            assert result.confirmed
            assert fake.store.get(result.lead_id)["mx_A"] == "ok"  # type: ignore[index]
        else:
            lead = fake.store.find_by_email(result.search_value) or fake.store.get(
                result.search_value
            )
            assert lead is not None
            assert lead["mx_A"] == "ok"
    stats = client.stats()
    assert stats.pending == 0
    assert stats.in_flight == 0
