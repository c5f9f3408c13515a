"""How to read every lead modified in a range exactly once: the checkpoint and the plan.

Pure decisions, no I/O. ``next_query`` says which page to ask for next, ``after_page`` what
to give out of its answer and where that leaves the export. Times are whole milliseconds
since the epoch (UTC); the service writes lead times to the second and filters on whole
seconds. A lead's key is (its ModifiedOn, its ProspectAutoId).

- A range is read from its oldest end, sorted by ModifiedOn, always from page 1 with
  ``FromDate`` moved forward: a full page gives out every lead of the seconds before its last
  one (that second may go on in the next page) and the next query starts at that second. No
  PageIndex over a changing range: a lead modified meanwhile leaves the range without
  shifting anything, and the page size bounds what is held.
- Only when one second holds more leads than a page does the plan page (PageIndex), inside
  that second, sorted by ProspectAutoId, which is unique and never changes (leads tying on
  ModifiedOn come in no stable order). A lead leaving the second shifts the later pages back,
  so each page starts a few positions before the first unread lead (PageSize chosen so that
  a page starts there): a page that overlaps what was read proves nothing was skipped; one
  that does not is read again from further back. Leads already given out are known by their
  ProspectAutoId.
- ``FromDate`` is taken to include its own second; ``ToDate`` may or may not, so it is set a
  second past the range and leads past the range's end are dropped. ``until`` is never later
  than the second the export starts in, so a lead modified during the export is either read
  already or, its new time being later than ``until``, left for the next run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import attrs

from .._errors import ValidationError

__all__ = [
    "MAX_PAGE",
    "SORT_AUTO_ID",
    "SORT_MODIFIED",
    "ExportCheckpoint",
    "PageQuery",
    "after_page",
    "from_ms",
    "next_query",
    "to_ms",
]

#: The most leads the service answers in one ``Leads.RecentlyModified`` call.
MAX_PAGE = 5000
SORT_MODIFIED = "ModifiedOn"
SORT_AUTO_ID = "ProspectAutoId"
_MS = 1000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_VERSION = 1

Key = tuple[int, int]


def to_ms(when: dt.datetime, field: str) -> int:
    """An aware datetime as whole milliseconds since the epoch (UTC)."""
    if not isinstance(when, dt.datetime):
        raise ValidationError(field, f"must be a datetime, got {type(when).__name__}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValidationError(field, "must be timezone-aware (e.g. tzinfo=datetime.timezone.utc)")
    return (when - _EPOCH) // dt.timedelta(milliseconds=1)


def from_ms(ms: int) -> dt.datetime:
    """Milliseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + dt.timedelta(milliseconds=ms)


def _second(ms: int) -> int:
    return ms - ms % _MS


