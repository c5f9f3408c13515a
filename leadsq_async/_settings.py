"""The client's settings: one typed, validated value, built from arguments or the environment.

``Settings`` checks every value when it is made, naming the argument (or the environment
variable) and the rule it broke, so a mistake is reported where it was made. The client and
the command line both build their clients from it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from ._api.lookups import DEFAULT_LEAD_COLUMNS, check_columns
from ._api.schema import LeadSchema
from ._api.urls import DEFAULT_HOST, normal_base_url, normal_host
from ._budgets.limiters import Limiter, RateLimit, missing_members
from ._errors import ValidationError

__all__ = ["DEFAULT_HOST", "Settings"]

#: The host used when neither ``host`` nor ``base_url`` is given (LeadSquared's Singapore region).


def _number(minimum: float, *, integer: bool = False) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or not value >= minimum or value != value:
            kind = "an int" if integer else "a number"
            raise ValidationError(attribute.name, f"must be {kind} >= {minimum:g}, got {value!r}")

    return check


def _optional(check: Any) -> Any:
    def optional(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(instance, attribute, value)

    return optional


def _fraction(_: object, attribute: attrs.Attribute[float], value: object) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0 <= value < 1:  # type: ignore[operator]
        raise ValidationError(attribute.name, f"must be a fraction in [0, 1), got {value!r}")


def _column_names(value: object) -> tuple[str, ...]:
    if isinstance(value, tuple) and value is DEFAULT_LEAD_COLUMNS:
        return value
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Iterable):
        raise ValidationError("lead_columns", "must be schema names, or one comma-separated string")
    return check_columns(list(value))


def _lead_columns(value: Iterable[str] | str) -> tuple[str, ...]:
    """``lead_columns`` as given: its annotation is what ``Settings`` and the clients take."""
    return _column_names(value)  # checked at run time too: an untyped caller may pass anything


def _schema(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and value != "account" and not isinstance(value, LeadSchema):
        raise ValidationError(
            attribute.name, f"must be 'account', a LeadSchema or None, got {value!r}"
        )


def _schema_from_env(text: str, name: str) -> LeadSchema | Literal["account"] | None:
    """``LSQ_SCHEMA``: "account", "off", or the path of a saved ``LeadsMetaData.Get`` answer."""
    if text.casefold() == "account":
        return "account"
    if text.casefold() == "off":
        return None
    try:
        return LeadSchema.load(text)
    except (OSError, ValueError) as error:
        rule = f"must be 'account', 'off' or a saved LeadsMetaData.Get answer: {error}"
        raise ValidationError(name, rule) from None


def _key(_: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(attribute.name, "must be a non-empty string")


def _limiter(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (missing := missing_members(value)):
        raise ValidationError(
            attribute.name,
            f"must implement the Limiter protocol; {type(value).__name__} lacks "
            + ", ".join(missing),
        )


@attrs.frozen
class Settings:
    """Everything a ``LeadSquaredClient`` is configured with, checked when it is made.

    See the settings table in docs/guides/plans.md for each setting. ``base_url`` is derived
    from ``host`` when not given; ``redis_url`` makes the client share its budgets (``rate_limit``,
    ``bulk_rate_limit``) and its ``daily_quota`` through a ``RedisLimiter`` (the ``redis``
    extra) that it opens and closes itself.
    """

    access_key: str = attrs.field(validator=_key, repr=False)
    secret_key: str = attrs.field(validator=_key, repr=False)
    host: str | None = None
    base_url: str | None = None
    rate_limit: RateLimit | None = None
    bulk_rate_limit: RateLimit | None = None
    limiter: Limiter | None = attrs.field(default=None, validator=_limiter)
    bulk_limiter: Limiter | None = attrs.field(default=None, validator=_limiter)
    linger: float = attrs.field(default=0.02, validator=_number(0))
    max_pending: int = attrs.field(default=10_000, validator=_number(1, integer=True))
    max_in_flight: int = attrs.field(default=8, validator=_number(1, integer=True))
    max_retries: int = attrs.field(default=5, validator=_number(0, integer=True))
    delivery_timeout: float = attrs.field(default=300.0, validator=_number(0.001))
    timeout: float = attrs.field(default=30.0, validator=_number(0.001))
    backoff: float = attrs.field(default=0.5, validator=_number(0))
    backoff_max: float = attrs.field(default=30.0, validator=_number(0))
    spill: Literal["interactive", "all", "none"] = "interactive"
    circuit_calls: int = attrs.field(default=5, validator=_number(1, integer=True))
    circuit_seconds: float = attrs.field(default=10.0, validator=_number(0))
    daily_quota: int | None = attrs.field(
        default=None, validator=_optional(_number(1, integer=True))
    )
    quota_reserve: float = attrs.field(default=0.1, validator=_fraction)
    reconcile: bool = True
    redis_url: str | None = attrs.field(default=None, repr=False)
    redis_prefix: str = "leadsq"
    redis_fallback: Literal["wait", "local"] = "wait"
    lead_columns: tuple[str, ...] = attrs.field(
        default=DEFAULT_LEAD_COLUMNS, converter=_lead_columns
    )
    schema: Literal["account"] | LeadSchema | None = attrs.field(default=None, validator=_schema)

    def __attrs_post_init__(self) -> None:
        if self.host is not None and self.base_url is not None:
            raise ValidationError("base_url", "give host or base_url, not both")
        # Normalised in place when the intent is plain, refused naming the fix otherwise.
        if self.host is not None:
            object.__setattr__(self, "host", normal_host(self.host))
        if self.base_url is not None:
            object.__setattr__(self, "base_url", normal_base_url(self.base_url))
        if self.limiter is not None and self.rate_limit is not None:
            raise ValidationError("limiter", "give rate_limit or limiter, not both")
        if self.bulk_limiter is not None and self.bulk_rate_limit is not None:
            raise ValidationError("bulk_limiter", "give bulk_rate_limit or bulk_limiter, not both")
        if self.spill not in ("interactive", "all", "none"):
            raise ValidationError("spill", "must be 'interactive', 'all' or 'none'")
        if self.redis_fallback not in ("wait", "local"):
            raise ValidationError("redis_fallback", "must be 'wait' or 'local'")
        if self.redis_url is not None and self.limiter is not None:
            raise ValidationError("redis_url", "give redis_url or limiter, not both")

    @property
    def url(self) -> str:
        """The API's base URL, without a trailing slash (the client adds ``/v2/...``)."""
        if self.base_url is not None:
            return self.base_url
        return f"https://{self.host or DEFAULT_HOST}"

    @staticmethod
    def resolve_url(host: str | None = None, base_url: str | None = None) -> str:
        """The base URL ``host`` or ``base_url`` stands for, as ``Settings`` would make it.

        ``ValidationError`` (naming ``host`` or ``base_url`` and the fix) when it is wrong; the
        default host when neither is given. Sends nothing.
        """
        if host is not None and base_url is not None:
            raise ValidationError("base_url", "give host or base_url, not both")
        if base_url is not None:
            return normal_base_url(base_url)
        return f"https://{normal_host(host) if host is not None else DEFAULT_HOST}"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = "LSQ_", **overrides: Any
    ) -> Settings:
        """Settings from ``LSQ_*`` environment variables; keyword ``overrides`` win.

        Reads ``LSQ_ACCESS_KEY`` and ``LSQ_SECRET_KEY`` (required), ``LSQ_HOST`` or
        ``LSQ_BASE_URL``, ``LSQ_RATE`` and ``LSQ_BULK_RATE`` (``"25/5"``),
        ``LSQ_DELIVERY_TIMEOUT`` (seconds), ``LSQ_DAILY_QUOTA`` (calls), ``LSQ_QUOTA_RESERVE``,
        ``LSQ_SPILL``, ``LSQ_REDIS_URL``, ``LSQ_REDIS_PREFIX``, ``LSQ_REDIS_FALLBACK`` and
        ``LSQ_LEAD_COLUMNS`` (comma-separated schema names) and ``LSQ_SCHEMA`` (``account``,
        ``off``, or the path of a saved ``LeadsMetaData.Get`` answer).
        A missing or malformed variable raises ``ValidationError`` naming it.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(prefix + name, "").strip()
            return value or None

        values: dict[str, Any] = {}
        for name in ("ACCESS_KEY", "SECRET_KEY"):
            value = get(name)
            if value is None and name.lower() not in overrides:
                raise ValidationError(prefix + name, "is not set")
            values[name.lower()] = value
        names = ("HOST", "BASE_URL", "REDIS_URL", "REDIS_PREFIX", "REDIS_FALLBACK", "SPILL")
        for name in (*names, "LEAD_COLUMNS"):
            if (value := get(name)) is not None:
                values[name.lower()] = value
        if values.get("redis_fallback") not in (None, "wait", "local"):
            raise ValidationError(prefix + "REDIS_FALLBACK", "must be 'wait' or 'local'")
        if "lead_columns" in values:
            try:
                values["lead_columns"] = _column_names(values["lead_columns"])
            except ValidationError as error:
                raise ValidationError(prefix + "LEAD_COLUMNS", error.rule) from None
        if (text := get("SCHEMA")) is not None:
            values["schema"] = _schema_from_env(text, prefix + "SCHEMA")
        for name, key in (("RATE", "rate_limit"), ("BULK_RATE", "bulk_rate_limit")):
            if (text := get(name)) is not None:
                try:
                    values[key] = RateLimit.parse(text)
                except ValueError as error:
                    raise ValidationError(prefix + name, str(error)) from None
        for name, key, kind, rule in (
            ("DELIVERY_TIMEOUT", "delivery_timeout", float, "a number of seconds"),
            ("DAILY_QUOTA", "daily_quota", int, "a whole number of calls"),
            ("QUOTA_RESERVE", "quota_reserve", float, "a fraction such as 0.1"),
        ):
            if (text := get(name)) is not None:
                try:
                    values[key] = kind(text)
                except ValueError:
                    raise ValidationError(prefix + name, f"must be {rule}, got {text!r}") from None
        if "limiter" in overrides and "rate_limit" not in overrides:
            values.pop("rate_limit", None)  # the given limiter carries its own rate
        if "limiter" in overrides:
            values.pop("redis_url", None)
        if ("host" in overrides or "base_url" in overrides) and not (
            "host" in overrides and "base_url" in overrides
        ):
            values.pop("host", None)
            values.pop("base_url", None)
        for name in ("host", "base_url"):  # from the environment: name the variable
            if name in values and name not in overrides:
                normal = normal_host if name == "host" else normal_base_url
                values[name] = normal(values[name], prefix + name.upper())
        values.update(overrides)
        return cls(**values)
