"""The package's shape: one way for data to flow, no cycles, small modules, a fake of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import leadsq_async

PACKAGE = Path(leadsq_async.__file__).parent
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))
#: The batcher's modules: the sender must know none of them.
BATCHER = {"batcher", "rows", "groups", "ordering", "admission"}


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


def test_no_module_is_over_550_lines() -> None:
    """Every module of the package fits in 550 lines."""
    long = {_name(p): n for p in MODULES if (n := len(p.read_text().splitlines())) > 550}
    assert not long


def test_the_sender_knows_nothing_of_the_batcher() -> None:
    """_sender imports none of the batcher's modules (verdicts flow back through the engine)."""
    assert not {m.rpartition(".")[2] for m in GRAPH["leadsq_async._dispatch.sender"]} & BATCHER


@pytest.mark.parametrize(
    "module",
    ["_api.verdict", "_api.registry", "_queue.rows", "_queue.batcher", "_queue.admitting"],
)
def test_lower_layers_never_import_the_engine_or_the_client(module: str) -> None:
    """Nothing below the engine reaches back up to it or to the client."""
    names = {m.rpartition(".")[2] for m in GRAPH[f"leadsq_async.{module}"]}
    assert not names & {"engine", "_client", "sender"}


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