@attrs.frozen
class ExportCheckpoint:
    """Where a read of the leads modified in a range stands: give it back to resume.

    Small and serialisable (``to_json()`` / ``from_json()``). ``since`` and ``until`` are
    the range (both included); every lead modified before ``low`` has been given out, and so
    has every lead from ``low`` on whose (ModifiedOn, ProspectAutoId) is at most ``after``.
    ``second``, ``seen``, ``count``, ``margin`` and ``size`` say where the paging of one
    crowded second stands. Times are milliseconds since the epoch (UTC); ``next_since`` is
    where the next run starts.
    """

    since: int
    until: int
    low: int
    after: tuple[int, int] | None = None
    second: int | None = None
    seen: int = 0
    count: int = 0
    margin: int = 0
    size: int = 0
    done: bool = False

    @classmethod
    def start(cls, since: dt.datetime, until: dt.datetime) -> ExportCheckpoint:
        """The checkpoint of a run that has read nothing yet."""
        low, high = to_ms(since, "since"), to_ms(until, "until")
        if low > high:
            raise ValidationError("since", "must not be later than until")
        return cls(low, high, low)

    @property
    def next_since(self) -> dt.datetime:
        """Where the next run starts: just after ``until``."""
        return from_ms(self.until + 1)

    @property
    def since_datetime(self) -> dt.datetime:
        """``since`` as an aware UTC datetime."""
        return from_ms(self.since)

    @property
    def until_datetime(self) -> dt.datetime:
        """``until`` as an aware UTC datetime."""
        return from_ms(self.until)

    def to_json(self) -> str:
        """The checkpoint as one line of JSON."""
        data = {"version": _VERSION, **attrs.asdict(self)}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ExportCheckpoint:
        """A checkpoint from ``to_json()``'s text; ``ValueError`` if it is not one."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.pop("version", None) != _VERSION:
                raise ValueError("not a version-1 checkpoint")
            after = data.get("after")
            if after is not None:
                data["after"] = (int(after[0]), int(after[1]))
            ints = ("since", "until", "low", "seen", "count", "margin", "size")
            for name in ints:
                if type(data.get(name, 0)) is not int:
                    raise ValueError(f"{name} must be a whole number")
            if data.get("second") is not None and type(data["second"]) is not int:
                raise ValueError("second must be a whole number")
            checkpoint = cls(**data)
        except (TypeError, ValueError, IndexError, KeyError) as error:
            raise ValueError(f"not an export checkpoint: {error}") from None
        if not checkpoint.since <= checkpoint.low or checkpoint.since > checkpoint.until:
            raise ValueError("not an export checkpoint: its range is inconsistent")
        return checkpoint


@attrs.frozen
class PageQuery:
    """One ``Leads.RecentlyModified`` call: whole seconds since the epoch, sort and page."""

    from_second: int
    to_second: int
    sort: str
    page_index: int
    page_size: int


def next_query(state: ExportCheckpoint, page_size: int) -> PageQuery | None:
    """The next page to read, or None when the range is done."""
    if state.done:
        return None
    if state.second is None:
        # ToDate a second past the range: included or not, the range's last second is read.
        to = state.until // _MS + 1
        return PageQuery(state.low // _MS, to, SORT_MODIFIED, 1, page_size)
    size = state.size or page_size
    # Start a little before the first unread lead, so that the page overlaps what was read
    # (or shows that leads left): ``margin`` positions, more after a page that did not.
    start = max(0, state.seen - state.margin)
    second = state.second // _MS
    pages, size = _page_from(start, state.seen, size)
    return PageQuery(second, second + 1, SORT_AUTO_ID, pages + 1, size)


def _page_from(start: int, seen: int, largest: int) -> tuple[int, int]:
    """(pages before, page size) of the page that starts at or before position ``start``
    and reaches furthest: an offset is a multiple of the page size, so the size is chosen
    (at least half the largest) to put one close before ``start``. If no such page reaches
    past ``seen`` (tiny pages), the page holding position ``seen``."""
    best = (start // largest, largest)
    for size in range(largest - 1, max(1, largest // 2) - 1, -1):
        pages = start // size
        if (pages + 1) * size > (best[0] + 1) * best[1]:
            best = (pages, size)
    if (best[0] + 1) * best[1] <= seen:
        return seen // largest, largest
    return best


def _not_given(state: ExportCheckpoint, key: Key) -> bool:
    """Whether the lead with ``key`` is in the range and not given out yet."""
    when = key[0]
    if not state.low <= when <= state.until:
        return False
    after = state.after
    if after is None:
        return True
    if state.second is not None and after[0] >= state.second:
        return key[1] > after[1]  # in a crowded second: ProspectAutoId order
    return key > after


def after_page(
    state: ExportCheckpoint, query: PageQuery, count: int, keys: Sequence[Key]
) -> tuple[list[int], ExportCheckpoint]:
    """Which leads of an answer to give out (indexes into ``keys``, in order) and the
    checkpoint once they are given; ``count`` is the answer's RecordCount.

    Raises ``ValueError`` for an answer that cannot be paged on (it counts leads on a first
    page that holds none).
    """
    if state.second is None:
        return _after_time_page(state, count, keys)
    return _after_second_page(state, query, count, keys)


def _after_time_page(
    state: ExportCheckpoint, count: int, keys: Sequence[Key]
) -> tuple[list[int], ExportCheckpoint]:
    order = sorted(range(len(keys)), key=keys.__getitem__)  # stable: (ModifiedOn, AutoId)
    last = keys[order[-1]][0] if keys else None
    if count <= len(keys) or (last is not None and last > state.until):
        given = [i for i in order if _not_given(state, keys[i])]
        return given, attrs.evolve(state, low=state.until + 1, after=None, done=True)
    if last is None:
        raise ValueError(f"the answer counts {count} leads but holds none")
    edge = _second(last)  # the page's last second may go on in the next page
    if _second(keys[order[0]][0]) < edge:
        given = [i for i in order if keys[i][0] < edge and _not_given(state, keys[i])]
        return given, attrs.evolve(state, low=max(edge, state.low), after=None)
    # One second fills the page (none before it is left): page it by ProspectAutoId.
    low = max(edge, state.low)
    return [], attrs.evolve(state, low=low, second=edge, seen=0, count=0, margin=0)


def _after_second_page(
    state: ExportCheckpoint, query: PageQuery, count: int, keys: Sequence[Key]
) -> tuple[list[int], ExportCheckpoint]:
    second = state.second
    assert second is not None
    order = sorted(range(len(keys)), key=lambda i: keys[i][1])
    offset = (query.page_index - 1) * query.page_size
    left = max(0, state.count - count) if state.count else 0  # leads gone since the last page
    after = state.after
    overlaps = offset == 0 or (bool(keys) and after is not None and keys[order[0]][1] <= after[1])
    if left and not overlaps:
        # Leads left, and the page does not overlap what was read: unread ones may have moved
        # before it. Read again from further back, giving nothing out of this page.
        margin = max(2 * state.margin, 2 * left, 1)
        return [], attrs.evolve(state, count=count, margin=margin)
    given = [i for i in order if _second(keys[i][0]) == second and _not_given(state, keys[i])]
    end = offset + len(keys)
    if not keys or end >= count:
        ended = attrs.evolve(
            state,
            low=second + _MS,
            after=None,
            second=None,
            seen=0,
            count=0,
            margin=0,
            size=0,
            done=second + _MS > state.until,
        )
        return given, ended
    size = state.size or len(keys)  # a service that cuts PageSize pages by its own size
    if after is None or keys[order[-1]][1] > after[1]:
        after = (second, keys[order[-1]][1])  # every lead of the second up to it is given
    margin = max(state.margin if left else 1, 2 * left, 1)
    return given, attrs.evolve(state, after=after, seen=end, count=count, margin=margin, size=size)
