"""Where the API is: hosts and base URLs normalised when the intent is plain, refused otherwise.

One table per function of ``_urls`` (pure, nothing sent), then the same rules through
``Settings``, ``Settings.from_env`` (naming the variable) and the client.
"""

from __future__ import annotations

import pytest

import leadsq_async as lsq
from leadsq_async._api.urls import normal_base_url, normal_host

P = pytest.param
KEYS = ("u$rkey", "secret")
SECRET = "sentinel-SECRET-in-a-query-77"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        P("api-in21.leadsquared.com", "api-in21.leadsquared.com", id="bare"),
        P("  api-in21.leadsquared.com ", "api-in21.leadsquared.com", id="spaces-around"),
        P("https://api-in21.leadsquared.com/", "api-in21.leadsquared.com", id="https-slash"),
        P("https://api-in21.leadsquared.com", "api-in21.leadsquared.com", id="https"),
        P("HTTPS://api-in21.leadsquared.com", "api-in21.leadsquared.com", id="https-upper"),
        P("api-in21.leadsquared.com/", "api-in21.leadsquared.com", id="slash"),
        P("api-in21.leadsquared.com/v2", "api-in21.leadsquared.com", id="v2"),
        P("https://api-in21.leadsquared.com/v2/", "api-in21.leadsquared.com", id="https-v2"),
        P("localhost:8443", "localhost:8443", id="port"),
    ],
)  # fmt: skip
def test_hosts_normalised(given: str, expected: str) -> None:
    """A host with https://, a trailing slash or /v2 is the bare host (the client adds them)."""
    assert normal_host(given) == expected


@pytest.mark.parametrize(
    ("given", "rule"),
    [
        P("http://localhost:8080", "give the base URL 'http://localhost:8080' instead",
          id="http-scheme"),
        P("ftp://api.leadsquared.com", "always uses https", id="ftp-scheme"),
        P("api.leadsquared.com/proxy", "give the base URL 'https://api.leadsquared.com/proxy'",
          id="path"),
        P("api.leadsquared.com/v2/v2", "without a path", id="v2-twice"),
        P("api.leadsquared.com?x=1", "without a query: use 'api.leadsquared.com'", id="query"),
        P("api.leadsquared.com:80a", "port that is not a number", id="bad-port"),
        P("api leadsquared.com", "must not contain spaces", id="inner-space"),
        P("user:pw@api.leadsquared.com", "must not carry a user or password", id="userinfo"),
        P("", "must be a host name", id="empty"),
        P("https://", "names no host", id="scheme-only"),
    ],
)  # fmt: skip
def test_hosts_refused_naming_the_fix(given: str, rule: str) -> None:
    """A host that is not one is a ValidationError on ``host`` saying what to give instead."""
    with pytest.raises(lsq.ValidationError) as info:
        normal_host(given)
    assert info.value.field == "host"
    assert rule in info.value.rule


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        P("https://api-in21.leadsquared.com", "https://api-in21.leadsquared.com", id="plain"),
        P("https://api-in21.leadsquared.com/", "https://api-in21.leadsquared.com", id="slash"),
        P("https://api-in21.leadsquared.com/v2", "https://api-in21.leadsquared.com", id="v2"),
        P("https://api-in21.leadsquared.com/V2/", "https://api-in21.leadsquared.com",
          id="v2-upper-slash"),
        P("HTTP://127.0.0.1:8080/", "http://127.0.0.1:8080", id="http-upper-port"),
        P("https://proxy.example/leadsquared/", "https://proxy.example/leadsquared",
          id="proxy-path"),
        P("https://proxy.example/leadsquared/v2", "https://proxy.example/leadsquared",
          id="proxy-path-v2"),
    ],
)  # fmt: skip
def test_base_urls_normalised(given: str, expected: str) -> None:
    """A trailing slash or /v2 goes: the client adds /v2/LeadManagement.svc/... itself."""
    assert normal_base_url(given) == expected


@pytest.mark.parametrize(
    ("given", "rule"),
    [
        P("https://api.leadsquared.com/v2/v2", "must end before /v2", id="v2-twice"),
        P("https://api.leadsquared.com/v2/LeadManagement.svc/Lead/Bulk/Create",
          "use 'https://api.leadsquared.com'", id="an-endpoint-url"),
        P("https://api.leadsquared.com?accessKey=a", "headers): use 'https://api.leadsquared.com'",
          id="query"),
        P("https://api.leadsquared.com/v2#top", "no query or fragment", id="fragment"),
        P("api.leadsquared.com", "must start with https://", id="no-scheme"),
        P("api.leadsquared.com", "a bare host name goes in host", id="no-scheme-hint"),
        P("ftp://api.leadsquared.com", "must start with https://", id="ftp"),
        P("https:api.leadsquared.com", "must start with https://", id="no-slashes"),
        P("https:///v2", "names no host", id="no-host"),
        P("", "must start with https://", id="empty"),
    ],
)  # fmt: skip
def test_base_urls_refused_naming_the_fix(given: str, rule: str) -> None:
    """A base URL that would address the wrong place is a ValidationError naming the fix."""
    with pytest.raises(lsq.ValidationError) as info:
        normal_base_url(given)
    assert info.value.field == "base_url"
    assert rule in info.value.rule


