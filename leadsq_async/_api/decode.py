"""Reading a bulk answer back row by row, trusting only what ties an entry to exactly one row.

Answers are read entry by entry, so a malformed entry costs at most the rows it might answer,
never the whole call. What ties an entry to a row is its RowNumber (Bulk/Create,
Bulk/CreateOrUpdate, the bulk activity APIs) or its IdentifierValue (Bulk/UpdateV2). A row
no entry answers with certainty gets ``ResponseMismatchError``; for a create that means its
outcome is unknown, which is true, where another row's LeadId would be a lie.

``RowNumbered`` is the one reader of the RowNumber shape: an endpoint gives it what an entry
means for its row, and the documented answer of success it may read at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import attrs

from .._errors import ResponseMismatchError
from .answers import IdentifiedLead, WireError, read_key, structure_entry

__all__ = [
    "MISSING",
    "AtOnce",
    "RowNumbered",
    "by_identifier",
    "by_row_number",
    "is_phone_key",
    "norm",
]

MISSING = "the answer did not account for this row"
_UNTRUSTED = "the answer's row numbering cannot be trusted (not each of 1..n once)"
_UNREADABLE = "the answer has no entry readable as this row's"
_MALFORMED = "the answer's entry for this row is malformed"
_TWICE = "the answer named this row more than once"
_SHARED = "the answer's entry for this row fits another row of the call too"
_Answer = TypeVar("_Answer")
_Outcome = TypeVar("_Outcome")
_PHONE_KEYS = frozenset({"phone", "mobile"})
_DIGITS = frozenset("0123456789")
_LONGEST_COUNTRY_CODE = 3
_SHORTEST_NUMBER = 7  # digits a phone number keeps once its country code is taken off


def norm(value: str) -> str:
    """A search value as compared with its echo: without surrounding space, any case."""
    return value.strip().casefold()


def by_row_number(
    count: int, data: object, kind: type[_Answer]
) -> list[_Answer | ResponseMismatchError]:
    """Each of ``count`` rows' entry (read as ``kind``) in an answer numbered by RowNumber.

    Bulk/Create and Bulk/CreateOrUpdate answer so, and the bulk activity APIs.

    ``data`` must be a JSON array (else ``WireError``: nothing in it can be read). Each
    entry's RowNumber is read on its own, even where the rest of the entry is malformed; a
    number is unreadable if the entry is no object, or its RowNumber is absent, null, or not
    an integer (a float, a boolean, a non-digit string).

    The numbering is trusted only if all of these hold:

    * the array has exactly ``count`` entries (readable or not);
    * every readable RowNumber is within 1..count and none repeats;
    * RowNumbers 1 and ``count`` are both readable. When every number is readable this
      follows from the rules above; when some are not, it is what rules out a shifted
      numbering: ``[null, 1, 2]`` for three rows may be 0-based with the 0 entry broken, and
      ``[null, 2, 3]`` may be shifted up with the 4 broken, so neither is trusted.

    Otherwise every row gets ``ResponseMismatchError``: numbering that is 0-based or shifted
    would pair a row with another row's LeadId or error, and which entries are wrong cannot
    be told. No row is an exception: nothing else in an entry names the row it answers (a
    LeadId is the service's answer, not the caller's question), so a row is never matched by
    its position, by elimination or by its LeadId.

    With the numbering trusted, a well-formed entry answers its row. A row whose entry is
    malformed, or that no readable number names (its entry's number was unreadable), gets
    ``ResponseMismatchError`` alone.
    """
    if not isinstance(data, list):
        raise WireError(f"expected a JSON array, got {type(data).__name__}")
    numbers = [read_key(entry, "RowNumber", int) for entry in data]
    readable = [number for number in numbers if number is not None]
    seen = set(readable)
    if (
        len(data) != count
        or len(seen) != len(readable)
        or not all(1 <= number <= count for number in seen)
        or not {1, count} <= seen
    ):
        return [ResponseMismatchError(_UNTRUSTED) for _ in range(count)]
    placed: list[_Answer | ResponseMismatchError | None] = [None] * count
    for entry, number in zip(data, numbers, strict=True):
        if number is not None:
            answer = structure_entry(entry, kind)
            placed[number - 1] = ResponseMismatchError(_MALFORMED) if answer is None else answer
    return [ResponseMismatchError(_UNREADABLE) if p is None else p for p in placed]


@attrs.frozen
class AtOnce(Generic[_Outcome]):
    """An endpoint's documented answer of success, which its decoder reads at once.

    Such an entry has exactly RowNumber, ``id_key`` and ``flag``: ``flag`` is ``true`` and
    ``id_key`` a non-empty string, the id its row's outcome, ``outcome(id)``, carries.
    """

    id_key: str
    flag: str
    outcome: Callable[[str], _Outcome]
    keys: frozenset[str] = attrs.field(init=False)

    @keys.default
    def _keys(self) -> frozenset[str]:
        return frozenset({"RowNumber", self.id_key, self.flag})


@attrs.frozen
class RowNumbered(Generic[_Answer, _Outcome]):
    """The reading of an answer numbered by RowNumber, one outcome per row.

    ``by_row_number`` ties entries to rows and reads each as ``kind``; ``outcome`` says what a
    read entry means for its row (a row without one gets its ``ResponseMismatchError``).
    ``usual``, if given, is read at once when every entry is in it and numbered 1..n in
    order: the speed of the common answer, which must give what reading it row by row gives
    (tests/test_fast_paths.py checks every decoder that has one).
    """

    kind: type[_Answer]
    outcome: Callable[[_Answer], _Outcome]
    usual: AtOnce[_Outcome] | None = None

    def __call__(self, count: int, data: object) -> list[_Outcome | ResponseMismatchError]:
        """Each of ``count`` rows' outcome; ``WireError`` if ``data`` is no JSON array."""
        if self.usual is not None:
            fast = self.at_once(count, data)
            if fast is not None:
                return fast
        return self.row_by_row(count, data)

    def at_once(self, count: int, data: object) -> list[_Outcome | ResponseMismatchError] | None:
        """The outcomes of an answer wholly in the ``usual`` shape, in order; else None."""
        usual = self.usual
        if usual is None or type(data) is not list or len(data) != count:
            return None
        keys, id_key, flag, outcome = usual.keys, usual.id_key, usual.flag, usual.outcome
        out: list[_Outcome | ResponseMismatchError] = []
        for number, entry in enumerate(data, 1):
            if type(entry) is not dict or entry.keys() != keys:
                return None
            row_number, found = entry["RowNumber"], entry[id_key]
            if (
                type(row_number) is not int
                or row_number != number
                or entry[flag] is not True
                or type(found) is not str
                or not found
            ):
                return None
            out.append(outcome(found))
        return out

    def row_by_row(self, count: int, data: object) -> list[_Outcome | ResponseMismatchError]:
        """The outcomes as ``by_row_number`` ties and reads each entry."""
        outcome = self.outcome
        return [
            answer if isinstance(answer, ResponseMismatchError) else outcome(answer)
            for answer in by_row_number(count, data, self.kind)
        ]


def is_phone_key(attribute: str) -> bool:
    """Whether an UpdateV2 search key holds phone numbers, to be matched on their digits.

    Only ``Phone`` and ``Mobile`` (in any case), the service's own phone fields. Other keys
    are matched like EmailAddress even when their values look like phone numbers: telling a
    custom phone field from, say, an account number by its values would be a guess.
    """
    return attribute.casefold() in _PHONE_KEYS


def _digits(value: str) -> str:
    return "".join(c for c in value if c in _DIGITS)


def _without_country_code(digits: str) -> list[str]:
    """``digits`` without 1-3 leading digits (a country code or trunk 0), if 7 or more remain."""
    return [
        digits[cut:]
        for cut in range(1, _LONGEST_COUNTRY_CODE + 1)
        if len(digits) - cut >= _SHORTEST_NUMBER
    ]


def by_identifier(
    keys: Sequence[str], lists: Sequence[tuple[str, Sequence[Any]]], *, phone: bool = False
) -> list[tuple[str, IdentifiedLead] | ResponseMismatchError]:
    """Each row's entry, with the name of its list, in a Bulk/UpdateV2 answer.

    ``keys`` are the rows' search values (as ``norm`` gives them); ``lists`` pairs a name
    with the raw entries of each of the answer's lists. Entries are read one by one:

    * an entry whose IdentifierValue cannot be read as a string (no object, absent, null,
      not a string) names no row and is skipped, as one without a value always was;
    * an entry whose IdentifierValue reads but which is malformed elsewhere still names its
      row, which then gets ``ResponseMismatchError``: the entry cannot answer it, and
      another entry for the row would be contradicted by it.

    An entry fits a row if their values are equal as ``norm`` gives them. With ``phone``
    (see ``is_phone_key``) it also fits if their ASCII digits, punctuation and spaces
    ignored, are equal, or one is the other behind 1-3 more leading digits (a country code
    such as 91 in ``+91-98765 43210``, or a trunk 0) with at least 7 digits left; values
    without digits are only matched exactly.

    A row is answered only if exactly one entry fits it, that entry fits no other row of
    the call, and it is well-formed. Otherwise the row gets ``ResponseMismatchError``: when
    a lenient match cannot tell two rows apart, neither is answered.
    """
    entries: list[tuple[str, Any]] = []
    exact: dict[str, list[int]] = {}
    by_digits: dict[str, list[int]] = {}
    by_shorter: dict[str, list[int]] = {}  # an entry's digits with a country code taken off
    for kind, raw in lists:
        for entry in raw:
            value = read_key(entry, "IdentifierValue", str)
            if value is None:
                continue
            index = len(entries)
            entries.append((kind, entry))
            exact.setdefault(norm(value), []).append(index)
            if phone and (digits := _digits(value)):
                by_digits.setdefault(digits, []).append(index)
                for shorter in _without_country_code(digits):
                    by_shorter.setdefault(shorter, []).append(index)
    fits: list[set[int]] = []
    for key in keys:
        found = set(exact.get(key, ()))
        if phone and (digits := _digits(key)):
            found.update(by_digits.get(digits, ()))
            found.update(by_shorter.get(digits, ()))  # the echo added a country code
            for shorter in _without_country_code(digits):
                found.update(by_digits.get(shorter, ()))  # the echo dropped one
        fits.append(found)
    rows_fitted = Counter(index for found in fits for index in found)
    out: list[tuple[str, IdentifiedLead] | ResponseMismatchError] = []
    for found in fits:
        if len(found) != 1:
            out.append(ResponseMismatchError(_TWICE if found else MISSING))
            continue
        (index,) = found
        if rows_fitted[index] > 1:
            out.append(ResponseMismatchError(_SHARED))
            continue
        kind, entry = entries[index]
        lead = structure_entry(entry, IdentifiedLead)
        out.append(ResponseMismatchError(_MALFORMED) if lead is None else (kind, lead))
    return out
