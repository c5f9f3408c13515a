"""The export's plan as a table: which page to read next, what to give out of an answer."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

import leadsq_async as lsq
from leadsq_async._api.ranges import (
    SORT_AUTO_ID,
    SORT_MODIFIED,
    ExportCheckpoint,
    PageQuery,
    after_page,
    next_query,
)

S = 1_000  # one second, in milliseconds
T = 1_800_000_000 * S  # a whole second
BASE = ExportCheckpoint(since=T, until=T + 100 * S - 1, low=T)


def time_query(state: ExportCheckpoint, size: int = 3) -> PageQuery:
    """The query ``next_query`` gives in time mode (checked by the first table)."""
    query = next_query(state, size)
    assert query is not None
    return query


@pytest.mark.parametrize(
    ("state", "size", "expected"),
    [
        # Time mode: from low's second to a second past until (either kind of ToDate).
        (BASE, 3, PageQuery(T // S, T // S + 100, SORT_MODIFIED, 1, 3)),
        (
            attrs.evolve(BASE, low=T + 7 * S + 500),
            3,
            PageQuery(T // S + 7, T // S + 100, SORT_MODIFIED, 1, 3),
        ),
        # One crowded second: by ProspectAutoId, from one lead before the first unread one
        # (a page size that puts a page there and reaches furthest: offset 18 = 2 * 9).
        (
            attrs.evolve(BASE, second=T, seen=20, count=50, margin=1, size=10),
            10,
            PageQuery(T // S, T // S + 1, SORT_AUTO_ID, 3, 9),
        ),
        # After a page that did not overlap: start further back (offset 16 = 2 * 8).
        (
            attrs.evolve(BASE, second=T, seen=20, count=50, margin=4, size=10),
            10,
            PageQuery(T // S, T // S + 1, SORT_AUTO_ID, 3, 8),
        ),
        # Pages so small that none overlapping reaches further: the page after what was read.
        (
            attrs.evolve(BASE, second=T, seen=6, count=10, margin=1, size=3),
            5,
            PageQuery(T // S, T // S + 1, SORT_AUTO_ID, 3, 3),
        ),
        # Far into a second, pages stay about as large as the service allows.
        (
            attrs.evolve(BASE, second=T, seen=10_000, count=20_000, margin=1, size=5000),
            5000,
            PageQuery(T // S, T // S + 1, SORT_AUTO_ID, 3, 4999),
        ),
        # Nothing read yet: page 1 at the asked size.
        (attrs.evolve(BASE, second=T), 5, PageQuery(T // S, T // S + 1, SORT_AUTO_ID, 1, 5)),
        (attrs.evolve(BASE, done=True), 5, None),
    ],
)
def test_next_query(state: ExportCheckpoint, size: int, expected: PageQuery | None) -> None:
    """next_query picks the range, sort and page from the checkpoint."""
    assert next_query(state, size) == expected


AFTER_TIME = [
    # (state, count, keys, given indexes, expected changes)
    # The whole range in the page: everything in range, by (time, auto id); done.
    (
        BASE,
        3,
        [(T + 2 * S, 9), (T, 5), (T + 2 * S, 1)],
        [1, 2, 0],
        {"low": BASE.until + 1, "done": True},
    ),
    # A full page over several seconds: give the seconds before the last; low moves there.
    (BASE, 10, [(T, 1), (T + S, 2), (T + 5 * S, 3)], [0, 1], {"low": T + 5 * S}),
    # A lead past until (ToDate included its second) ends the range: dropped.
    (
        BASE,
        10,
        [(T + 99 * S, 1), (T + 100 * S, 2), (T + 100 * S, 3)],
        [0],
        {"low": BASE.until + 1, "done": True},
    ),
    # A lead before since (FromDate's second, since mid-second) is dropped.
    (
        attrs.evolve(BASE, since=T + 500, low=T + 500),
        2,
        [(T, 1), (T + S, 2)],
        [1],
        {"low": BASE.until + 1, "done": True},
    ),
    # One second fills the page: nothing given, page that second by ProspectAutoId.
    (BASE, 10, [(T, 4), (T, 2), (T, 9)], [], {"second": T}),
    # Resumed mid-page: keys up to `after` were given already.
    (
        attrs.evolve(BASE, after=(T + S, 2)),
        3,
        [(T, 1), (T + S, 2), (T + S, 3)],
        [2],
        {"low": BASE.until + 1, "after": None, "done": True},
    ),
]


@pytest.mark.parametrize(("state", "count", "keys", "given", "changes"), AFTER_TIME)
def test_after_a_time_page(
    state: ExportCheckpoint,
    count: int,
    keys: list[tuple[int, int]],
    given: list[int],
    changes: dict[str, object],
) -> None:
    """A page by ModifiedOn gives out what no later page can hold, once."""
    out, after = after_page(state, time_query(state), count, keys)
    assert out == given
    assert after == attrs.evolve(state, **changes)


CROWDED = attrs.evolve(BASE, second=T)
Q1 = PageQuery(0, 0, SORT_AUTO_ID, 1, 3)
Q2 = PageQuery(0, 0, SORT_AUTO_ID, 2, 2)  # offset 2: one before the first unread
READ_ONE_PAGE = attrs.evolve(CROWDED, after=(T, 5), seen=3, count=9, margin=1, size=3)


@pytest.mark.parametrize(
    ("state", "query", "count", "keys", "given", "changes"),
    [
        # First page of a crowded second (a lead of the next second mixed in: dropped).
        (
            CROWDED,
            Q1,
            7,
            [(T, 3), (T + S, 1), (T, 2)],
            [2, 0],
            {"after": (T, 3), "seen": 3, "count": 7, "margin": 1, "size": 3},
        ),
        # The service cut the page to 2: pages go by at most 2 from here.
        (
            CROWDED,
            PageQuery(0, 0, SORT_AUTO_ID, 1, 5),
            7,
            [(T, 1), (T, 2)],
            [0, 1],
            {"after": (T, 2), "seen": 2, "count": 7, "margin": 1, "size": 2},
        ),
        # The next page overlaps the last lead read: the rest is given out.
        (READ_ONE_PAGE, Q2, 9, [(T, 5), (T, 6)], [1], {"after": (T, 6), "seen": 4}),
        # Two left and the page does not overlap what was read: read again, nothing given.
        (READ_ONE_PAGE, Q2, 7, [(T, 8), (T, 9)], [], {"count": 7, "margin": 4}),
        # Two left but the page still overlaps: nothing can have been skipped.
        (
            READ_ONE_PAGE,
            Q2,
            7,
            [(T, 5), (T, 8)],
            [1],
            {"after": (T, 8), "seen": 4, "count": 7, "margin": 4},
        ),
        # The last page: low moves past the second, back to time mode.
        (
            READ_ONE_PAGE,
            Q2,
            4,
            [(T, 5), (T, 6)],
            [1],
            {
                "low": T + S,
                "after": None,
                "second": None,
                "seen": 0,
                "count": 0,
                "margin": 0,
                "size": 0,
            },
        ),
    ],
)
def test_after_a_crowded_page(
    state: ExportCheckpoint,
    query: PageQuery,
    count: int,
    keys: list[tuple[int, int]],
    given: list[int],
    changes: dict[str, object],
) -> None:
    """Pages inside one second go by ProspectAutoId; none is given twice or skipped."""
    out, after = after_page(state, query, count, keys)
    assert out == given
    assert after == attrs.evolve(state, **changes)


def test_a_count_without_leads_is_refused() -> None:
    """A first page that counts leads but holds none cannot be paged on."""
    with pytest.raises(ValueError, match="counts 4 leads but holds none"):
        after_page(BASE, time_query(BASE), 4, [])


def test_checkpoint_round_trips_and_refuses_junk() -> None:
    """to_json/from_json keep every field; anything else is a ValueError."""
    state = attrs.evolve(CROWDED, after=(T, 5), seen=6, count=7, margin=2, size=3)
    assert lsq.ExportCheckpoint.from_json(state.to_json()) == state
    for junk in ("", "[]", '{"version": 2}', state.to_json().replace('"seen":6', '"seen":"6"')):
        with pytest.raises(ValueError, match="not an export checkpoint"):
            lsq.ExportCheckpoint.from_json(junk)


def test_start_checks_its_range() -> None:
    """since and until must be aware, since not after until; next_since follows until."""
    utc = dt.UTC
    start = ExportCheckpoint.start(
        dt.datetime(2026, 1, 1, tzinfo=utc), dt.datetime(2026, 1, 2, tzinfo=utc)
    )
    assert start.next_since == dt.datetime(2026, 1, 2, 0, 0, 0, 1000, tzinfo=utc)
    with pytest.raises(lsq.ValidationError, match="since"):
        ExportCheckpoint.start(
            dt.datetime(2026, 1, 3, tzinfo=utc), dt.datetime(2026, 1, 2, tzinfo=utc)
        )
    with pytest.raises(lsq.ValidationError, match="timezone-aware"):
        ExportCheckpoint.start(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2, tzinfo=utc))
