"""``import --dry-run``: every row checked as the client would check it; nothing is sent."""

from __future__ import annotations

import math
from collections import Counter
from typing import TextIO

from .. import ValidationError, validate
from ._importer import ROWS_PER_CALL, ImportConfig, check_source
from ._options import UsageError
from ._source import ParseError, Row, build_operation
from ._text import delimiter_name

__all__ = ["dry_run"]

#: Refused rows listed one by one (the rest are counted).
SHOWN = 10


def dry_run(cfg: ImportConfig, *, out: TextIO) -> int:
    """Check the file and every row; print what an import would do. 0: all rows would be sent."""
    source = cfg.source
    if not cfg.path.is_file():
        raise UsageError(f"{cfg.path}: no such file")
    sendable = 0
    refused: Counter[str] = Counter()
    shown: list[str] = []

    def check(row: Row) -> None:
        nonlocal sendable
        error: Exception | None = row.error
        if error is None and row.fields is not None:
            try:
                validate(build_operation(cfg.op, row.fields, cfg.search_by, cfg.event))
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
    if cfg.rate is not None and calls:
        span = calls / cfg.rate.calls * cfg.rate.period
        took = f"about {span:.0f} s" if span < 90 else f"about {span / 60:.0f} min"
        timing = f", {'under 1 s' if span < 1 else took} at {cfg.rate}"
    fmt = cfg.fmt
    if fmt == "csv":
        fmt = f"CSV, delimiter {delimiter_name(source.used_delimiter())!r}"
    print(f"dry run: {cfg.path} ({fmt}, {cfg.encoding}) read whole; nothing was sent", file=out)
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
    out.flush()
    return 1 if refused else 0
