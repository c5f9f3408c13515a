"""What the Redis tests share: the machine's Redis, fresh prefixes, worker processes, a server.

Uses the machine's Redis (``REDIS_URL``, default ``redis://127.0.0.1:6379/0``); each test works
under its own random key prefix. Without a reachable Redis the tests skip locally and fail in
CI (``CI`` set). ``RedisServer`` starts a throwaway ``redis-server`` (optionally a one-node
cluster) on a free port for the tests that kill Redis or need a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from leadsq_async.testing import remote_reset, remote_summary
from leadsq_async.testing._workers import fresh_redis_prefix

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
WORKER = Path(__file__).resolve().parent / "redis_worker.py"
SECRET = "0123456789abcdef-the-raw-access-key"


def redis_or_fail() -> None:
    """Skip (locally) or fail (in CI) when the machine's Redis does not answer."""
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1) as r:
            r.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        message = f"no Redis answers at {REDIS_URL}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def fresh_prefix(kind: str = "leadsq-test") -> Iterator[str]:
    """A new key prefix on the machine's Redis; its keys are deleted afterwards."""
    redis_or_fail()
    with fresh_redis_prefix(REDIS_URL, kind) as name:
        yield name


async def newest(raw: aioredis.Redis, key: str) -> float:
    """The newest grant time in a log, in seconds of the Redis server's clock."""
    entries = await raw.zrange(key, -1, -1, withscores=True)
    return float(entries[0][1]) / 1e6


async def wait_for_field(raw: aioredis.Redis, key: str, field: str) -> str:
    """Wait (at most 2 s) until a background write has put ``field`` in hash ``key``."""
    for _ in range(200):
        value = await raw.hget(key, field)
        if value is not None:
            return str(value)
        await asyncio.sleep(0.01)
    raise AssertionError(f"{field} never reached {key}")


# -- worker processes ------------------------------------------------------------------------


class Workers:
    """Worker processes (tests/redis_worker.py), each with its own client per run."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.count = count
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, prefix: str, skews: tuple[float, ...] = (), *options: str) -> None:
        """Start the workers (``skews[i]`` offsets worker i's clocks) and wait until ready."""
        for index in range(self.count):
            command = [sys.executable, str(WORKER), self.url, "--index", str(index)]
            command += ["--redis-url", REDIS_URL, "--prefix", prefix, *options]
            if index < len(skews):
                command += ["--skew", str(skews[index])]
            self.processes.append(
                subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            )
        for process in self.processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"

    def order(self, index: int, limiter: str, start: float, end: float, *pairs: str) -> None:
        """Have worker ``index`` push creates from ``start`` to ``end`` (monotonic seconds)."""
        process = self.processes[index]
        assert process.stdin is not None
        process.stdin.write(" ".join(["run", limiter, str(start), str(end), *pairs]) + "\n")
        process.stdin.flush()

    def report(self, index: int) -> dict[str, Any]:
        """Worker ``index``'s report of its last run (a hung worker exits after 20 s)."""
        process = self.processes[index]
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, f"worker exited with {process.wait()}"
        result: dict[str, Any] = json.loads(line)
        return result

    def run(self, limiter: str, duration: float, ceiling: float, *pairs: str) -> dict[str, Any]:
        """All push creates for ``duration`` s; the fake's figures from one second on."""
        remote_reset(self.url)
        start = time.monotonic() + 0.2
        end = start + duration
        for index in range(self.count):
            self.order(index, limiter, start, end, *pairs)
        # Count the steady state only: from one second after the start (past the start-up)
        # to the end.
        time.sleep(max(0.0, start + 1.0 - time.monotonic()))
        first = remote_summary(self.url, 1.0)
        time.sleep(max(0.0, end - time.monotonic()))
        last = remote_summary(self.url, 1.0)
        reports = [self.report(index) for index in range(self.count)]
        final = remote_summary(self.url, 1.0)
        per_second = (last["calls"] - first["calls"]) / (duration - 1.0)
        return {
            "calls_per_second": round(per_second, 2),
            "fraction_of_ceiling": round(per_second / ceiling, 3),
            "rate_limited": final["rate_limited"],
            "max_calls_in_window": final["max_calls_in_window"],
            "budgets": final["budgets"],
            "endpoints": final["endpoints"],
            "calls": final["calls"],
            "leads": final["leads"],
            "duplicates": final["duplicates"],
            "workers": reports,
        }

    def close(self) -> None:
        """End the workers (end of stdin), killing any that linger."""
        for process in self.processes:
            if process.stdin is not None:
                process.stdin.close()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


@contextlib.contextmanager
def workers(
    url: str, prefix: str, count: int = 4, skews: tuple[float, ...] = (), *options: str
) -> Iterator[Workers]:
    """``count`` workers pointed at ``url``, ended afterwards."""
    started = Workers(url, count)
    try:
        started.start(prefix, skews, *options)
        yield started
    finally:
        started.close()


def brief(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures without the per-worker reports and the per-endpoint counts."""
    return {k: v for k, v in figures.items() if k not in ("workers", "endpoints")}


# -- a redis-server of the test's own --------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A throwaway ``redis-server`` on a fixed port that a test can kill and restart.

    With ``cluster=True`` it is a one-node Redis Cluster holding every slot: a multi-key
    command or script whose keys hash to different slots fails there with CROSSSLOT.
    """

    def __init__(self, port: int, directory: Path, *, cluster: bool = False) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.directory = directory
        self.cluster = cluster
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers (and, as a cluster, until it is ok)."""
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is not installed")
            pytest.skip("redis-server is not installed")
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        options += ["--appendonly", "no", "--dir", str(self.directory)]
        if self.cluster:
            options += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            # The bus port defaults to port + 10000, past 65535 for most free ports: the
            # server then does not start at all. Give it a free port of its own.
            options += ["--cluster-port", str(free_port())]
        self.process = subprocess.Popen(
            [binary, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port, socket_connect_timeout=0.2) as r:
                    r.ping()
                    if self.cluster:
                        self._form_cluster(r, deadline)
                return
            except (redis.exceptions.RedisError, OSError):
                if time.monotonic() > deadline:
                    self.kill()  # no server left running behind a failed start
                    raise
                time.sleep(0.02)

    @staticmethod
    def _form_cluster(r: redis.Redis, deadline: float) -> None:
        """Give the one node every slot and wait until the cluster says ok."""
        if b"cluster_slots_assigned:0\r" in r.execute_command("CLUSTER", "INFO"):
            r.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        while b"cluster_state:ok" not in r.execute_command("CLUSTER", "INFO"):
            if time.monotonic() > deadline:
                raise TimeoutError("the one-node cluster did not come up")
            time.sleep(0.02)

    def kill(self) -> None:
        """Kill the server outright (SIGKILL) and wait for it to go."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def keys(self) -> list[str]:
        """Every key the server holds."""
        with redis.Redis(port=self.port, decode_responses=True) as r:
            return sorted(r.scan_iter())
