"""pytest fixtures for the fake LeadSquared service (registered through ``pytest11``).

Fixtures:

* ``fake_leadsquared``: a fresh ``FakeLeadSquared`` with the demo keys and **no rate limit**,
  so a test's calls are never slowed or refused by a budget it did not ask for.
* ``fake_leadsquared_url``: that same fake served over HTTP in a thread; the base URL.

The marker ``@pytest.mark.leadsquared(...)`` configures the fixture's fake (on a test, a class
or a module's ``pytestmark``): ``plan="pro-b"`` (a ``PLANS`` name) with ``scale=`` and
``users=`` for a published plan's budgets, or any ``FakeLeadSquared`` option such as
``rate_limit="25/5"`` (a ``Limit``, or ``"CALLS/SECONDS"``), ``fields=[...]`` (with
``bad_value_refuses="call"`` for a bad value to refuse its whole bulk call), ``faults=``;
``scale`` also divides the periods of limits given without a plan. Indirect parametrization
(``@pytest.mark.parametrize("fake_leadsquared", [{...}], indirect=True)``) takes the same
options. Neither fixture needs pytest-asyncio. The package is imported lazily, so loading
this plugin costs nothing for test suites that do not use the fixtures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from leadsq_async.testing import FakeLeadSquared

MARKER = "leadsquared"
_LIMITS = ("rate_limit", "bulk_rate_limit", "daily_quota")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``leadsquared`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(plan=None, *, scale=1.0, users=1, **options): configure the "
        "fake_leadsquared fixture: a published plan's budgets, or FakeLeadSquared options "
        "(rate_limit='25/5', fields=[...], faults=...); without it the fake has no limit",
    )


def fake_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The options the test's ``leadsquared`` markers and fixture parameter give the fake.

    Markers nearer the test win over those of its class and module; a parameter wins over all.
    """
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        if len(marker.args) > 1:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes at most one argument, a plan")
        if marker.args:
            options["plan"] = marker.args[0]
        options.update(marker.kwargs)
    param = getattr(request, "param", None)
    if param is not None:
        if not isinstance(param, dict):
            raise pytest.UsageError("fake_leadsquared's parameter must be a dict of options")
        options.update(param)
    return options


def build(options: dict[str, Any]) -> FakeLeadSquared:
    """The fake ``options`` describe (no rate limit unless they give one)."""
    from leadsq_async.testing import FakeLeadSquared, Limit

    options = dict(options)
    for key in _LIMITS:
        if isinstance(options.get(key), str):
            options[key] = Limit.parse(options[key])
    plan = options.pop("plan", None)
    if plan is not None:
        return FakeLeadSquared.from_plan(plan, **options)
    if "users" in options:
        raise pytest.UsageError(f"@pytest.mark.{MARKER}: users= goes with plan=")
    scale = float(options.pop("scale", 1.0))
    options.setdefault("rate_limit", None)
    for key in _LIMITS:
        limit = options.get(key)
        if limit is not None and scale != 1.0:
            options[key] = Limit.of(limit).scaled(scale)
    return FakeLeadSquared(**options)


@pytest.fixture
def fake_leadsquared(request: pytest.FixtureRequest) -> FakeLeadSquared:
    """A fresh in-memory LeadSquared with the demo keys and no rate limit (see the marker)."""
    return build(fake_options(request))


@pytest.fixture
def fake_leadsquared_url(fake_leadsquared: FakeLeadSquared) -> Iterator[str]:
    """``fake_leadsquared`` served over HTTP on loopback in a thread; yields its base URL."""
    with fake_leadsquared.serve_in_thread() as url:
        yield url
