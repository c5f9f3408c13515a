"""Every command README.md and the docs show still works as written.

The commands in console blocks are read line by line (a block with ``$`` prompts: the prompted
lines only). ``leadsq-async`` command lines must parse with the command's own parser (running
them needs an account or a file); the nox sessions, the extras named to pip and the benchmark
scenarios named to ``python -m benchmarks`` must exist. Commands that run the test suite, the
linters and the docs build are what CI itself runs.
"""

from __future__ import annotations

import ast
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from benchmarks.__main__ import EXTRA, SCENARIOS
from leadsq_async._cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_BLOCK = re.compile(r"```(?:console|bash|sh|shell)\n(.*?)```", re.S)


def _commands() -> list[tuple[str, list[str]]]:
    """(where, argv) for each command of each console block, split at ``&&``."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in _BLOCK.finditer(text):
            line_no = text.count("\n", 0, block.start()) + 2
            lines = block.group(1).splitlines()
            prompted = any(line.startswith("$ ") for line in lines)
            for offset, line in enumerate(lines):
                if prompted:
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                words = shlex.split(line, comments=True)
                where = f"{page.relative_to(ROOT)}:{line_no + offset}"
                command: list[str] = []
                for word in [*words, "&&"]:
                    if word == "&&":
                        if command:
                            found.append((where, command))
                        command = []
                    else:
                        command.append(word)
    return found


COMMANDS = _commands()


def _tail(argv: list[str], program: str) -> list[str] | None:
    """The arguments after ``program`` (also under ``uv run``), or None for another command."""
    if argv[:2] == ["uv", "run"]:
        argv = argv[2:]
    return argv[1:] if argv and argv[0] == program else None


def _ids(commands: list[tuple[str, list[str]]]) -> list[str]:
    return [where for where, _ in commands]


CLI = [(w, a) for w, a in COMMANDS if _tail(a, "leadsq-async") is not None]


def test_the_pages_show_commands() -> None:
    """The reader finds the command line and its tools in console blocks."""
    assert len(CLI) >= 10
    assert any(_tail(a, "nox") is not None for _, a in COMMANDS)


@pytest.mark.parametrize(("where", "argv"), CLI, ids=_ids(CLI))
def test_a_leadsq_async_command_parses_as_written(where: str, argv: list[str]) -> None:
    """The command's own parser takes the line (a usage error would exit 2)."""
    args = _tail(argv, "leadsq-async")
    assert args is not None
    parsed = build_parser().parse_args(args)
    assert parsed.command == args[0], where


def _nox_sessions() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any("session" in ast.unparse(d) for d in node.decorator_list)
    }


def test_every_nox_session_shown_exists() -> None:
    """``nox -s NAME ...`` names sessions the noxfile has."""
    sessions = _nox_sessions()
    shown = set()
    for _, argv in COMMANDS:
        args = _tail(argv, "nox")
        if args and args[0] == "-s":
            shown |= set(args[1:])
    assert shown
    assert shown <= sessions


def test_every_extra_shown_to_pip_exists() -> None:
    """``pip install '.[a,b]'`` and ``'leadsq-async[a]'`` name extras the project has."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = set(project["optional-dependencies"])
    shown = set()
    for _, argv in COMMANDS:
        args = _tail(argv, "pip") or []
        for word in args:
            match = re.fullmatch(r"(?:\.|leadsq-async)\[([\w,-]+)\]", word)
            if match:
                shown |= set(match.group(1).split(","))
    assert shown
    assert shown <= extras


def test_every_benchmark_scenario_shown_exists() -> None:
    """``python -m benchmarks --only NAME`` anywhere in the pages names a scenario."""
    names = set()
    for page in PAGES:
        names |= set(
            re.findall(r"python -m benchmarks --only (\w+)", page.read_text(encoding="utf-8"))
        )
    assert names
    assert names <= SCENARIOS.keys() | EXTRA.keys()
