"""Worker processes for tests: start `harness mock --workers N`, and hold connections
on each worker (a connection stays with the worker that accepted it; the health
call says which pid answered).

With HARNESS_TEST_WORKERS=2 (a step of `make test`), tests/conftest.py swaps the
session's mock for `harness mock --workers 2` and runs only the tests that use
it. A test's client and the control client hold their own connections, so they
often land on different workers: what the test checks must hold across them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from mock_testkit import BANNER_END, harness_command, read_until

CONTROL = "/__harness"


@dataclass
class Workers:
    process: subprocess.Popen[str]
    base_url: str
    pids: list[int]
    banner: str
    control_token: str | None = None  # as `MockServer`'s: none on loopback

    @property
    def control_url(self) -> str:
        return self.base_url + CONTROL

    @property
    def port(self) -> int:  # as `MockServer`'s, for tests that open their own sockets
        return int(self.base_url.rsplit(":", 1)[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _status(pid)


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


@contextmanager
def workers(*args: str, count: int = 2, scratch: Path | None = None) -> Iterator[Workers]:
    """`scratch`: the temporary folder the store goes in (TMPDIR), for a parent that
    cannot clean up because the test kills it."""
    command = [*harness_command(), "mock", "--port", "0", "--workers", str(count), *args]
    env = {**os.environ, **({"TMPDIR": str(scratch)} if scratch is not None else {})}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    pids: list[int] = []
    try:
        # Longer than the supervisor's own start timeout, so its message is what a slow start shows.
        banner = read_until(process, BANNER_END, timeout=150)
        url = re.search(r"Control API\s+(http://127\.0\.0\.1:\d+)/__harness/", banner)
        listed = re.search(r"Workers\s+(\d+) processes \(pids ([\d, ]+)\)", banner)
        assert url, banner
        assert listed, banner
        pids = [int(p) for p in listed.group(2).split(", ")]
        assert int(listed.group(1)) == len(pids) == count
        yield Workers(process, url.group(1), pids, banner)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for pid in pids:  # never leave a worker behind, even when the parent failed
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def on_each_worker(base_url: str, count: int, per_worker: int = 1) -> dict[int, list[httpx.Client]]:
    """`per_worker` clients (one keep-alive connection each) on each of `count` workers."""
    found: dict[int, list[httpx.Client]] = {}
    spare: list[httpx.Client] = []
    for _ in range(200):  # the kernel hashes connections: 200 tries all on one: ~2^-199
        client = httpx.Client(base_url=base_url, timeout=10, limits=httpx.Limits(max_connections=1))
        pid = client.get(CONTROL + "/health").json()["pid"]
        if len(found.setdefault(pid, [])) < per_worker:
            found[pid].append(client)
        else:
            spare.append(client)
        if len(found) == count and all(len(c) == per_worker for c in found.values()):
            break
    for client in spare:
        client.close()
    assert len(found) == count, found
    assert all(len(c) == per_worker for c in found.values()), found
    return found


def pid_of(client: httpx.Client) -> int:
    pid: int = client.get(CONTROL + "/health").json()["pid"]
    return pid
