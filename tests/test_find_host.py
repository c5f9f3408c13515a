"""``lsq.find_host``: the account's own host, asked of ``UserByAccessKey.Get`` (issue 15)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, FakeLeadSquared

WRONG = "sentinel-WRONG-secret-31d7"


async def test_find_host_names_the_accounts_host_in_process() -> None:
    """The fake's UserByAccessKey.Get names its host; find_host gives it, one GET, keys sent."""
    fake = FakeLeadSquared(host="api-us11.leadsquared.com")
    async with httpx2.AsyncClient(transport=fake.transport()) as http:
        host = await lsq.find_host(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, http_client=http)
        assert not http.is_closed  # the caller's client is left open
    assert host == "api-us11.leadsquared.com"
    assert fake.ledger.calls("UserByAccessKey.Get") == 1


async def test_find_host_over_http_with_its_own_client() -> None:
    """Against the served fake with base_url (a trailing /v2 is fine) and no http_client."""
    fake = FakeLeadSquared(host="api-in22.leadsquared.com")
    async with fake.serve() as url:
        host = await lsq.find_host(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, base_url=url + "/v2")
    assert host == "api-in22.leadsquared.com"


async def test_find_host_refused_keys_are_an_authentication_error() -> None:
    """Keys refused by UserByAccessKey.Get too: AuthenticationError naming the host, no secret."""
    fake = FakeLeadSquared()
    async with httpx2.AsyncClient(transport=fake.transport()) as http:
        with pytest.raises(lsq.AuthenticationError) as info:
            await lsq.find_host(DEMO_ACCESS_KEY, WRONG, http_client=http)
    assert info.value.host == lsq.DEFAULT_HOST
    assert "the keys themselves are wrong" in str(info.value)
    assert WRONG not in str(info.value)


def _answering(status: int, body: Any = None, error: Exception | None = None) -> Any:
    def handle(request: httpx2.Request) -> httpx2.Response:
        if error is not None:
            raise error
        if isinstance(body, bytes):
            return httpx2.Response(status, content=body)
        return httpx2.Response(status, json=body)

    return handle


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        pytest.param(
            _answering(200, {"LSQCommonServiceURLs": {"api": "https://api-ca12.leadsquared.com/"}}),
            "api-ca12.leadsquared.com",
            id="host-with-scheme-normalised",
        ),
        pytest.param(
            _answering(200, [{"LSQCommonServiceURLs": {"api": "api-ir31.leadsquared.com"}}]),
            "api-ir31.leadsquared.com",
            id="a-list-of-one-user",
        ),
        pytest.param(_answering(200, {"Id": "u"}), lsq.ServiceError, id="no-host-named"),
        pytest.param(
            _answering(200, {"LSQCommonServiceURLs": {"api": "a.example/x"}}),
            lsq.ServiceError,
            id="not-a-host",
        ),
        pytest.param(_answering(200, b"<html>OK</html>"), lsq.ServiceError, id="html"),
        pytest.param(_answering(503, b""), lsq.ServiceError, id="503"),
        pytest.param(_answering(404, b"Not Found"), lsq.EndpointNotFoundError, id="404"),
        pytest.param(
            _answering(0, error=httpx2.ConnectError("refused")), lsq.ServiceError, id="refused"
        ),
    ],
)
async def test_find_host_answers(handler: Any, expected: object) -> None:
    """Each answer gives a host or the error that says what went wrong."""
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        if isinstance(expected, str):
            assert await lsq.find_host("a", "s", http_client=http) == expected
            return
        assert isinstance(expected, type)
        with pytest.raises(expected) as info:
            await lsq.find_host("a", "s", http_client=http)
    assert "UserByAccessKey.Get" in str(info.value)


async def test_find_host_checks_its_arguments() -> None:
    """Empty keys and a wrong base URL are ValidationErrors before anything is sent."""
    with pytest.raises(lsq.ValidationError) as info:
        await lsq.find_host("", "s")
    assert info.value.field == "access_key"
    with pytest.raises(lsq.ValidationError) as info:
        await lsq.find_host("a", "s", base_url="https://api.leadsquared.com/v2/v2")
    assert info.value.field == "base_url"