@pytest.mark.parametrize(
    "given",
    [
        P({"base_url": f"https://api.leadsquared.com/v2?secretKey={SECRET}"}, id="query"),
        P({"base_url": f"api.leadsquared.com?secretKey={SECRET}"}, id="no-scheme-query"),
        P({"base_url": f"https://api.leadsquared.com/v2/v2?secretKey={SECRET}"}, id="v2-query"),
        P({"host": f"api.leadsquared.com?secretKey={SECRET}"}, id="host-query"),
        P({"host": f"api leadsquared.com?secretKey={SECRET}"}, id="host-space-query"),
    ],
)
def test_a_key_in_a_query_is_never_shown(given: dict[str, str]) -> None:
    """A refusal never repeats the query, which may carry a key."""
    with pytest.raises(lsq.ValidationError) as info:
        lsq.Settings(*KEYS, **given)
    assert SECRET not in str(info.value)


def test_settings_keep_the_normal_form() -> None:
    """Settings hold the normalised host or base URL, and ``url`` is the base URL called."""
    by_host = lsq.Settings(*KEYS, host="https://api-in21.leadsquared.com/")
    assert (by_host.host, by_host.url) == (
        "api-in21.leadsquared.com",
        "https://api-in21.leadsquared.com",
    )
    by_url = lsq.Settings(*KEYS, base_url="https://api-in21.leadsquared.com/v2/")
    assert by_url.url == "https://api-in21.leadsquared.com"
    assert lsq.Settings(*KEYS).url == f"https://{lsq.DEFAULT_HOST}"
    assert lsq.Settings.resolve_url(host="api-in21.leadsquared.com/v2") == by_host.url
    assert lsq.Settings.resolve_url() == f"https://{lsq.DEFAULT_HOST}"
    with pytest.raises(lsq.ValidationError, match="not both"):
        lsq.Settings.resolve_url(host="a.example", base_url="https://a.example")


@pytest.mark.parametrize(
    ("variable", "value", "url"),
    [
        P("LSQ_HOST", "https://api-in21.leadsquared.com/", "https://api-in21.leadsquared.com",
          id="host-with-scheme"),
        P("LSQ_BASE_URL", "https://api-in21.leadsquared.com/v2", "https://api-in21.leadsquared.com",
          id="base-url-with-v2"),
    ],
)  # fmt: skip
def test_from_env_normalises(variable: str, value: str, url: str) -> None:
    """LSQ_HOST and LSQ_BASE_URL follow the same rules as the arguments."""
    env = {"LSQ_ACCESS_KEY": "a", "LSQ_SECRET_KEY": "s", variable: value}
    assert lsq.Settings.from_env(env).url == url


@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        P("LSQ_HOST", "http://localhost:8080", "give the base URL", id="host-http"),
        P("LSQ_BASE_URL", "https://api.leadsquared.com/v2/v2", "must end before /v2",
          id="base-url-v2-twice"),
    ],
)  # fmt: skip
def test_from_env_refusals_name_the_variable(variable: str, value: str, rule: str) -> None:
    """A wrong LSQ_HOST or LSQ_BASE_URL is a ValidationError naming that variable."""
    env = {"LSQ_ACCESS_KEY": "a", "LSQ_SECRET_KEY": "s", variable: value}
    with pytest.raises(lsq.ValidationError) as info:
        lsq.LeadSquaredClient.from_env(env)
    assert info.value.field == variable
    assert rule in info.value.rule


def test_an_override_is_named_as_the_argument() -> None:
    """A keyword override of from_env is checked under its own name, not the variable's."""
    env = {"LSQ_ACCESS_KEY": "a", "LSQ_SECRET_KEY": "s", "LSQ_HOST": "api.leadsquared.com"}
    with pytest.raises(lsq.ValidationError) as info:
        lsq.Settings.from_env(env, host="api.leadsquared.com/x")
    assert info.value.field == "host"


async def test_the_client_calls_the_normalised_url() -> None:
    """A client built from a host with a scheme calls https://HOST/v2/..., not https://https://."""
    async with lsq.LeadSquaredClient(*KEYS, host="https://api-in21.leadsquared.com/") as client:
        assert client.base_url == "https://api-in21.leadsquared.com"
    with pytest.raises(lsq.ValidationError) as info:
        lsq.LeadSquaredClient(*KEYS, base_url="https://api-in21.leadsquared.com/v2/v2")
    assert info.value.field == "base_url"
