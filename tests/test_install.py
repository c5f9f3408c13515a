"""Installing like a Python user: plain pip, the extras, and what a missing extra says."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of this environment."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("module", "name", "extra"),
    [("redis", "RedisLimiter", "redis"), ("opentelemetry", "OpenTelemetry", "otel")],
)
def test_a_public_name_without_its_extra_names_the_extra(
    module: str, name: str, extra: str
) -> None:
    """Without its package installed, lsq.RedisLimiter or lsq.OpenTelemetry raises
    ModuleNotFoundError naming the package and the extra to install."""
    done = _python(
        f"""
        import sys
        sys.modules["{module}"] = None  # as if the {extra} extra were not installed
        import leadsq_async as lsq
        try:
            lsq.{name}
        except ModuleNotFoundError as exc:
            print(exc.name)
            print(exc)
        """
    )
    assert done.returncode == 0, done.stderr
    missing, message = done.stdout.splitlines()
    assert missing == module
    assert f"pip install 'leadsq-async[{extra}]'" in message


@pytest.mark.parametrize(
    "blocked", [("redis",), ("opentelemetry",), ("redis", "opentelemetry")], ids="+".join
)
def test_star_import_works_without_the_extras(blocked: tuple[str, ...]) -> None:
    """`from leadsq_async import *` works without redis or opentelemetry and binds every name
    of __all__; RedisLimiter is one of them only when redis is installed."""
    done = _python(
        f"""
        import sys
        for name in {blocked!r}:
            sys.modules[name] = None  # as if its extra were not installed
        from leadsq_async import *
        import leadsq_async as lsq
        print(LeadSquaredClient.__name__, "RedisLimiter" in dir())
        print(sorted(set(lsq.__all__) - set(dir())))
        """
    )
    assert done.returncode == 0, done.stderr
    bound, unbound = done.stdout.splitlines()
    assert bound == f"LeadSquaredClient {'redis' not in blocked}"
    assert unbound == "[]"


def test_redis_url_without_the_extra_names_it() -> None:
    """A client asked for a shared budget (redis_url) without redis names the extra too."""
    done = _python(
        """
        import sys
        sys.modules["redis"] = None
        import leadsq_async as lsq
        try:
            lsq.LeadSquaredClient("u$r", "secret", redis_url="redis://127.0.0.1:6379/0")
        except ImportError as exc:
            print(exc)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'leadsq-async[redis]'" in done.stdout


@pytest.mark.parametrize("command", ["demo", "fake-server"])
def test_serving_commands_without_uvicorn_name_the_extra(command: str) -> None:
    """`demo` and `fake-server` without uvicorn exit 2 with one line naming the cli extra."""
    done = _python(
        f"""
        import sys
        sys.modules["uvicorn"] = None  # as if only the base package were installed
        from leadsq_async._cli import main
        sys.exit(main([{command!r}]))
        """
    )
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install 'leadsq-async[cli]'" in lines[0]
    assert "Traceback" not in done.stderr


def test_fake_module_without_uvicorn_names_the_extra() -> None:
    """`python -m leadsq_async.testing` without uvicorn exits 2 naming the fake extra."""
    done = _python(
        """
        import sys
        sys.modules["uvicorn"] = None
        from leadsq_async.testing._cli import main
        sys.exit(main(["--port", "0"]))
        """
    )
    assert done.returncode == 2
    assert "pip install 'leadsq-async[fake]'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.pip_install
@pytest.mark.timeout(240)
def test_plain_pip_install_with_the_cli_extra_runs_the_demo(tmp_path: Path) -> None:
    """A fresh venv, `pip install '<repo>[cli]'` with plain pip: httpx2 and not httpx comes
    along, and `leadsq-async demo` works."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"{ROOT}[cli]"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    # Only the cli extra: neither redis nor the test tools came along.
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.lower()
    assert "uvicorn==" in listed
    assert "rich==" in listed
    assert "redis==" not in listed
    # The maintained HTTP stack only: httpx2 and httpcore2, not the old httpx and httpcore.
    names = {line.partition("==")[0] for line in listed.splitlines()}
    assert {"httpx2", "httpcore2"} <= names
    assert not names & {"httpx", "httpcore"}, names
    # The limit scaled twenty times so that 300 rows take a fraction of a second.
    demo = subprocess.run(
        [str(bindir / "leadsq-async"), "demo", "--rows", "300", "--rate", "25/0.25", "--plain"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Traceback" not in demo.stderr
    assert "rows per call" in demo.stdout  # the demo ran to its summary
    assert "300 generated leads" in demo.stdout


def test_readme_and_messages_name_only_real_extras() -> None:
    """Every extra README, the docs and the error messages name is one the package declares."""
    import re
    from importlib.metadata import metadata

    declared = set(metadata("leadsq-async").get_all("Provides-Extra") or [])
    assert {"cli", "fake", "redis", "examples", "test"} <= declared
    texts = [(ROOT / "README.md").read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in (ROOT / "leadsq_async").rglob("*.py")]
    texts += [p.read_text(encoding="utf-8") for p in (ROOT / "docs").rglob("*.md")]
    named = {
        extra
        for text in texts
        for group in re.findall(r"(?:leadsq-async|\.)\[([a-z,]+)\]", text)
        for extra in group.split(",")
    }
    assert named
    assert named <= declared, named - declared
    readme = texts[0]
    assert "pip install -e '.[test]'" in readme
    assert "pip install '.[cli]'" in readme
