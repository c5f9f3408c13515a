"""The pytest plugin's fixtures: no rate limit by default, budgets only when a test asks."""

from __future__ import annotations

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared, FaultPlan

HEADERS = {"x-LSQ-AccessKey": DEMO_ACCESS_KEY, "x-LSQ-SecretKey": DEMO_SECRET_KEY}


def test_the_fixture_has_no_limit_by_default(fake_leadsquared: FakeLeadSquared) -> None:
    """Unmarked, the fixture's fake has no general, bulk or daily budget and no plan."""
    assert fake_leadsquared.rate_limit is None
    assert fake_leadsquared.bulk_rate_limit is None
    assert fake_leadsquared.daily_quota is None
    assert fake_leadsquared.plan is None
    assert fake_leadsquared.schema is None


async def test_30_sequential_upserts_meet_no_budget(fake_leadsquared: FakeLeadSquared) -> None:
    """30 upserts one after another through a test client: 30 calls, none refused or held."""
    async with (
        httpx2.AsyncClient(transport=fake_leadsquared.transport()) as http,
        lsq.LeadSquaredClient(
            DEMO_ACCESS_KEY,
            DEMO_SECRET_KEY,
            base_url="https://api-in21.leadsquared.com",
            http_client=http,
            rate_limit=lsq.RateLimit(10_000, 1.0),  # a test's client lifts its own limit too
            linger=0,
        ) as client,
    ):
        for i in range(30):
            await client.upsert_lead({"EmailAddress": f"u{i}@example.com", "mx_City": "Pune"})
        stats = client.stats()
    assert fake_leadsquared.ledger.calls("Lead/Bulk/CreateOrUpdate") == 30
    assert fake_leadsquared.ledger.rate_limited() == 0
    assert fake_leadsquared.store.count() == 30
    assert (stats.rate_limited, stats.retries) == (0, 0)
    assert "budgets" in fake_leadsquared.summary()
    assert fake_leadsquared.summary()["budgets"] == {}  # no budget in force to count against


@pytest.mark.leadsquared(plan="pro-b", scale=5)
def test_the_marker_gives_a_plan(fake_leadsquared: FakeLeadSquared) -> None:
    """`@pytest.mark.leadsquared(plan="pro-b", scale=5)` gives that plan's scaled budgets."""
    assert fake_leadsquared.plan is not None
    assert fake_leadsquared.plan.name == "pro-b"
    assert str(fake_leadsquared.rate_limit) == "10/1"
    assert str(fake_leadsquared.bulk_rate_limit) == "5/1"
    assert fake_leadsquared.daily_quota is not None


@pytest.mark.leadsquared(rate_limit="25/5", scale=20, fields=["mx_City"], seed=3)
def test_the_marker_takes_fake_options(fake_leadsquared: FakeLeadSquared) -> None:
    """Without a plan the marker passes options on; a "CALLS/SECONDS" limit is scaled."""
    assert str(fake_leadsquared.rate_limit) == "25/0.25"
    assert fake_leadsquared.schema is not None
    assert "mx_City" in fake_leadsquared.schema
    assert fake_leadsquared.seed == 3


@pytest.mark.leadsquared(rate_limit="5/1")
class TestMarkedClass:
    """A class's marker applies to its tests; a test's own marker wins over it."""

    def test_class_marker(self, fake_leadsquared: FakeLeadSquared) -> None:
        """The class's rate_limit reaches the fixture."""
        assert str(fake_leadsquared.rate_limit) == "5/1"

    @pytest.mark.leadsquared(rate_limit=None, faults=FaultPlan(system_error=1.0))
    def test_nearer_marker_wins(self, fake_leadsquared: FakeLeadSquared) -> None:
        """The test's marker replaces the class's rate_limit and adds faults."""
        assert fake_leadsquared.rate_limit is None
        assert fake_leadsquared.faults("Lead/Bulk/Create") == FaultPlan(system_error=1.0)


@pytest.mark.parametrize(
    "fake_leadsquared", [{"plan": "lite-a"}, {"rate_limit": "2/1"}], indirect=True
)
def test_indirect_parameters(fake_leadsquared: FakeLeadSquared) -> None:
    """Indirect parametrization of the fixture takes the marker's options."""
    assert str(fake_leadsquared.rate_limit) in ("2/5", "2/1")


@pytest.mark.leadsquared(plan="pro-b", scale=5)
def test_the_url_fixture_serves_the_marked_fake(
    fake_leadsquared: FakeLeadSquared, fake_leadsquared_url: str
) -> None:
    """fake_leadsquared_url serves the marked fake: a plan's bulk budget refuses the 6th call."""
    body = [[{"Attribute": "FirstName", "Value": "Ada"}]]
    with httpx2.Client(base_url=fake_leadsquared_url, headers=HEADERS) as http:
        codes = [
            http.post("/v2/LeadManagement.svc/Lead/Bulk/Create", json=body).status_code
            for _ in range(6)
        ]
    assert codes == [200] * 5 + [429]
    assert fake_leadsquared.ledger.rate_limited("bulk") == 1


def test_marker_misuse_is_a_usage_error(pytester: pytest.Pytester) -> None:
    """users= without a plan, or two positional arguments, fail the test with a clear error."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.leadsquared(users=3)
        def test_users(fake_leadsquared):
            pass

        @pytest.mark.leadsquared("pro-b", "super-b")
        def test_two(fake_leadsquared):
            pass
        """
    )
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*users= goes with plan=*", "*at most one argument*"])
