"""``import --dry-run``: every row checked as the client would check it; nothing is sent.

It also finds the values of unique fields (EmailAddress, Phone) that more than one row of
the file carries: the service keeps one lead per value, so a create file with a repeat fails
at import time, and in an upsert or update file the later row overwrites the earlier one.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from .. import LeadSchema, LeadSquaredClient, LeadSquaredError, ValidationError, validate
from ._importer import ROWS_PER_CALL, ImportConfig, check_source
from ._options import UsageError
from ._source import ParseError, Row, build_operation
from ._text import delimiter_name

__all__ = ["dry_run", "unique_key"]

#: Refused rows listed one by one (the rest are counted).
SHOWN = 10
#: Repeated values listed one by one, and the lines listed for each.
SHOWN_REPEATS = 10
SHOWN_LINES = 10
#: The unique fields, by their name without case, and the name shown.
UNIQUE = {"emailaddress": "EmailAddress", "phone": "Phone"}


def unique_key(field: str, value: str) -> str | None:
    """A unique field's value as the service compares it (None: nothing to compare).

    An email address is the same whatever its case; a phone number is its digits.
    """
    if field == "EmailAddress":
        return value.strip().casefold() or None
    return "".join(ch for ch in value if ch.isdigit()) or None


def _uniques(fields: Mapping[str, object]) -> list[tuple[str, str, str]]:
    """(field, value as written, value compared) of each unique field of a row."""
    found = []
    for name, value in fields.items():
        field = UNIQUE.get(name.casefold())
        if field is not None and isinstance(value, str):
            key = unique_key(field, value)
            if key is not None:
                found.append((field, value.strip(), key))
    return found


def dry_run(cfg: ImportConfig, *, out: TextIO) -> int:
    """Check the file and every row; print what an import would do. 0: all rows would be sent."""
    source = cfg.source
    if not cfg.path.is_file():
        raise UsageError(f"{cfg.path}: no such file")
    schema, said, note = _schema(cfg)
    sendable = 0
    refused: Counter[str] = Counter()
    shown: list[str] = []
    # The first line of each unique value, and the lines of the values seen again.
    first: dict[tuple[str, str], tuple[int, str]] = {}
    again: dict[tuple[str, str], list[int]] = {}

    def check(row: Row) -> None:
        nonlocal sendable
        error: Exception | None = row.error
        if cfg.op != "activity" and row.fields is not None:  # an activity names its lead
            for field, value, key in _uniques(row.fields):
                seen = first.setdefault((field, key), (row.line, value))
                if seen[0] != row.line:
                    again.setdefault((field, key), []).append(row.line)
        if error is None and row.fields is not None:
            try:
                op = build_operation(cfg.op, row.fields, cfg.search_by, cfg.event)
                validate(op)
                if schema is not None:
                    schema.check(op)
            except (ValidationError, ParseError) as exc:
                error = exc
        if error is None:
            sendable += 1
            return
        refused[type(error).__name__] += 1
        if len(shown) < SHOWN:
            shown.append(f"  line {row.line}: {type(error).__name__}: {error}")

    total = check_source(source, check)
    per_call = ROWS_PER_CALL[cfg.op]
    calls = math.ceil(sendable / per_call)
    timing = ""
    rate = cfg.call_rate
    if rate is not None and calls:
        span = calls / rate.calls * rate.period
        took = f"about {span:.0f} s" if span < 90 else f"about {span / 60:.0f} min"
        timing = f", {'under 1 s' if span < 1 else took} at {rate}"
    fmt = cfg.fmt
    if fmt == "csv":
        fmt = f"CSV, delimiter {delimiter_name(source.used_delimiter())!r}"
    print(f"dry run: {cfg.path} ({fmt}, {cfg.encoding}) read whole; nothing was sent", file=out)
    print(f"rows checked {said}", file=out)
    if note is not None:
        print(note, file=out)
    print(
        f"rows in file: {total}; would be sent: {sendable} (calls: at least {calls}, up to "
        f"{per_call} rows each{timing}); refused before sending: {sum(refused.values())}",
        file=out,
    )
    if refused:
        print("refused by error type:", file=out)
        for name, count in sorted(refused.items()):
            print(f"  {name:<24} {count:>8}", file=out)
        print(f"first refused rows (of {sum(refused.values())}):", file=out)
        for line in shown:
            print(line, file=out)
        if sum(refused.values()) > len(shown):
            print(f"  ... and {sum(refused.values()) - len(shown)} more", file=out)
    if again:
        print(
            f"unique values repeated within the file: {len(again)} ({_repeat_effect(cfg.op)}):",
            file=out,
        )
        for (field, key), lines in list(again.items())[:SHOWN_REPEATS]:
            number, value = first[(field, key)]
            every = [number, *lines]
            listed = ", ".join(str(n) for n in every[:SHOWN_LINES])
            more = f" and {len(every) - SHOWN_LINES} more" if len(every) > SHOWN_LINES else ""
            print(f"  {field} {value!r} on {len(every)} lines: {listed}{more}", file=out)
        if len(again) > SHOWN_REPEATS:
            print(f"  ... and {len(again) - SHOWN_REPEATS} more values", file=out)
    out.flush()
    return 1 if refused or (again and cfg.op == "create") else 0


def _schema(cfg: ImportConfig) -> tuple[LeadSchema | None, str, str | None]:
    """The fields rows are checked against, how the summary names them, and a note when
    the account's fields were asked for but not had.

    The account's fields cost one ``LeadsMetaData.Get`` call (no write); when they cannot be
    had (no keys: the dry run works offline; or the call fails) every other check still runs,
    and the note says, once, that the fields were not checked and how to check them.
    """
    if cfg.op == "activity":  # an activity writes no lead field: nothing to check
        return None, "as the client checks them", None
    if cfg.schema is None:
        return (
            None,
            "as the client checks them (--no-schema: not against the account's fields)",
            None,
        )
    if isinstance(cfg.schema, Path):
        return LeadSchema.load(cfg.schema), f"against the fields saved in {cfg.schema}", None
    if not (cfg.access_key and cfg.secret_key):
        why = "no keys to ask for them"
    else:
        try:
            schema = asyncio.run(_fetch(cfg))
        except LeadSquaredError as exc:
            why = f"asking for them failed: {exc}"
        else:
            return schema, "against the account's fields (one LeadsMetaData.Get call)", None
    note = (
        f"note: the rows were NOT checked against the account's lead fields ({why}); to check "
        "them, set LSQ_ACCESS_KEY and LSQ_SECRET_KEY (one LeadsMetaData.Get call), or pass "
        "--schema FILE with a saved LeadsMetaData.Get answer (--no-schema: do not check)"
    )
    return None, "as the client checks them", note


async def _fetch(cfg: ImportConfig) -> LeadSchema:
    # One try and one retry: a dry run is a quick look, not an import that must get through.
    async with LeadSquaredClient(
        cfg.access_key,
        cfg.secret_key,
        base_url=cfg.base_url,
        rate_limit=cfg.rate,
        max_retries=1,
    ) as client:
        return await client.lead_fields()


def _repeat_effect(op: str) -> str:
    if op == "create":
        return "the service refuses a lead whose value another lead has"
    return "a later row changes the lead an earlier row changed"
