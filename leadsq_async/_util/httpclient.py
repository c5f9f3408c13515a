"""Telling an old ``httpx`` client apart from an ``httpx2`` one, without importing httpx."""

from __future__ import annotations

__all__ = ["old_httpx_rule"]

#: The packages httpx2 and httpcore2 continue under new names.
OLD_PACKAGES = frozenset({"httpx", "httpcore"})


def old_httpx_rule(client: object) -> str | None:
    """Why ``client`` cannot be used, if it (or a class it derives from) is the old httpx's.

    Its errors are the old package's, which the client's retry and unreachable-service rules do
    not know: every refused connection would become an internal error. After
    ``httpx2.alias_httpx()``, ``httpx.AsyncClient`` is httpx2's and passes.
    """
    for cls in type(client).__mro__:
        package = cls.__module__.partition(".")[0]
        if package in OLD_PACKAGES:
            return (
                f"is a {package}.{cls.__qualname__} from the old, unmaintained {package} "
                "package; pass an httpx2.AsyncClient (same API: `import httpx2`), or call "
                "httpx2.alias_httpx() before anything imports httpx"
            )
    return None
