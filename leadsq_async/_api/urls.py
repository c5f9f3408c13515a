"""Where the API is: a host or a base URL, normalised when the intent is plain, refused if not.

Two pure functions that ``Settings`` applies when it is made, so that a mistake in a host or a
base URL is a ``ValidationError`` at once (naming the fix) rather than a connection error at
the first call. The client adds ``/v2/LeadManagement.svc/...`` to the base URL itself.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from .._errors import ValidationError

__all__ = ["DEFAULT_HOST", "normal_base_url", "normal_host"]

#: The host of LeadSquared's Singapore region, where accounts live unless another is named.
DEFAULT_HOST = "api.leadsquared.com"

#: The API version segment the client adds itself.
VERSION = "v2"


def _shown(given: str) -> str:
    """``given`` as a message may show it: without a query, which may hold a key."""
    return given.split("?", 1)[0].split("#", 1)[0]


def _port_ok(parts: SplitResult) -> bool:
    try:
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        return False
    return True


def _checked(parts: SplitResult, field: str, given: str, example: str) -> None:
    """Refuse what no base URL may have: spaces, credentials, no host, a bad port."""
    shown = _shown(given)
    if any(c.isspace() for c in given.strip()):
        raise ValidationError(field, f"must not contain spaces, got {shown!r}")
    if not parts.hostname:
        raise ValidationError(field, f"names no host, got {shown!r} (e.g. {example!r})")
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            field, "must not carry a user or password; the keys go in access_key and secret_key"
        )
    if not _port_ok(parts):
        raise ValidationError(field, f"has a port that is not a number: {shown!r}")


def normal_host(host: object, field: str = "host") -> str:
    """``host`` as a bare host name (with its port, if any), or ``ValidationError``.

    Normalised when the intent is plain: ``https://api-in21.leadsquared.com/`` and
    ``api-in21.leadsquared.com/v2`` are ``api-in21.leadsquared.com``. Refused, naming the fix:
    another scheme than https, a path, a query.
    """
    if not isinstance(host, str) or not host.strip():
        raise ValidationError(
            field, f"must be a host name such as 'api-in21.leadsquared.com', got {host!r}"
        )
    text = host.strip()
    scheme_given = "://" in text
    parts = urlsplit(text if scheme_given else "https://" + text)
    _checked(parts, field, host, "api-in21.leadsquared.com")
    if parts.scheme.lower() != "https":
        plain = f"{parts.scheme.lower()}://{parts.netloc}"
        raise ValidationError(
            field,
            f"is a host name and the client always uses https; for {parts.scheme}:// give "
            f"the base URL {plain!r} instead (base_url, LSQ_BASE_URL, --base-url)",
        )
    if parts.query or parts.fragment:
        raise ValidationError(field, f"is a host name without a query: use {parts.netloc!r}")
    segments = [s for s in parts.path.split("/") if s]
    if [s.lower() for s in segments] not in ([], [VERSION]):
        path = "/" + "/".join(segments)
        raise ValidationError(
            field,
            f"is a host name without a path, got {_shown(text)!r}; for an API under {path!r} give "
            f"the base URL 'https://{parts.netloc}{path}' instead (base_url, LSQ_BASE_URL, "
            "--base-url)",
        )
    return parts.netloc


def normal_base_url(url: object, field: str = "base_url") -> str:
    """``url`` as the API's base URL (no trailing slash, no ``/v2``), or ``ValidationError``.

    Normalised when the intent is plain: a trailing ``/`` or ``/v2`` goes (the client adds
    ``/v2/...`` itself), the scheme is lower-cased. Refused, naming the fix: another scheme
    than http(s), no host, a query or fragment, ``/v2`` anywhere but at the end.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValidationError(
            field, f"must start with https://, e.g. 'https://api-in21.leadsquared.com'; got {url!r}"
        )
    text = url.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not text.lower().startswith(scheme + "://"):
        hint = ""
        if "://" not in text:
            bare = _shown(text)
            hint = f"; a bare host name goes in host (LSQ_HOST, --host), or use 'https://{bare}'"
        raise ValidationError(field, f"must start with https://, got {_shown(text)!r}{hint}")
    _checked(parts, field, url, "https://api-in21.leadsquared.com")
    segments = [s for s in parts.path.split("/") if s]
    lowered = [s.lower() for s in segments]
    root = f"{scheme}://{parts.netloc}"
    at = lowered.index(VERSION) if VERSION in lowered else len(segments)
    fixed = "/".join([root, *segments[:at]])
    if parts.query or parts.fragment:  # never shown: a query may hold a key
        raise ValidationError(
            field,
            "must have no query or fragment (the client adds each API's path and parameters; "
            f"the keys go in headers): use {fixed!r}",
        )
    if at < len(segments) - 1:
        raise ValidationError(
            field,
            f"must end before /v2 (the client adds /v2/LeadManagement.svc/... itself), "
            f"got {_shown(text)!r}: use {fixed!r}",
        )
    return fixed  # a trailing /v2 dropped: the client adds it itself
