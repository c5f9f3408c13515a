"""Developer sessions: ``nox`` runs tests (every installed Python), lint and typing."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests", "lint", "typing"]
nox.options.error_on_missing_interpreters = False

# Interpreters installed with pyenv are found even when they are not the active version.
for _bin in sorted(Path.home().glob(".pyenv/versions/3.*/bin")):
    os.environ["PATH"] += os.pathsep + str(_bin)

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)


def _sync(session: nox.Session, *groups: str) -> None:
    """Install the locked project and ``groups`` into the session's virtualenv."""
    args = ["uv", "sync", "--frozen", "--no-default-groups"]
    for group in groups:
        args += ["--group", group]
    session.run_install(
        *args,
        f"--python={session.virtualenv.location}",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite with branch coverage."""
    _sync(session, "test", "bench")  # the benchmark runner's --quick test draws its plot
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine", success_codes=[0, 1])
    session.run("coverage", "report")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    _sync(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict on the package, and on the user code in tests/typing."""
    _sync(session, "typing")
    session.run("mypy", "--strict", "-p", "leadsq_async")
    session.run("mypy", "--strict", "tests/typing")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Run the benchmarks (not run by default; pass --quick for a short run)."""
    _sync(session, "bench")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Build the docs site strictly (a broken link or reference fails), as CI does."""
    _sync(session, "docs")
    session.run("mkdocs", "build", "--strict", "--site-dir", session.create_tmp() + "/site")
