"""One list of options, one set of methods: both clients take ``Settings`` and mirror each other.

Each test reads signatures (names, kinds, defaults and resolved annotations), so adding a
setting, a method or a parameter to one side only fails here until the other side has it too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import functools
import inspect
import operator
import types
import typing
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterator
from typing import Any

import attrs
import pytest

import leadsq_async as lsq
from leadsq_async import _client, _sync
from leadsq_async.testing import DEMO_ACCESS_KEY, DEMO_SECRET_KEY

ASYNC = lsq.LeadSquaredClient
SYNC = lsq.SyncLeadSquaredClient

#: The async name → the sync client's name for the same thing.
RENAMED = {"aclose": "close"}
#: Public names of the async client the sync one lacks on purpose, each with why.
ASYNC_ONLY = {
    "limiter": "its methods are coroutines of the loop thread: no use to another thread",
}
#: Built from ``Settings`` and the hooks: compared with the constructors instead (below).
BUILDERS = {"from_settings"}
#: Keyword-only parameters only a blocking method has: how long the thread waits, and then what.
WAITING = ("timeout", "cancel_on_timeout")
#: Constructor parameters that are not ``Settings`` fields; ``from_settings`` takes these.
ASYNC_HOOKS = {"http_client", "on_call", "on_event", "telemetry", "clock"}
SYNC_HOOKS = {"http_client_factory", "on_call", "on_event", "telemetry", "clock", "exit_timeout"}
#: The sync constructor names ``http_client`` only to refuse it with a pointer to the factory.
SYNC_REFUSED = {"http_client"}

Param = tuple[str, inspect._ParameterKind, Any, Any]


def public(cls: type) -> set[str]:
    """The public names of ``cls`` (methods, class methods, properties)."""
    return {name for name in dir(cls) if not name.startswith("_")}


def params(function: Callable[..., Any]) -> list[Param]:
    """Each parameter's name, kind, default and resolved annotation (``self`` left out)."""
    hints = typing.get_type_hints(function)
    return [
        (p.name, p.kind, p.default, hints.get(p.name, p.empty))
        for p in inspect.signature(function).parameters.values()
        if p.name != "self"
    ]


def returns(function: Callable[..., Any]) -> Any:
    """The resolved return annotation (for a property, its getter's)."""
    if isinstance(function, property):
        assert function.fget is not None
        function = function.fget
    return typing.get_type_hints(function).get("return", inspect.Signature.empty)


