"""What the fake says on the wire: ASGI types, error envelopes, body parsing, raw responses."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, NoReturn, Protocol
from urllib.parse import parse_qsl

from ._store import EMAIL, PHONE

__all__ = [
    "ASGIApp",
    "Drop",
    "Message",
    "Outcome",
    "Receive",
    "Reject",
    "Scope",
    "Send",
    "bad",
    "drop",
    "duplicate_message",
    "envelope",
    "find_poison",
    "keys_match",
    "nonblank",
    "read_body",
    "read_pairs",
    "read_query",
    "row_error",
    "send_json",
    "send_rate_limited",
    "send_system_error",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ASGIApp(Protocol):
    """An ASGI 3 application (what ``serve`` and the transport need of the fake)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one connection scope."""


JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]
_HTML_HEADERS = [(b"content-type", b"text/html")]

NAME_FIELDS = ("FirstName", "LastName", EMAIL, PHONE)
"""A lead must carry at least one of these to be created."""
MANDATORY_MESSAGE = "Mandatory attribute missing: pass at least one of " + ", ".join(NAME_FIELDS)


class Reject(Exception):
    """A whole-request error, answered with the error envelope."""

    def __init__(self, status: int, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.exception_type = exception_type
        self.message = message


class Drop(Exception):
    """Raised by the app to drop the connection (``kind``: drop_before or drop_after)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"fake LeadSquared deliberately dropped the connection ({kind})")
        self.kind = kind


class Outcome:
    """An endpoint's answer: the JSON payload, its status, and whether the store changed."""

    __slots__ = ("applied", "payload", "status")

    def __init__(self, payload: object, applied: bool, status: int = 200) -> None:
        self.payload = payload
        self.applied = applied
        self.status = status


def bad(message: str) -> Reject:
    """The service's answer to a malformed request."""
    return Reject(400, "MXInvalidInputException", message)


def envelope(exception_type: str, message: str) -> dict[str, object]:
    """LeadSquared's error body."""
    return {"Status": "Error", "ExceptionType": exception_type, "ExceptionMessage": message}


def duplicate_message(attribute: str) -> str:
    """The text of an ``MXDuplicateEntryException`` for a unique ``attribute``."""
    return f"A lead with the same {attribute} already exists"


def row_error(row: dict[str, object], style: str, exception_type: str, message: str) -> None:
    """Name a failed bulk row's error in ``style`` ("message" or "exception")."""
    if style == "message":
        row["ErrorMessage"] = message
    else:
        row["ExceptionType"] = exception_type
        row["ExceptionMessage"] = message


def _value(raw: object, where: str) -> str:
    if isinstance(raw, str):
        return raw
    if raw is None:
        return ""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return str(raw)
    raise bad(f"{where}: Value must be a string, got {type(raw).__name__}")


def read_pairs(items: object, where: str, *, allow_fields: bool = True) -> list[tuple[str, object]]:
    """Read a list of {"Attribute", "Value"[, "Fields"]} objects."""
    if not isinstance(items, list):
        raise bad(f"{where}: expected a list of attribute/value objects")
    out: list[tuple[str, object]] = []
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise bad(f"{here}: expected an object with Attribute and Value")
        attribute = item.get("Attribute")
        if not isinstance(attribute, str) or not attribute.strip():
            raise bad(f"{here}: Attribute must be a non-empty string")
        if "Value" not in item:
            raise bad(f"{here}: Value is missing")
        value = _value(item["Value"], here)
        fields = item.get("Fields")
        if fields is not None and allow_fields:
            inner = read_pairs(fields, f"{here}.Fields", allow_fields=False)
            out.append((attribute, {"Value": value, "Fields": dict(inner)}))
        elif fields is not None:
            raise bad(f"{here}: nested Fields are not allowed")
        else:
            out.append((attribute, value))
    return out


def nonblank(value: object) -> str | None:
    """``value`` when it is a string with something in it, else None."""
    return value if isinstance(value, str) and value.strip() else None


def find_poison(body: object, marker: str) -> str | None:
    """The attribute of the first ``{"Attribute": a, "Value": marker}`` anywhere in ``body``."""
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("Value") == marker:
                return str(item.get("Attribute", "?"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


async def send_json(
    send: Send, status: int, payload: object, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a complete JSON response."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_rate_limited(
    send: Send, message: str, *, as_200: bool, retry_after: float | None
) -> int:
    """Answer a rate-limit rejection (HTTP 429, or 200 with the same body); return the status."""
    body = envelope("MXAPIRateLimitExceededException", message)
    if as_200:
        await send_json(send, 200, body)
        return 200
    extra: list[tuple[bytes, bytes]] = []
    if retry_after is not None:
        extra.append((b"retry-after", f"{retry_after:g}".encode()))
    await send_json(send, 429, body, extra)
    return 429


async def send_system_error(send: Send, variant: float) -> int:
    """Answer a system error (a bare 500, or a gateway's HTML 502/503); return the status."""
    if variant < 0.5:
        await send_json(
            send, 500, {"Status": "Error", "ExceptionMessage": "An unexpected error occurred"}
        )
        return 500
    status = 502 if variant < 0.75 else 503
    title = "502 Bad Gateway" if status == 502 else "503 Service Temporarily Unavailable"
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    ).encode()
    headers = [*_HTML_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status


async def drop(send: Send, kind: str) -> NoReturn:
    """Start a response that never completes, then raise ``Drop`` so the server aborts."""
    headers = [*JSON_HEADERS, (b"content-length", b"4096")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    raise Drop(kind)


async def read_body(receive: Receive) -> bytes:
    """The whole request body."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False) or message["type"] != "http.request":
            break
    return b"".join(chunks)


def read_query(scope: Scope) -> dict[str, str]:
    """The query parameters, names lower-cased (the service ignores their case); first wins."""
    query: dict[str, str] = {}
    query_string: bytes = scope.get("query_string", b"")
    if query_string:
        for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            query.setdefault(name.lower(), value)
    return query


def keys_match(scope: Scope, query: dict[str, str], access_key: bytes, secret_key: bytes) -> bool:
    """Whether the request carries these keys (headers first, then the query string)."""
    access: bytes | None = None
    secret: bytes | None = None
    for name, value in scope["headers"]:
        lower = name.lower()
        if lower == b"x-lsq-accesskey":
            access = value
        elif lower == b"x-lsq-secretkey":
            secret = value
    if access is None and "accesskey" in query:
        access = query["accesskey"].encode()
    if secret is None and "secretkey" in query:
        secret = query["secretkey"].encode()
    if access is None or secret is None:
        return False
    # Evaluate both comparisons: no early exit on the access key.
    ok_access = hmac.compare_digest(access, access_key)
    ok_secret = hmac.compare_digest(secret, secret_key)
    return ok_access and ok_secret
