"""``find_host``: which host the account behind a pair of keys lives on.

LeadSquared serves each account from its region's host (``api.leadsquared.com`` is Singapore,
``api-in21.leadsquared.com`` Mumbai, ...), and keys are refused (HTTP 401) on any other.
``GET /v2/Authentication.svc/UserByAccessKey.Get`` answers on any host and names the
account's own host in ``LSQCommonServiceURLs.api``.
"""

from __future__ import annotations

import json

import httpx2

from .._errors import AuthenticationError, EndpointNotFoundError, ServiceError, ValidationError
from .._util.httpclient import old_httpx_rule
from .urls import DEFAULT_HOST, normal_base_url, normal_host

__all__ = ["USER_BY_ACCESS_KEY", "find_host"]

#: The lookup's path under the base URL.
USER_BY_ACCESS_KEY = "/v2/Authentication.svc/UserByAccessKey.Get"


def host_of(data: object) -> str | None:
    """The account's API host named in a ``UserByAccessKey.Get`` answer (None: none named)."""
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    urls = data.get("LSQCommonServiceURLs") if isinstance(data, dict) else None
    api = urls.get("api") if isinstance(urls, dict) else None
    if not isinstance(api, str) or not api.strip():
        return None
    try:
        return normal_host(api)
    except ValidationError:
        return None


async def find_host(
    access_key: str,
    secret_key: str,
    *,
    http_client: httpx2.AsyncClient | None = None,
    base_url: str = f"https://{DEFAULT_HOST}",
    timeout: float = 30.0,  # noqa: ASYNC109 (the HTTP client's per-request timeout, as httpx2's)
) -> str:
    """The API host of the account these keys belong to, e.g. ``"api-in21.leadsquared.com"``.

    Asks ``UserByAccessKey.Get`` at ``base_url`` (any LeadSquared host answers it) and gives
    the host it names; pass that as ``host`` to ``LeadSquaredClient``. Raises
    ``AuthenticationError`` when the keys are refused there too, ``EndpointNotFoundError``
    when ``base_url`` has no such API, and ``ServiceError`` when the service cannot be reached
    or its answer names no host. ``http_client`` is used as it is and not closed.
    """
    for name, key in (("access_key", access_key), ("secret_key", secret_key)):
        if not isinstance(key, str) or not key.strip():
            raise ValidationError(name, "must be a non-empty string")
    if http_client is not None and (rule := old_httpx_rule(http_client)):
        raise ValidationError("http_client", rule)
    url = normal_base_url(base_url) + USER_BY_ACCESS_KEY
    headers = {"x-LSQ-AccessKey": access_key, "x-LSQ-SecretKey": secret_key}
    http = http_client or httpx2.AsyncClient(timeout=timeout)
    try:
        response = await http.get(url, headers=headers, timeout=timeout)
    except httpx2.HTTPError as exc:
        raise ServiceError(f"could not ask {url}: {type(exc).__name__}") from None
    finally:
        if http_client is None:
            await http.aclose()
    if response.status_code == 401:
        asked = httpx2.URL(url).netloc.decode()
        raise AuthenticationError(
            f"the service at {asked} refused the access key or secret key (HTTP 401) for "
            "UserByAccessKey.Get as well: the keys themselves are wrong",
            asked,
        )
    status = response.status_code
    if status in (404, 405):
        raise EndpointNotFoundError(
            f"no such API at {url} (HTTP {status}); check base_url", url, status
        )
    if status == 200:
        try:
            host = host_of(json.loads(response.content))
        except ValueError:
            host = None
        if host is not None:
            return host
    raise ServiceError(f"{url} answered HTTP {status} naming no host")
