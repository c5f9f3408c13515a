"""``Accounts``: one client per account, shared connections, idle and LRU closing, close reports.

The rules run on ``vtime.VirtualTimeLoop`` against in-process fakes (``FakeAccounts``: several
accounts behind one host) on the same clock, so idle timeouts of seconds take no real time.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from typing import Any

import attrs
import httpx2
import pytest

import leadsq_async as lsq
from leadsq_async.testing import FakeAccounts, FakeLeadSquared, Limit

SCALE = 5.0
GENERAL = lsq.RateLimit(25, 1.0)  # Enterprise, version A, scaled five times
HOST = "api-in21.leadsquared.com"


def _keys(n: int) -> tuple[str, str]:
    return f"u$r-access-{n:04d}", f"secret-{n:04d}-do-not-show"


def _fakes(count: int, plan: str = "enterprise-a", **options: Any) -> FakeAccounts:
    loop = asyncio.get_running_loop()
    fakes = FakeAccounts()
    for n in range(count):
        access, secret = _keys(n)
        fakes.add(
            FakeLeadSquared.from_plan(
                plan, scale=SCALE, clock=loop.time, access_key=access, secret_key=secret, **options
            )
        )
    return fakes


@pytest.fixture
async def http() -> AsyncIterator[list[httpx2.AsyncClient]]:
    """HTTP clients a test makes, closed after it."""
    made: list[httpx2.AsyncClient] = []
    yield made
    for client in made:
        await client.aclose()


def _accounts(fakes: FakeAccounts, made: list[httpx2.AsyncClient], **options: Any) -> lsq.Accounts:
    http = httpx2.AsyncClient(transport=fakes.transport())
    made.append(http)
    options.setdefault("rate_limit", GENERAL)
    options.setdefault("linger", 0.02)
    options.setdefault("backoff", 0.001)
    return lsq.Accounts(http_client=http, clock=asyncio.get_running_loop().time, **options)


def _client(accounts: lsq.Accounts, n: int, **overrides: Any) -> lsq.LeadSquaredClient:
    access, secret = _keys(n)
    return accounts.client(access, secret, host=HOST, **overrides)


async def _creates(count: int, tag: str) -> AsyncIterator[lsq.Operation]:
    for n in range(count):
        yield lsq.CreateLead({"EmailAddress": f"{tag}-{n}@example.com"})


async def _import(client: lsq.LeadSquaredClient, count: int, tag: str) -> list[lsq.Outcome]:
    return [outcome async for outcome in client.stream(_creates(count, tag))]


# -- the constructor ------------------------------------------------------------------------------


def test_every_settings_option_is_a_default_of_the_constructor() -> None:
    """Every ``Settings`` option but the keys, the host and one account's limiters is there,
    with the same default."""
    parameters = inspect.signature(lsq.Accounts).parameters
    own = {"access_key", "secret_key", "host", "base_url", "limiter", "bulk_limiter"}
    for field in attrs.fields(lsq.Settings):
        if field.name in own:
            assert field.name not in parameters
            continue
        assert parameters[field.name].default == field.default, field.name
        assert parameters[field.name].kind is inspect.Parameter.KEYWORD_ONLY
    options = set(lsq.AccountOptions.__annotations__)
    assert {f.name for f in attrs.fields(lsq.Settings)} - own <= options
    assert {"limiter", "bulk_limiter"} <= options


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"linger": -1}, "linger"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"idle_timeout": 0}, "idle_timeout"),
        ({"max_clients": 0}, "max_clients"),
        ({"close_timeout": -1}, "close_timeout"),
        ({"spill": "some"}, "spill"),
    ],
)
def test_a_bad_default_is_refused_at_the_constructor(options: dict[str, Any], field: str) -> None:
    """A bad default fails when ``Accounts`` is made, naming its option."""
    with pytest.raises(lsq.ValidationError) as caught:
        lsq.Accounts(**options)
    assert caught.value.field == field


# -- one client per account -----------------------------------------------------------------------


@pytest.mark.vtime
async def test_the_same_account_gets_the_same_client_and_others_their_own(
    http: list[httpx2.AsyncClient],
) -> None:
    """Same keys and host: the same client; another key or host: another; ``len`` counts them."""
    fakes = _fakes(2)
    async with _accounts(fakes, http) as accounts:
        first = _client(accounts, 0)
        assert _client(accounts, 0) is first
        assert _client(accounts, 1) is not first
        other_host = accounts.client(*_keys(0), host="api-us11.leadsquared.com")
        assert other_host is not first
        assert len(accounts) == 3
        created = await first.create_lead({"EmailAddress": "ada@example.com"})
        assert fakes[_keys(0)[0]].store.get(created.lead_id) is not None
        assert fakes[_keys(1)[0]].store.count() == 0


@pytest.mark.vtime
async def test_a_live_account_refuses_another_secret_or_other_overrides(
    http: list[httpx2.AsyncClient],
) -> None:
    """A different secret key or different overrides for a live account fail, naming them."""
    async with _accounts(_fakes(1), http) as accounts:
        access, _ = _keys(0)
        client = _client(accounts, 0, linger=0.05)
        assert client.settings.linger == 0.05
        assert _client(accounts, 0) is client  # no overrides: the live client as it is
        with pytest.raises(lsq.ValidationError, match="secret_key"):
            accounts.client(access, "another-secret", host=HOST)
        with pytest.raises(lsq.ValidationError, match="overrides"):
            _client(accounts, 0, linger=0.01)
        with pytest.raises(lsq.ValidationError, match="http_client: is set on Accounts"):
            _client(accounts, 1, http_client=None)


@pytest.mark.vtime
async def test_a_bad_override_fails_at_the_call_and_closes_nothing(
    http: list[httpx2.AsyncClient],
) -> None:
    """A bad or unknown override fails naming it; no other account is closed to make room."""
    async with _accounts(_fakes(2), http, max_clients=1) as accounts:
        first = _client(accounts, 0)
        with pytest.raises(lsq.ValidationError) as caught:
            _client(accounts, 1, linger=-1)
        assert caught.value.field == "linger"
        with pytest.raises(lsq.ValidationError, match="lingr: is not an option"):
            _client(accounts, 1, lingr=0.1)
        await asyncio.sleep(0)
        assert not first.closed
        assert len(accounts) == 1


@pytest.mark.vtime
async def test_reprs_and_stats_keys_show_no_key(http: list[httpx2.AsyncClient]) -> None:
    """Neither the secret nor the access key shows in repr or in the ids of ``stats()``."""
    async with _accounts(_fakes(1), http) as accounts:
        client = _client(accounts, 0)
        await client.create_lead({"EmailAddress": "ada@example.com"})
        stats = accounts.stats()
        access, secret = _keys(0)
        expected = lsq.Accounts.account_id(access, host=HOST)
        assert list(stats) == [expected]
        assert stats[expected].calls == 1
        for text in (repr(accounts), repr(client), *stats):
            assert secret not in text
            assert access not in text
        reports = await accounts.aclose()
    assert list(reports) == [expected]
    assert secret not in repr(accounts)


async def test_clients_of_one_host_share_one_pool_and_each_host_has_its_own() -> None:
    """Without ``http_client``, one connection pool per API host, closed with ``Accounts``."""
    async with lsq.Accounts() as accounts:
        a = accounts.client(*_keys(0), host=HOST)
        b = accounts.client(*_keys(1), host=HOST)
        c = accounts.client(*_keys(2), host="api-us11.leadsquared.com")
        assert a._http is b._http
        assert c._http is not a._http
        pools = {a._http, c._http}
    assert all(pool.is_closed for pool in pools)


async def test_a_given_http_client_serves_every_host_and_is_left_open() -> None:
    """``http_client=``: every account uses it, and ``Accounts`` leaves it open."""
    async with httpx2.AsyncClient() as shared:
        async with lsq.Accounts(http_client=shared) as accounts:
            a = accounts.client(*_keys(0), host=HOST)
            c = accounts.client(*_keys(2), host="api-us11.leadsquared.com")
            assert a._http is shared
            assert c._http is shared
        assert not shared.is_closed


# -- budgets per account ------------------------------------------------------------------------


@pytest.mark.vtime
async def test_each_account_learns_its_own_bulk_budget(http: list[httpx2.AsyncClient]) -> None:
    """Two bulk budgets behind one host: each client learns its own account's alone."""
    loop = asyncio.get_running_loop()
    fakes = FakeAccounts()
    for n, bulk in enumerate((1, 3)):  # the second tenant had its bulk budget raised
        access, secret = _keys(n)
        fakes.add(
            FakeLeadSquared.from_plan(
                "enterprise-a",
                scale=SCALE,
                clock=loop.time,
                access_key=access,
                secret_key=secret,
                bulk_rate_limit=Limit(bulk, 5.0),  # scaled as the plan is
            )
        )
    async with _accounts(fakes, http, rate_limit=None, spill="none") as accounts:
        imports = [_import(_client(accounts, n), 300, f"a{n}") for n in range(2)]
        done = await asyncio.gather(*imports)
        assert all(o.ok for outcomes in done for o in outcomes)
        stats = accounts.stats()
    learned = [stats[lsq.Accounts.account_id(_keys(n)[0], host=HOST)] for n in range(2)]
    assert learned[0].bulk_rate_limit == lsq.RateLimit(1, 1.0)  # 1 per 5 s, scaled
    assert learned[1].bulk_rate_limit == lsq.RateLimit(3, 1.0)  # 3 per 5 s, scaled
    for n in range(2):
        assert fakes[_keys(n)[0]].ledger.rate_limited(budget="bulk") == 1


