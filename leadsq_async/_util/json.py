"""JSON bodies both ways: orjson when it is installed (the ``speedups`` extra), else ``json``.

Both write the same bodies and read answers alike: whatever orjson refuses (NaN, nesting
deeper than it goes, bodies it cannot write) is handed to ``json``, which decides as before.
One difference remains: orjson reads an integer beyond 64 bits as a float. No answer field we
read is a number that large, and a float is refused where an integer is expected.
"""

from __future__ import annotations

import json
from collections.abc import Callable

__all__ = ["BACKEND", "dumps", "loads", "std_dumps", "std_loads"]


def std_dumps(body: object) -> bytes:
    """``body`` as compact UTF-8 JSON, with the standard library."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def std_loads(content: bytes) -> object:
    """Parse ``content`` with the standard library (``ValueError`` if it is not JSON)."""
    return json.loads(content)


dumps: Callable[[object], bytes] = std_dumps
loads: Callable[[bytes], object] = std_loads
#: Which library reads and writes bodies: ``"orjson"`` or ``"json"``.
BACKEND = "json"

try:
    import orjson
except ImportError:  # pragma: no cover - the test environment has the speedups extra
    pass
else:

    def _orjson_dumps(body: object) -> bytes:
        try:
            return orjson.dumps(body)
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits
            return std_dumps(body)

    def _orjson_loads(content: bytes) -> object:
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            return std_loads(content)

    dumps, loads, BACKEND = _orjson_dumps, _orjson_loads, "orjson"
