"""The README is a short front page, and the docs say what the code and CI do."""

from __future__ import annotations

import re
from pathlib import Path

import leadsq_async as lsq

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_README_LINES = 400
TREE_LINE = re.compile(
    r"^(?P<indent>(?:│   |    )*)(?:├── |└── )?(?P<name>\w+)(?: \(also (?P<also>\w+)\))?$"
)


def test_readme_is_at_most_400_lines() -> None:
    """README.md stays the short front page: at most 400 lines (the rest lives in docs/)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"


def test_readme_gives_the_test_command_ci_runs() -> None:
    """The README's test command is the one .ci/run runs, and CI builds the docs strictly."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "\nuv run pytest\n" in ci
    assert "uv run pytest              # the test suite" in README.read_text(encoding="utf-8")
    assert re.search(r"^uv run mkdocs build --strict\b", ci, re.MULTILINE)


def drawn_tree(text: str) -> dict[str, tuple[str | None, str | None]]:
    """Each exception of the first ```text block drawn as a tree: its parent and its "also"."""
    block = text.split("```text\n", 1)[1].split("```", 1)[0]
    tree: dict[str, tuple[str | None, str | None]] = {}
    parents: list[str] = []
    for number, line in enumerate(block.splitlines()):
        match = TREE_LINE.match(line)
        assert match is not None, f"cannot read line {number} of the tree: {line!r}"
        depth = len(match["indent"]) // 4 + (1 if number else 0)
        del parents[depth:]
        tree[match["name"]] = (parents[-1] if parents else None, match["also"])
        parents.append(match["name"])
    return tree


def actual_tree() -> dict[str, tuple[str | None, str | None]]:
    """Each exception ``leadsq_async`` exports: its exported parent and any built-in base."""
    tree: dict[str, tuple[str | None, str | None]] = {}
    for name in lsq.__all__:
        cls = getattr(lsq, name)
        if not (isinstance(cls, type) and issubclass(cls, lsq.LeadSquaredError)):
            continue
        ours = [b.__name__ for b in cls.__bases__ if issubclass(b, lsq.LeadSquaredError)]
        builtins = [b.__name__ for b in cls.__bases__ if b.__module__ == "builtins"]
        also = None if cls is lsq.LeadSquaredError else (builtins[0] if builtins else None)
        tree[name] = (ours[0] if ours else None, also)
    return tree


def test_the_drawn_exception_trees_match_the_classes() -> None:
    """The trees drawn in the errors guide and the README are the exported exception classes."""
    expected = actual_tree()
    for page in (ROOT / "docs" / "guides" / "errors.md", README):
        assert drawn_tree(page.read_text(encoding="utf-8")) == expected, page.name


def test_every_docs_page_is_in_the_nav() -> None:
    """Every Markdown page under docs/ is named in mkdocs.yml's nav (strict builds need it)."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config.split("\nnav:\n", 1)[1]
    pages = {
        str(p.relative_to(ROOT / "docs"))
        for p in (ROOT / "docs").rglob("*.md")
        if "_hooks" not in p.parts
    }
    named = set(re.findall(r"^\s*- (?:[^:\n]+: )?([\w/.-]+\.md)\s*$", nav, re.MULTILINE))
    assert pages == named
