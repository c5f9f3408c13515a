"""What the tests of the fake share: its address, the demo keys' headers, an HTTP client on it."""

from __future__ import annotations

import re

import httpx2

from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

BASE = "https://api-in21.leadsquared.com"
LM = "/v2/LeadManagement.svc/"
USER = "/v2/Authentication.svc/UserByAccessKey.Get"
HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class Clock:
    """A hand-driven clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def client(fake: FakeLeadSquared, headers: dict[str, str] | None = None) -> httpx2.AsyncClient:
    """An in-process HTTP client on ``fake``, with the demo keys unless ``headers`` are given."""
    return httpx2.AsyncClient(
        transport=fake.transport(), base_url=BASE, headers=HEADERS if headers is None else headers
    )


def av(attribute: str, value: str) -> dict[str, str]:
    """One attribute/value pair of a request body."""
    return {"Attribute": attribute, "Value": value}
