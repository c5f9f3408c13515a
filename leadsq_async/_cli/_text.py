"""Reading the input's text: strict decoding with the line of the first bad byte, the CSV
delimiter taken from the header line, and times written as text."""

from __future__ import annotations

import codecs
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "DEFAULT_ENCODING",
    "DELIMITERS",
    "InputError",
    "check_encoding",
    "delimiter_name",
    "parse_delimiter",
    "sniff_delimiter",
    "text_lines",
    "utc_time",
]

DEFAULT_ENCODING = "utf-8-sig"
#: The delimiters ``--delimiter`` accepts by name, and those sniffed from the header line.
DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\\t": "\t", "\t": "\t", "|": "|"}
_SNIFFED = (",", ";", "\t", "|")
_CHUNK = 1 << 16


class InputError(Exception):
    """A problem of the whole input file: nothing is sent (exit code 2)."""


def check_encoding(name: str) -> str:
    """``name`` if Python knows that encoding; raises ``LookupError`` otherwise."""
    codecs.lookup(name)
    return name


def parse_delimiter(text: str) -> str:
    """The delimiter ``--delimiter`` names (``,``, ``;``, ``tab``, ``|``); ``ValueError`` else."""
    if text in DELIMITERS:
        return DELIMITERS[text]
    if text.lower() in DELIMITERS:
        return DELIMITERS[text.lower()]
    raise ValueError(f"the delimiter must be one of , ; tab |, got {text!r}")


def delimiter_name(delimiter: str) -> str:
    """How a delimiter is written on the command line."""
    return "tab" if delimiter == "\t" else delimiter


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _split_lines(text: str) -> list[str]:
    r"""Split at ``\n``, ``\r\n`` and ``\r``, keeping the endings (as ``newline=""`` does)."""
    return _LINE.findall(text)


def text_lines(path: Path, encoding: str) -> Iterator[str]:
    """The lines of ``path`` decoded strictly, endings kept.

    A byte that is not ``encoding`` raises ``InputError`` naming the file, the line and the
    ``--encoding`` option, before the line that holds it is given out.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line = 1
    offset = 0
    pending = ""
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # exc.object is the decoder's held bytes (or less a BOM) and then the chunk
                index = max(exc.start - len(exc.object) + len(chunk), 0)
                head = pending + chunk[:index].decode(encoding, errors="replace")
                where = line + len(_split_lines(head + "x")) - 1
                raise InputError(
                    f"{path} line {where}: the byte 0x{exc.object[exc.start]:02x} "
                    f"(file offset {offset + index}) is not valid {encoding}; pass --encoding "
                    "with the file's encoding (e.g. --encoding cp1252 or --encoding latin-1)"
                ) from None
            offset += len(chunk)
            pending += text
            parts = _split_lines(pending)
            # a last piece with no line end yet, or a lone \r a \n may follow, waits for more
            pending = parts.pop() if chunk and parts and not parts[-1].endswith("\n") else ""
            for part in parts:
                yield part
                line += 1
            if not chunk:
                if pending:
                    yield pending
                return


def sniff_delimiter(header: str) -> str:
    """The delimiter that splits the header line most often, outside quotes (``,`` if none)."""
    counts = dict.fromkeys(_SNIFFED, 0)
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_SNIFFED, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def utc_time(text: str) -> dt.datetime:
    """An ISO 8601 time (``YYYY-MM-DD HH:MM:SS`` too, and a ``Z``), aware: UTC unless it
    carries an offset. ``ValueError`` when it is not a time."""
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    when = dt.datetime.fromisoformat(iso)
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
