"""The summary printed when an import ends: the whole results file, and what to do next."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TextIO

from .. import Stats
from ._display import MIN_SPAN, Tally

__all__ = [
    "FIELDS_CALL",
    "advice",
    "refused_whole",
    "render_summary",
    "rows_per_call",
    "throughput",
]

#: The client's one call for the account's lead fields (``--schema account``): it carries no row.
FIELDS_CALL = "LeadsMetaData.Get"


def rows_per_call(stats: Stats) -> float:
    """Rows per call among the calls that carry rows (the fields' fetch left out)."""
    carrying = [e for name, e in stats.endpoints.items() if name != FIELDS_CALL]
    calls = sum(e.calls for e in carrying)
    return sum(e.rows for e in carrying) / calls if calls else 0.0


def throughput(tally: Tally, stats: Stats) -> str:
    """Rows per second over the time calls ran, against the ceiling (or why there is none)."""
    ceiling = "no client-side limit" if tally.ceiling is None else f"{tally.ceiling:.0f} rows/s"
    if stats.calls == 0:
        return f"no calls were sent (ceiling: {ceiling})"
    if tally.first_call is None:  # only the account's fields were asked for
        return f"no rows were sent (ceiling: {ceiling})"
    rate = tally.rate()
    if rate is None:
        return (
            f"calls ran {tally.span():.1f}s, too short to measure a rate "
            f"(under {MIN_SPAN:.0f}s; ceiling: {ceiling})"
        )
    of = "" if tally.ceiling is None else f" of a {ceiling} ceiling"
    return f"{rate:.0f} rows/s{of}, over the {tally.span():.1f}s calls ran"


def refused_whole(stats: Stats) -> str:
    """The calls the service refused whole (perhaps for one bad row) and what sorting them
    out cost."""
    how = f", {stats.splits} of them halved" if stats.splits else ""
    return (
        f"calls refused whole: {stats.calls_refused_whole}{how}; sorting them out took "
        f"{stats.sorting_calls} more calls"
    )


def advice(statuses: Counter[str], op: str) -> list[str]:
    """What to do about rows that did not end ok (unknown outcomes first)."""
    out: list[str] = []
    unknown = statuses["unknown_outcome"]
    if unknown:
        out.append(
            f"{unknown} rows have an unknown outcome: the call carrying them may or may not "
            "have been applied."
        )
        if op == "create":
            out.append(
                "  --resume looks up those with EmailAddress or Phone and creates them only if "
                "they are not there (results say reconciled when found). The others have no "
                "unique field to look them up by: check them in LeadSquared, or send them again "
                "with --resume --retry-unknown, which may create a duplicate lead."
            )
        elif op == "activity":
            out.append(
                "  Look at the leads' activities in LeadSquared before sending them again with "
                "--resume --retry-unknown: a resent activity that was applied is posted twice."
            )
        else:
            out.append(
                "  Send them again with --resume --retry-unknown (an upsert or update is "
                "matched on its search column, so a resend applies the same change again)."
            )
    if statuses["error"]:
        out.append(
            f"{statuses['error']} rows were not applied (status error); --resume sends them again."
        )
    return out


def render_summary(
    tally: Tally,
    stats: Stats,
    elapsed: float,
    *,
    out: TextIO,
    rich: bool,
    op: str = "create",
    results: Path | None = None,
) -> None:
    """Print the summary: rows by status and error type over the whole results file."""
    statuses, types = tally.whole_file()
    status_rows = [(name, statuses[name]) for name in sorted(statuses) if statuses[name]]
    type_rows = sorted((k, v) for k, v in types.items() if v)
    missing = tally.total - tally.skipped - tally.done
    first = (
        f"rows in file: {tally.total}, skipped (already answered): {tally.skipped}, "
        f"answered now: {tally.done} in {elapsed:.1f}s"
    )
    if missing > 0:
        first += f", not answered yet: {missing}"
    # Refused before sending: the line did not parse or the client's checks refused it; the
    # other rejected rows were refused by the service, in a call.
    before = types["ValidationError"] + types["ParseError"]
    refused = (
        f"rows refused before sending: {before}, "
        f"refused by the service: {max(statuses['rejected'] - before, 0)}"
    )
    fetched = stats.endpoints.get(FIELDS_CALL)
    fields = f", {fetched.calls} for the account's fields" if fetched and fetched.calls else ""
    lines = [
        first,
        refused,
        f"calls: {stats.calls} ({rows_per_call(stats):.1f} rows per call{fields}), "
        f"429s: {stats.rate_limited}, retries: {stats.retries}; {throughput(tally, stats)}",
    ]
    if stats.calls_refused_whole:
        lines.append(refused_whole(stats))
    if results is not None:
        lines.append(f"results: {results}")
    lines += advice(statuses, op)
    where = " (whole results file, earlier runs included)" if tally.skipped else ""
    if rich and out.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            console = Console(file=out)
            table = Table(title="import summary" + where)
            table.add_column("status")
            table.add_column("rows", justify="right")
            for name, count in status_rows:
                table.add_row(name, str(count))
            console.print(table)
            if type_rows:
                kinds = Table(title="by error type")
                kinds.add_column("error type")
                kinds.add_column("rows", justify="right")
                for name, count in type_rows:
                    kinds.add_row(name, str(count))
                console.print(kinds)
            for line in lines:
                console.print(line, highlight=False, markup=False)
            return
    print(f"summary by status{where}:", file=out)
    for name, count in status_rows or [("(none)", 0)]:
        print(f"  {name:<16} {count:>8}", file=out)
    if type_rows:
        print("summary by error type:", file=out)
        for name, count in type_rows:
            print(f"  {name:<24} {count:>8}", file=out)
    for line in lines:
        print(line, file=out)
    out.flush()
