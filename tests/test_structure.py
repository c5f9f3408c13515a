"""The package's shape: one way for data to flow, no cycles, small modules, a fake of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import leadsq_async

PACKAGE = Path(leadsq_async.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every ``leadsq_async`` module ``path`` imports, at any depth of the file."""
    module = _name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("leadsq_async"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("leadsq_async"):
                found.add(target)
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    if any(_name(p) == candidate for p in MODULES):
                        found.add(candidate)
    return found - {module}


GRAPH = {_name(p): _imports(p) for p in MODULES}


#: The package's parts, lowest first, and the parts each may import (besides ``_errors``, which
#: every part may). Data flows one way: a part never imports one above it.
PARTS: dict[str, set[str]] = {
    "_util": set(),
    "_budgets": {"_util"},
    "_api": {"_util", "_budgets"},
    "_rules": {"_util", "_budgets", "_api"},
    "_queue": {"_util", "_budgets", "_api", "_rules"},
    "_observe": {"_util", "_budgets", "_api", "_rules", "_queue"},
    "_dispatch": {"_util", "_budgets", "_api", "_rules", "_queue", "_observe"},
}
#: The top level is the public face: the package, the two clients (the sync one with the thread
#: that hosts it), the accounts that hand out clients, settings and errors.
FACE = {"leadsq_async", "_client", "_accounts", "_sync", "_threaded", "_settings", "_errors"}
#: A generous guard only: modules are split where their jobs part, not at a line count.
MAX_LINES = 1000


def _part(module: str) -> str | None:
    """The part a ``leadsq_async`` module belongs to (None for the face, the CLI, the fake)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PARTS else None


def test_no_module_is_huge() -> None:
    """Every module stays readable in one sitting (a generous guard, not a target)."""
    long = {_name(p): n for p in MODULES if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long


def test_the_top_level_is_the_public_face() -> None:
    """Only the public face and the parts live at the package's top level."""
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert top == FACE - {"leadsq_async"}
    assert packages == set(PARTS) | {"_cli", "testing"}


@pytest.mark.parametrize("part", sorted(PARTS))
def test_each_part_states_its_job_and_what_it_may_import(part: str) -> None:
    """A part's ``__init__`` docstring says what it does and which parts it may import."""
    doc = ast.get_docstring(ast.parse((PACKAGE / part / "__init__.py").read_text()))
    assert doc
    assert "May import" in doc
    for other in PARTS[part]:
        assert f"``{other}``" in doc


@pytest.mark.parametrize("part", sorted(PARTS))
def test_each_part_imports_only_the_parts_below_it(part: str) -> None:
    """A part's modules import ``_errors``, their own part and the parts below, nothing above."""
    allowed = {part, *PARTS[part]}
    bad: dict[str, set[str]] = {}
    for name, imported in GRAPH.items():
        if _part(name) != part:
            continue
        outside = {m for m in imported if m != "leadsq_async._errors" and _part(m) not in allowed}
        if outside:
            bad[name] = outside
    assert not bad


def test_the_parts_form_no_cycle() -> None:
    """The rules themselves are a ladder: no part may import one that may import it."""
    for part, below in PARTS.items():
        for other in below:
            assert part not in PARTS[other]


def test_the_sender_knows_nothing_of_the_queue() -> None:
    """The sender imports nothing of the queue (verdicts flow back through the engine)."""
    assert not {m for m in GRAPH["leadsq_async._dispatch.sender"] if _part(m) == "_queue"}


def test_the_fake_imports_nothing_of_the_client() -> None:
    """leadsq_async.testing imports no leadsq_async._* module (nor the client package)."""
    for name, imported in GRAPH.items():
        if _within(name, "leadsq_async.testing"):
            outside = {m for m in imported if not _within(m, "leadsq_async.testing")}
            assert not outside, f"{name} imports {outside}"


def test_the_command_line_uses_only_public_names() -> None:
    """leadsq_async._cli imports only the public package (and the public testing package)."""
    for name, imported in GRAPH.items():
        if _within(name, "leadsq_async._cli"):
            private = {
                m
                for m in imported
                if not _within(m, "leadsq_async._cli")
                and not _within(m, "leadsq_async.testing")
                and m != "leadsq_async"
            }
            assert not private, f"{name} imports {private}"


def test_there_are_no_import_cycles() -> None:
    """The module import graph (package __init__ files aside) has no cycle."""
    graph = {
        name: {m for m in imported if m in GRAPH and not _is_package(m)}
        for name, imported in GRAPH.items()
        if not _is_package(name)
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def _is_package(name: str) -> bool:
    return any(_name(p) == name and p.name == "__init__.py" for p in MODULES)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")
