"""pytest fixtures for the fake LeadSquared service (registered through ``pytest11``).

Fixtures:

* ``fake_leadsquared``: a fresh ``FakeLeadSquared`` with the demo keys and the default limit.
* ``fake_leadsquared_url``: that same fake served over HTTP in a thread; the base URL.

Neither needs pytest-asyncio. The package is imported lazily, so loading this plugin costs
nothing for test suites that do not use the fixtures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from leadsq_async.testing import FakeLeadSquared


@pytest.fixture
def fake_leadsquared() -> FakeLeadSquared:
    """A fresh in-memory LeadSquared with the demo keys and a 25-per-5-seconds limit."""
    from leadsq_async.testing import FakeLeadSquared

    return FakeLeadSquared()


@pytest.fixture
def fake_leadsquared_url(fake_leadsquared: FakeLeadSquared) -> Iterator[str]:
    """``fake_leadsquared`` served over HTTP on loopback in a thread; yields its base URL."""
    with fake_leadsquared.serve_in_thread() as url:
        yield url
