"""An old ``httpx.AsyncClient`` handed in is refused at construction, naming the fix."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async._util.httpclient import old_httpx_rule
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY


def _class_from(module: str, name: str = "AsyncClient") -> type:
    """A stand-in class that says it comes from ``module`` (httpx itself is not installed)."""
    return type(name, (), {"__module__": module})


class OldClientSubclass(_class_from("httpx._client")):  # type: ignore[misc]
    """A caller's own subclass of the old client."""


@pytest.mark.parametrize(
    ("client", "refused_as"),
    [
        pytest.param(_class_from("httpx")(), "httpx.AsyncClient", id="httpx"),
        pytest.param(_class_from("httpx._client")(), "httpx.AsyncClient", id="httpx-submodule"),
        pytest.param(
            _class_from("httpcore", "AsyncConnectionPool")(),
            "httpcore.AsyncConnectionPool",
            id="httpcore",
        ),
        pytest.param(OldClientSubclass(), "httpx.AsyncClient", id="subclass"),
        pytest.param(httpx2.AsyncClient(), None, id="httpx2"),
        pytest.param(_class_from("httpx_extras")(), None, id="another-package"),
        pytest.param(_class_from("myapp.http")(), None, id="caller-module"),
    ],
)
def test_old_httpx_is_told_apart_by_the_class_module(
    client: object, refused_as: str | None
) -> None:
    """A class from httpx or httpcore (or derived from one) is refused; anything else passes."""
    rule = old_httpx_rule(client)
    if refused_as is None:
        assert rule is None
    else:
        assert rule is not None
        assert rule.startswith(f"is a {refused_as} ")
        assert "httpx2.AsyncClient" in rule
        assert "httpx2.alias_httpx()" in rule


def _old_client() -> Any:
    return _class_from("httpx")()


def test_the_async_client_refuses_an_old_client_at_construction() -> None:
    """LeadSquaredClient(http_client=old) is a ValidationError naming the argument and the fix."""
    with pytest.raises(lsq.ValidationError) as caught:
        lsq.LeadSquaredClient(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, http_client=_old_client())
    assert caught.value.field == "http_client"
    assert "pass an httpx2.AsyncClient" in str(caught.value)
    with pytest.raises(lsq.ValidationError, match="alias_httpx"):
        lsq.LeadSquaredClient.from_settings(
            lsq.Settings(DEMO_ACCESS_KEY, DEMO_SECRET_KEY), http_client=_old_client()
        )


def test_the_sync_client_refuses_an_old_client_from_its_factory() -> None:
    """A factory that builds an old client fails the sync client's construction, not its rows."""
    with pytest.raises(lsq.ValidationError, match=r"pass an httpx2\.AsyncClient"):
        lsq.SyncLeadSquaredClient(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, http_client_factory=_old_client)


async def test_find_host_refuses_an_old_client() -> None:
    """find_host(http_client=old) is refused before any request."""
    with pytest.raises(lsq.ValidationError, match=r"httpx2\.alias_httpx"):
        await lsq.find_host(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, http_client=_old_client())


def test_after_alias_httpx_an_httpx_client_is_accepted() -> None:
    """The fix the error names works: after httpx2.alias_httpx(), httpx.AsyncClient is taken.

    In a child process: the alias is process-wide and must come before any import of httpx.
    """
    code = textwrap.dedent(
        """
        import asyncio
        import httpx2
        httpx2.alias_httpx()
        import httpx
        import leadsq_async as lsq
        from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

        async def main():
            fake = FakeLeadSquared(rate_limit=None)
            async with httpx.AsyncClient(transport=fake.transport()) as http:
                async with lsq.LeadSquaredClient(
                    DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url="https://fake", http_client=http
                ) as client:
                    created = await client.create_lead({"EmailAddress": "a@example.com"})
            print(type(created).__name__)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=25, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "LeadCreated"