def blocking(hint: Any) -> Any:
    """What the sync client says where the async one says ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is ASYNC:
        return SYNC
    if hint is lsq.LeadsModified:  # an async iterator with a checkpoint; its twin iterates
        return lsq.SyncLeadsModified
    if origin in (AsyncGenerator, AsyncIterator):
        return Iterator[blocking(args[0])]
    if origin is asyncio.Future:
        return cf.Future[args[0]]  # type: ignore[valid-type]
    if origin in (types.UnionType, typing.Union):
        # A thread hands over plain iterables only: its async iterables would need a loop.
        kept = [blocking(a) for a in args if typing.get_origin(a) is not AsyncIterable]
        return functools.reduce(operator.or_, kept)
    return hint


def without_waiting(found: list[Param]) -> list[Param]:
    """``found`` without the blocking-only keyword parameters."""
    return [p for p in found if not (p[0] in WAITING and p[1] is inspect.Parameter.KEYWORD_ONLY)]


def test_both_clients_have_the_same_public_names() -> None:
    """Every public name of the async client is on the sync one (renamed or excused), no more."""
    expected = {RENAMED.get(name, name) for name in public(ASYNC) - ASYNC_ONLY.keys()}
    assert public(SYNC) == expected


@pytest.mark.parametrize("name", sorted(public(ASYNC) - ASYNC_ONLY.keys() - BUILDERS))
def test_sync_method_mirrors_the_async_one(name: str) -> None:
    """Same parameters (name, kind, default, annotation) and a blocking twin of the return."""
    twin = RENAMED.get(name, name)
    mine, theirs = inspect.getattr_static(ASYNC, name), inspect.getattr_static(SYNC, twin)
    assert isinstance(theirs, property) == isinstance(mine, property), name
    if not isinstance(mine, property):
        mine, theirs = getattr(ASYNC, name), getattr(SYNC, twin)
        expected = [(n, k, d, blocking(a)) for n, k, d, a in params(mine)]
        assert without_waiting(params(theirs)) == expected
        assert inspect.iscoroutinefunction(theirs) is False
    assert returns(theirs) == blocking(returns(mine))


def test_every_blocking_call_bounds_its_wait_the_same_way() -> None:
    """A sync twin of a coroutine ends with ``timeout`` (a lead call: and ``cancel_on_timeout``)."""
    timeout = ("timeout", inspect.Parameter.KEYWORD_ONLY, None, float | None)
    cancel = ("cancel_on_timeout", inspect.Parameter.KEYWORD_ONLY, False, bool)
    for name in public(ASYNC) - ASYNC_ONLY.keys() - BUILDERS - RENAMED.keys():
        if inspect.iscoroutinefunction(getattr(ASYNC, name)):
            found = params(getattr(SYNC, name))
            extra = [p for p in found if p not in without_waiting(found)]
            assert extra in ([timeout], [timeout, cancel]), name


def settings_params() -> dict[str, tuple[inspect._ParameterKind, Any, Any]]:
    """Each ``Settings`` field as a constructor should take it: kind, default, accepted type."""
    accepted = typing.get_type_hints(lsq.Settings.__init__)  # a converter's input, not the field's
    found = {}
    for field in attrs.fields(lsq.Settings):
        required = field.default is attrs.NOTHING
        kind = (
            inspect.Parameter.POSITIONAL_OR_KEYWORD if required else inspect.Parameter.KEYWORD_ONLY
        )
        default = inspect.Parameter.empty if required else field.default
        found[field.name] = (kind, default, accepted[field.name])
    return found


@pytest.mark.parametrize(
    ("client", "others"),
    [(ASYNC, ASYNC_HOOKS), (SYNC, SYNC_HOOKS | SYNC_REFUSED)],
    ids=["async", "sync"],
)
def test_constructor_takes_every_setting_by_name_with_its_type(
    client: type, others: set[str]
) -> None:
    """Every ``Settings`` field is a parameter of the same kind, default and type; no ``**``."""
    found = {n: (k, d, a) for n, k, d, a in params(client.__init__)}
    kinds = {kind for kind, _, _ in found.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    assert inspect.Parameter.VAR_POSITIONAL not in kinds
    assert {n: v for n, v in found.items() if n not in others} == settings_params()
    assert others <= found.keys()


@pytest.mark.parametrize(
    ("client", "hooks"), [(ASYNC, ASYNC_HOOKS), (SYNC, SYNC_HOOKS)], ids=["async", "sync"]
)
def test_from_settings_takes_the_constructors_other_parameters(
    client: type, hooks: set[str]
) -> None:
    """``from_settings`` takes ``settings`` and the constructor's hooks, typed the same."""
    built = {n: (k, d, a) for n, k, d, a in params(client.from_settings)}
    made = {n: (k, d, a) for n, k, d, a in params(client.__init__)}
    assert built.pop("settings")[2] is lsq.Settings
    assert built == {n: made[n] for n in hooks}


def test_shared_hooks_are_typed_alike() -> None:
    """The hooks both clients take have the same type and default in each."""
    mine = {p[0]: p[1:] for p in params(ASYNC.__init__)}
    theirs = {p[0]: p[1:] for p in params(SYNC.__init__)}
    for name in ASYNC_HOOKS & SYNC_HOOKS:
        assert mine[name] == theirs[name], name


class Built(Exception):
    """Raised by a stand-in ``Settings`` once it has seen its arguments."""


@pytest.mark.parametrize("client", [ASYNC, SYNC], ids=["async", "sync"])
def test_constructor_hands_every_option_to_settings(
    client: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each option reaches ``Settings`` under its own name, as given (none dropped or swapped)."""
    given: dict[str, object] = {}

    def settings(access_key: object, secret_key: object, **kwargs: object) -> None:
        given.update(kwargs, access_key=access_key, secret_key=secret_key)
        raise Built

    for module in (_client, _sync):
        monkeypatch.setattr(module, "Settings", settings)
    values = {name: object() for name in settings_params()}  # each one its own, to tell apart
    options = {n: v for n, v in values.items() if n not in ("access_key", "secret_key")}
    with pytest.raises(Built):
        client(values["access_key"], values["secret_key"], **options)
    assert given == values


def test_a_misspelt_option_is_a_type_error_naming_it() -> None:
    """``rate_limt=`` is refused by the sync constructor itself, naming the parameter."""
    with pytest.raises(TypeError) as raised:
        SYNC(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, rate_limt=lsq.RateLimit(1, 1.0))
    assert "SyncLeadSquaredClient.__init__() got an unexpected keyword argument 'rate_limt'" in str(
        raised.value
    )


async def test_the_async_client_takes_the_redis_options() -> None:
    """``redis_prefix`` and ``redis_fallback`` reach the async client's settings."""
    options: dict[str, Any] = {"redis_prefix": "shop", "redis_fallback": "local"}
    async with ASYNC(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, **options) as client:
        assert (client.settings.redis_prefix, client.settings.redis_fallback) == ("shop", "local")