@pytest.mark.vtime
async def test_one_hot_account_does_not_delay_another_accounts_rows(
    http: list[httpx2.AsyncClient],
) -> None:
    """One account's queue full of creates; the other's lookups still take a linger, and its
    queue has room."""
    loop = asyncio.get_running_loop()
    fakes = _fakes(2)
    quiet_ids = [fakes[_keys(1)[0]].store.insert({"FirstName": f"q{n}"}) for n in range(20)]
    async with _accounts(fakes, http, bulk_rate_limit=lsq.RateLimit(1, 1.0)) as accounts:
        hot, quiet = _client(accounts, 0, max_pending=1000), _client(accounts, 1)
        importing = loop.create_task(_import(hot, 2000, "hot"))
        await asyncio.sleep(0.5)
        more = lsq.CreateLead({"EmailAddress": "one-more@example.com"})
        with pytest.raises(lsq.QueueFullError):
            await hot.submit(more, wait=False)  # the hot account's admission is full
        waits: list[float] = []
        for lead_id in quiet_ids:
            started = loop.time()
            found = await quiet.submit(lsq.GetLead(lead_id), wait=False)  # room at once
            assert await found is not None
            waits.append(loop.time() - started)
            await asyncio.sleep(0.1)
        assert hot.stats().pending >= 900  # the hot backlog was there all along
        outcomes = await importing
    assert all(o.ok for o in outcomes)
    # One linger and at most one general interval each (1/25 s), never the hot backlog's ~40 s.
    assert max(waits) <= 0.02 + 1 / 25 + 1e-6


