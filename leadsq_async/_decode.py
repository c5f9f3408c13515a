"""Reading a bulk answer back row by row, trusting only what ties an entry to exactly one row.

What ties an entry of a Bulk/Create or Bulk/CreateOrUpdate answer to a row is its RowNumber.
A row no entry answers with certainty gets ``ResponseMismatchError``; for a create that means
its outcome is unknown, which is true, where another row's LeadId would be a lie.
"""

from __future__ import annotations

from ._errors import ResponseMismatchError
from ._wire import RowAnswer, structure_list

__all__ = ["MISSING", "by_row_number"]

MISSING = "the answer did not account for this row"
_UNTRUSTED = "the answer's row numbering cannot be trusted (not each of 1..n once)"


def by_row_number(count: int, data: object) -> list[RowAnswer | ResponseMismatchError]:
    """Each of ``count`` rows' entry in a Bulk/Create or Bulk/CreateOrUpdate answer.

    The numbering is trusted only if the answer has exactly ``count`` entries numbered 1 to
    ``count``, each once (in any order). Otherwise (a RowNumber outside 1..count, a repeated
    one, or an entry too many or too few) every row gets ``ResponseMismatchError``: numbering
    that is 0-based or shifted would pair a row with another row's LeadId or error, and which
    entries are wrong cannot be told. No row is an exception: nothing else in an entry names
    the row it answers (a LeadId is the service's answer, not the caller's question), so a
    row is never matched by its position, by elimination or by its LeadId.
    """
    answers = structure_list(data, RowAnswer)
    numbers = [answer.row_number for answer in answers]
    if len(answers) != count or set(numbers) != set(range(1, count + 1)):
        return [ResponseMismatchError(_UNTRUSTED) for _ in range(count)]
    placed = {answer.row_number: answer for answer in answers}
    return [placed[number] for number in range(1, count + 1)]
