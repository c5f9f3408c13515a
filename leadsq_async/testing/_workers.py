"""``leadsq-async consume`` workers as processes, the messages a fleet run sends them, and
the fresh Redis key prefix their shared budgets live under.

The fleet test (``tests/test_consume_fleet.py``) and the fleet benchmark start the same
workers the same way and feed them the same mix of good and bad rows; both take them from here
(and the tests' ``fresh_prefix`` its prefixes).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._endpoints import DEMO_ACCESS_KEY, DEMO_SECRET_KEY

__all__ = ["BAD", "ConsumeWorkers", "create_message", "fleet_messages", "fresh_redis_prefix"]

#: Message i is a bad row when i % 300 is one of these (1 %): not JSON, refused by the
#: client's checks, a twin of message i - 1 (the service refuses the repeated email).
BAD = (17, 117, 217)
#: The error type each kind of bad row is dead-lettered with.
BAD_KINDS = {17: "MessageError", 117: "ValidationError", 217: "LeadRejectedError"}


def create_message(index: int, **extra: Any) -> bytes:
    """A create message for lead ``index`` (a unique EmailAddress)."""
    fields = {"EmailAddress": f"lead{index}@example.com", "FirstName": f"Lead{index}", **extra}
    return json.dumps({"op": "create", "fields": fields}).encode()


def fleet_messages(count: int) -> tuple[list[bytes], int]:
    """``count`` create messages, 1 % of them bad rows (``BAD``); the messages and how many
    are bad."""
    bodies: list[bytes] = []
    bad = 0
    for i in range(count):
        kind = i % 300
        if kind == 17:
            bodies.append(b'{"op": "create", "n": %d, "fields": ' % i)  # not JSON
        elif kind == 117:
            bodies.append(json.dumps({"op": "create", "fields": {"Notes": f"x{i}"}}).encode())
        elif kind == 217:
            bodies.append(create_message(i - 1, FirstName=f"Twin{i}"))  # another row's email
        else:
            bodies.append(create_message(i))
            continue
        bad += 1
    return bodies, bad


@contextlib.contextmanager
def fresh_redis_prefix(redis_url: str, kind: str) -> Iterator[str]:
    """A new key prefix (``kind`` and a random suffix) on the Redis at ``redis_url``; every
    key under it is deleted afterwards. Needs the redis extra."""
    import redis

    name = f"{kind}-{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        with redis.Redis.from_url(redis_url) as r:
            keys = list(r.scan_iter(match=f"{name}*"))
            if keys:
                r.delete(*keys)


class ConsumeWorkers:
    """``python -m leadsq_async._cli consume`` processes on one queue, sharing one account's
    budgets through Redis; worker ``i`` writes its output to ``directory/worker{i}.log`` and
    its report to ``worker{i}.json``. The demo keys are used."""

    def __init__(
        self,
        url: str,
        queue: str,
        *,
        rate: str,
        amqp_url: str,
        redis_url: str,
        redis_prefix: str,
        directory: Path,
        retry_delay: float = 0.1,
    ) -> None:
        self.command = [sys.executable, "-m", "leadsq_async._cli", "consume", queue]
        self.command += ["--base-url", url, "--rate", rate, "--retry-delay", f"{retry_delay:g}"]
        self.command += ["--redis-url", redis_url, "--redis-prefix", redis_prefix]
        self.directory = directory
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "LSQ_ACCESS_KEY": DEMO_ACCESS_KEY,
            "LSQ_SECRET_KEY": DEMO_SECRET_KEY,
            "LSQ_AMQP_URL": amqp_url,
        }

    def start(self) -> int:
        """Start one more worker; its index."""
        index = len(self.processes)
        report = ["--report", str(self.directory / f"worker{index}.json")]
        with (self.directory / f"worker{index}.log").open("wb") as log:
            self.processes.append(
                subprocess.Popen(
                    self.command + report, env=self.env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        return index

    def ready(self, index: int) -> bool:
        """Whether worker ``index`` has said it is consuming."""
        return "consuming" in self.log(index)

    def wait_ready(self, index: int, timeout: float = 20.0) -> bool:
        """Wait (at most ``timeout`` seconds) until worker ``index`` is consuming."""
        deadline = time.monotonic() + timeout
        while not self.ready(index):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def kill(self, index: int) -> None:
        """SIGKILL worker ``index`` (its unsettled messages return, redelivered)."""
        self.processes[index].send_signal(signal.SIGKILL)
        self.processes[index].wait()

    def drain(self, timeout: float = 60.0) -> list[int]:
        """SIGTERM every live worker; their exit codes (SIGKILL after ``timeout`` seconds)."""
        live = [p for p in self.processes if p.poll() is None]
        for process in live:
            process.send_signal(signal.SIGTERM)
        codes = []
        for process in live:
            try:
                codes.append(process.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        return codes

    def reports(self) -> list[dict[str, Any]]:
        """The reports of the workers that exited on their own."""
        return [json.loads(p.read_text()) for p in sorted(self.directory.glob("worker*.json"))]

    def log(self, index: int) -> str:
        """Worker ``index``'s output so far."""
        return (self.directory / f"worker{index}.log").read_text(errors="replace")