# -- idle accounts ------------------------------------------------------------------------------


@pytest.mark.vtime
async def test_an_idle_account_is_closed_on_time_and_made_anew(
    http: list[httpx2.AsyncClient],
) -> None:
    """Idle ``idle_timeout`` seconds after its last call, closed and forgotten; then a new one."""
    async with _accounts(_fakes(2), http, idle_timeout=10.0) as accounts:
        client = _client(accounts, 0)
        await client.create_lead({"EmailAddress": "ada@example.com"})
        await asyncio.sleep(9.9)
        assert not client.closed
        assert _client(accounts, 1) is not None  # another account's use does not keep it
        await asyncio.sleep(0.2)
        assert client.closed
        assert len(accounts) == 1
        assert accounts.idle_closed == 1
        again = _client(accounts, 0)
        assert again is not client
        await again.create_lead({"EmailAddress": "bob@example.com"})
        await asyncio.sleep(9.9)
        assert not again.closed
        await asyncio.sleep(0.2)
        assert again.closed
        assert len(accounts) == 0


@pytest.mark.vtime
async def test_an_account_with_rows_in_hand_is_not_closed_while_they_wait(
    http: list[httpx2.AsyncClient],
) -> None:
    """Rows that take far longer than ``idle_timeout`` to send keep their client open."""
    async with _accounts(
        _fakes(1), http, idle_timeout=1.0, rate_limit=lsq.RateLimit(1, 2.0)
    ) as accounts:
        client = _client(accounts, 0)
        # One lookup a call (distinct emails): 5 calls, 2 s apart, each wait > idle_timeout.
        emails = [f"nobody{n}@example.com" for n in range(5)]
        results = await asyncio.gather(*(client.find_lead(email=e) for e in emails))
        assert results == [None] * 5
        assert not client.closed
        await asyncio.sleep(1.1)
        assert client.closed


# -- max_clients ----------------------------------------------------------------------------------


