"""Option types every command shares: one ``--rate`` grammar, counts, seconds, environment.

``--rate`` is ``CALLS/SECONDS`` (at most CALLS calls in any SECONDS) or ``none`` (no limit).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Protocol

import attrs

from .. import LeadSchema, RateLimit, Settings
from ._text import check_encoding, parse_delimiter

__all__ = [
    "NO_LIMIT",
    "RATE_HELP",
    "AccountFields",
    "ConfigError",
    "Rate",
    "SchemaChoice",
    "UsageError",
    "account_settings",
    "delimiter_type",
    "encoding_type",
    "env_rate",
    "env_schema",
    "parse_rate",
    "positive_int",
    "rate_type",
    "seconds",
]

#: How ``--rate`` is described in every command's help.
RATE_HELP = "CALLS/SECONDS, e.g. 25/5 (at most 25 calls in any 5 s), or none"
_NONE = ("none", "off")
#: The limit the client is given for ``--rate none``: high enough never to be the bottleneck.
NO_LIMIT = RateLimit(1_000_000, 1.0)


class UsageError(Exception):
    """The command line or its files are wrong (exit code 2)."""


class ConfigError(Exception):
    """Credentials or settings are missing or refused (exit code 3)."""


@attrs.frozen
class Rate:
    """A parsed ``--rate``: the limit, or None for ``none`` (no limit)."""

    limit: RateLimit | None

    def __str__(self) -> str:
        return "none" if self.limit is None else str(self.limit)


def parse_rate(text: str) -> Rate:
    """Read ``CALLS/SECONDS`` or ``none``; ``ValueError`` for anything else."""
    cleaned = text.strip()
    if cleaned.lower() in _NONE:
        return Rate(None)
    calls, sep, period = cleaned.partition("/")
    try:
        if not sep:
            raise ValueError
        count, span = int(calls), float(period)
        if count < 1 or not math.isfinite(span) or span <= 0:
            raise ValueError
        return Rate(RateLimit(count, span))
    except ValueError:
        raise ValueError(
            f"the rate must be CALLS/SECONDS with CALLS >= 1 and SECONDS > 0 (e.g. 25/5), "
            f"or none; got {text!r}"
        ) from None


def rate_type(text: str) -> Rate:
    """``parse_rate`` as an argparse type."""
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def env_rate(given: Rate | None, name: str, environ: Mapping[str, str] | None = None) -> Rate:
    """The ``--rate`` given (None: not on the command line), else the variable, else 25/5."""
    if given is not None:
        return given
    env = os.environ if environ is None else environ
    text = env.get(name, "").strip()
    if not text:
        return Rate(RateLimit())
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}") from None


def positive_int(text: str) -> int:
    """An integer of at least 1, as an argparse type."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seconds(text: str) -> float:
    """A finite number of seconds, at least 0, as an argparse type."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def encoding_type(text: str) -> str:
    """A text encoding Python knows, as an argparse type."""
    try:
        return check_encoding(text)
    except LookupError:
        raise argparse.ArgumentTypeError(
            f"unknown encoding {text!r} (e.g. utf-8-sig, utf-8, cp1252, latin-1, utf-16)"
        ) from None


def delimiter_type(text: str) -> str:
    """A CSV delimiter (``,``, ``;``, ``tab``, ``|``), as an argparse type."""
    try:
        return parse_delimiter(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: Where the rows' checks against the account's fields come from: ``"account"`` (the
#: service's metadata answer: the default), a saved answer file, or None (not checked).
SchemaChoice = Path | Literal["account"] | None


def env_schema(
    given: Path | None, skip: bool, environ: Mapping[str, str] | None = None
) -> SchemaChoice:
    """``--schema account|FILE``, ``--no-schema``, else ``LSQ_SCHEMA`` (account, a file or
    none), else ``"account"``.

    A file is checked here (it exists and holds JSON), so a wrong path is a usage error
    before anything is read or sent.
    """
    if skip:
        return None
    if given is not None and str(given) == "account":
        return "account"
    if given is None:
        env = os.environ if environ is None else environ
        text = env.get("LSQ_SCHEMA", "").strip()
        if not text or text.lower() == "account":
            return "account"
        if text.lower() in _NONE:
            return None
        given, name = Path(text), "LSQ_SCHEMA"
    else:
        name = "--schema"
    try:
        json.loads(given.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise UsageError(f"{name}: {given}: {exc.strerror or exc}") from None
    except ValueError:
        raise UsageError(
            f"{name}: {given} is not a saved LeadsMetaData.Get answer (not JSON)"
        ) from None
    return given


class AccountFields(Protocol):
    """What ``import`` and ``consume`` know of the account they write to."""

    @property
    def access_key(self) -> str: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def rate(self) -> RateLimit | None: ...
    @property
    def bulk_rate(self) -> RateLimit | None: ...
    @property
    def daily_quota(self) -> int | None: ...
    @property
    def spill(self) -> Literal["interactive", "all", "none"]: ...
    @property
    def redis_url(self) -> str | None: ...
    @property
    def redis_prefix(self) -> str: ...
    @property
    def schema(self) -> SchemaChoice: ...


def account_settings(cfg: AccountFields, *, max_pending: int) -> Settings:
    """The client's settings for a command that writes to the account ``cfg`` describes."""
    return Settings(
        cfg.access_key,
        cfg.secret_key,
        base_url=cfg.base_url,
        rate_limit=cfg.rate or NO_LIMIT,
        bulk_rate_limit=cfg.bulk_rate,
        daily_quota=cfg.daily_quota,
        spill=cfg.spill,
        redis_url=cfg.redis_url,
        redis_prefix=cfg.redis_prefix,
        max_pending=max_pending,
        schema=LeadSchema.load(cfg.schema) if isinstance(cfg.schema, Path) else cfg.schema,
    )
