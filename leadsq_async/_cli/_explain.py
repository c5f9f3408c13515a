"""What to tell the user when the service cannot be used where the import calls it.

Keys refused (HTTP 401), no such API at the URL (404/405), or a service that cannot be reached:
each stops the import with exit code 3 and one line naming the host or URL and the fix.
"""

from __future__ import annotations

import asyncio

from .. import (
    AuthenticationError,
    EndpointNotFoundError,
    LeadSquaredError,
    ServiceUnavailableError,
    find_host,
)

__all__ = ["refused_keys", "unusable_service"]

#: How long the 401 explanation may spend asking UserByAccessKey.Get for the account's host.
LOOKUP_TIMEOUT = 10.0


async def _account_host(access_key: str, secret_key: str, base_url: str) -> str | bool | None:
    """The keys' own host (None: unknown); False when the lookup refuses the keys too."""
    try:
        return await find_host(access_key, secret_key, base_url=base_url, timeout=LOOKUP_TIMEOUT)
    except AuthenticationError:
        return False
    except LeadSquaredError:
        return None


def refused_keys(error: AuthenticationError, access_key: str, secret_key: str, url: str) -> str:
    """The 401 message: the host that refused the keys and, asked of ``UserByAccessKey.Get``,
    whether the keys belong to another host (a region) or are wrong."""
    called = error.host or url
    text = (
        f"the service at {called} refused the access key or secret key (HTTP 401); "
        "check LSQ_ACCESS_KEY and LSQ_SECRET_KEY"
    )
    own = asyncio.run(_account_host(access_key, secret_key, url))
    if own is False:
        return text + " (UserByAccessKey.Get refuses them too: the keys themselves are wrong)"
    if isinstance(own, str) and own != error.host:
        return (
            f"the service at {called} refused the access key or secret key (HTTP 401): these "
            f"keys belong to {own} (UserByAccessKey.Get); pass --host {own} or set "
            f"LSQ_HOST={own}"
        )
    return text + (
        f" (keys work only on their account's own host; {called} is not it if the account is "
        "in another region: UserByAccessKey.Get names it)"
    )


def unusable_service(error: EndpointNotFoundError | ServiceUnavailableError) -> str:
    """The message for an import stopped because the service cannot be used at its URL."""
    if isinstance(error, EndpointNotFoundError):
        then = "fix --host or --base-url (LSQ_HOST, LSQ_BASE_URL) and run the same command"
    else:
        then = "run the same command once the service can be reached,"
    return f"{error}. Rows not sent are error lines: {then} with --resume"