@pytest.mark.vtime
async def test_max_clients_closes_the_least_recently_used_idle_one(
    http: list[httpx2.AsyncClient],
) -> None:
    """At the bound, a new account closes the least recently used idle client first."""
    async with _accounts(_fakes(4), http, max_clients=2, idle_timeout=None) as accounts:
        a, b = _client(accounts, 0), _client(accounts, 1)
        await asyncio.sleep(0.1)
        assert _client(accounts, 0) is a  # a used again: b is now the least recent
        c = _client(accounts, 2)
        await asyncio.sleep(0)
        assert b.closed
        assert not a.closed
        assert len(accounts) == 2
        await a.create_lead({"EmailAddress": "ada@example.com"})  # a call marks a active
        _client(accounts, 3)
        await asyncio.sleep(0)
        assert c.closed
        assert not a.closed
        assert accounts.evicted == 2


@pytest.mark.vtime
async def test_max_clients_never_closes_a_busy_client_and_exceeds_only_while_all_are_busy(
    http: list[httpx2.AsyncClient],
) -> None:
    """All busy: a new account still gets its client; the excess closes once one turns idle."""
    loop = asyncio.get_running_loop()
    slow = lsq.RateLimit(1, 1.0)
    async with _accounts(_fakes(3), http, max_clients=2, rate_limit=slow) as accounts:
        a, b = _client(accounts, 0), _client(accounts, 1)
        a_rows = loop.create_task(_import(a, 120, "a"))  # 3 calls of 50 at 1 a second
        b_rows = loop.create_task(_import(b, 60, "b"))  # 2 calls
        await asyncio.sleep(0.1)
        c = _client(accounts, 2)
        assert len(accounts) == 3  # over the bound: both others hold rows
        assert not a.closed
        assert not b.closed
        assert all(o.ok for o in await b_rows)
        await asyncio.sleep(0.01)
        assert b.closed  # the first to turn idle goes, back to the bound
        assert not a.closed
        assert len(accounts) == 2
        assert all(o.ok for o in await a_rows)
        assert not c.closed


# -- closing --------------------------------------------------------------------------------------


@pytest.mark.vtime
async def test_closing_gives_one_bounded_report_per_account(
    http: list[httpx2.AsyncClient],
) -> None:
    """Each account's rows are sent or failed within the bound; one report per account."""
    loop = asyncio.get_running_loop()
    accounts = _accounts(_fakes(3), http, rate_limit=lsq.RateLimit(1, 1.0))
    clients = [_client(accounts, n) for n in range(3)]
    futures = [
        await client.submit(lsq.CreateLead({"EmailAddress": f"r{n}-{k}@example.com"}))
        for n, client in enumerate(clients)
        for k in range(200)
    ]
    await asyncio.sleep(0.1)
    started = loop.time()
    reports = await accounts.aclose(timeout=1.5)
    took = loop.time() - started
    assert took <= 1.5 + 0.1  # side by side: one bound, not three
    assert sorted(reports) == sorted(
        lsq.Accounts.account_id(_keys(n)[0], host=HOST) for n in range(3)
    )
    assert all(client.closed for client in clients)
    assert all(future.done() for future in futures)
    for report in reports.values():
        assert report.sent > 0
        assert report.sent + report.failed + report.abandoned > 0
    ok = sum(1 for f in futures if not f.cancelled() and f.exception() is None)
    failed = [f.exception() for f in futures if f.exception() is not None]
    assert ok + len(failed) == 600
    assert all(isinstance(error, lsq.ClientClosedError) for error in failed)
    assert await accounts.aclose() == reports  # idempotent
    with pytest.raises(lsq.ClientClosedError):
        _client(accounts, 0)


# -- the fake's accounts ------------------------------------------------------------------------


async def test_fake_accounts_answer_an_unknown_key_401_and_refuse_a_key_twice() -> None:
    """``FakeAccounts`` routes by access key; an unknown one is refused as the service does."""
    fakes = FakeAccounts([FakeLeadSquared(access_key="ak-1", secret_key="sk-1")])
    with pytest.raises(ValueError, match="served already"):
        fakes.add(FakeLeadSquared(access_key="ak-1", secret_key="other"))
    assert len(fakes) == 1
    async with httpx2.AsyncClient(transport=fakes.transport(), base_url="http://fake") as http:
        path = "/v2/LeadManagement.svc/Leads.GetByEmailaddress"
        params = {"emailaddress": "a@example.com"}
        unknown = {"x-LSQ-AccessKey": "ak-2", "x-LSQ-SecretKey": "sk-1"}
        assert (await http.get(path, params=params, headers=unknown)).status_code == 401
        known = {"x-LSQ-AccessKey": "ak-1", "x-LSQ-SecretKey": "sk-1"}
        assert (await http.get(path, params=params, headers=known)).status_code == 200
    assert len(fakes["ak-1"].ledger) == 1
