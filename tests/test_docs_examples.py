"""Every ```python block in README.md and docs/**.md runs, against the fake, as it is written.

A block is skipped only when the line just before its fence is ``<!-- not run: REASON -->``
with a reason. A block marked ``<!-- run with pytest -->`` is a test module: it runs under
pytest in a fresh directory whose pyproject.toml is the page's ```toml block holding
``[tool.pytest.ini_options]`` (so the configuration the guide tells users to write is tested);
``<!-- run with pytest, default configuration -->`` runs it with no configuration at all.
Other blocks run in this process, each in a fresh namespace, with the working directory and the
environment restored afterwards; tracebacks name the Markdown file and its line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_RUN = re.compile(r"<!-- not run:(?P<reason>.*?)-->")
RUN_WITH_PYTEST = "<!-- run with pytest -->"
RUN_WITH_PYTEST_DEFAULTS = "<!-- run with pytest, default configuration -->"
PYTEST_CONFIG = "[tool.pytest.ini_options]"


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int  # the 1-based line of its opening fence
    language: str
    code: str
    marker: str  # the line before the fence, stripped

    @property
    def name(self) -> str:
        """``file:line``, relative to the repository."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documents() -> list[Path]:
    """README.md and every page of the docs site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of ``path``, in order (fences at the start of a line only)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    start: int | None = None
    language = ""
    for index, line in enumerate(lines):
        if start is None and line.startswith("```"):
            start, language = index, line[3:].strip()
        elif start is not None and line.rstrip() == "```":
            marker = lines[start - 1].strip() if start > 0 else ""
            code = "\n".join(lines[start + 1 : index]) + "\n"
            found.append(Block(path, start + 1, language, code, marker))
            start = None
    assert start is None, f"{path.relative_to(ROOT)}:{start}: a fence is never closed"
    return found


def python_blocks() -> list[Block]:
    """Every ```python block of the README and the docs."""
    return [b for path in documents() for b in blocks(path) if b.language == "python"]


PYTHON_BLOCKS = python_blocks()
RUN = [b for b in PYTHON_BLOCKS if not b.marker.startswith("<!-- not run")]


def test_blocks_are_found() -> None:
    """The collector sees the README's and the guides' examples (a sanity floor)."""
    assert len(PYTHON_BLOCKS) >= 20
    assert any(b.path.name == "README.md" for b in RUN)


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.name)
def test_a_not_run_block_says_why(block: Block) -> None:
    """A ``not run`` marker is well formed and gives a non-empty reason."""
    if not block.marker.startswith("<!-- not run"):
        return
    match = NOT_RUN.fullmatch(block.marker)
    assert match is not None, f"{block.name}: write <!-- not run: REASON -->"
    assert match["reason"].strip(), f"{block.name}: the not-run marker needs a reason"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("block", RUN, ids=lambda b: b.name)
def test_python_block_runs(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The block runs to its end against the fake (in a fresh namespace or under pytest)."""
    monkeypatch.chdir(tmp_path)  # whatever a block writes lands here
    if block.marker in (RUN_WITH_PYTEST, RUN_WITH_PYTEST_DEFAULTS):
        run_under_pytest(block, tmp_path, configured=block.marker == RUN_WITH_PYTEST)
        return
    environ = dict(os.environ)
    # Line numbers match the Markdown file, so a traceback points at the page.
    code = compile("\n" * block.line + block.code, str(block.path), "exec")
    try:
        exec(code, {"__name__": "__main__"})
    finally:
        os.environ.clear()
        os.environ.update(environ)


def run_under_pytest(block: Block, directory: Path, *, configured: bool) -> None:
    """Run ``block`` as a test module in ``directory``, with its page's pytest configuration
    when ``configured`` (else with an empty one, pytest's and its plugins' defaults)."""
    config = ""
    if configured:
        configs = [
            b.code for b in blocks(block.path) if b.language == "toml" and PYTEST_CONFIG in b.code
        ]
        assert len(configs) == 1, f"{block.name}: its page needs one ```toml pytest block"
        config = configs[0]
    (directory / "pyproject.toml").write_text(config, encoding="utf-8")
    (directory / "test_example.py").write_text(block.code, encoding="utf-8")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=directory,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{block.name}:\n{done.stdout}\n{done.stderr}"
    assert " passed" in done.stdout
    assert "skipped" not in done.stdout  # an async test pytest-asyncio did not run
