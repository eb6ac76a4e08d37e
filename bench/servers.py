"""Servers under test, each in its own process, pinned to its own CPU.

A server either announces its port (prints `http://127.0.0.1:PORT` once
listening, as `harness mock --port 0` does) or is given a free port picked
here (mitmdump). Output goes to a log file, never to a pipe nobody drains.
`started()` stops every process it started, whatever happens.

The mock (`harness mock --port 0`) is the usual server under test:
`mock_launch()` starts it and `log_in()` gets a token and a product to ask for.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from contracts.operations import API_PREFIX
from harness.mock_process import stop_process

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
_ANNOUNCED = re.compile(r"http://127\.0\.0\.1:(\d+)")
PORT = "{port}"  # placeholder in a command line, for servers given their port


@dataclass(frozen=True)
class Launch:
    """How to start one server. `PORT` in `argv` means: pick a port and put it there."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def announces_port(self) -> bool:
        return PORT not in self.argv


@dataclass(frozen=True)
class Running:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path


@dataclass(frozen=True)
class CpuPlan:
    """Servers on one CPU, the load generator on another (None: no pinning)."""

    server: frozenset[int] | None
    load: frozenset[int] | None

    @staticmethod
    def detect() -> CpuPlan:
        if not hasattr(os, "sched_setaffinity"):
            return CpuPlan(None, None)
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return CpuPlan(None, None)
        return CpuPlan(frozenset(cpus[:1]), frozenset(cpus[1:2]))

    def describe(self) -> str:
        if self.server is None or self.load is None:
            return "not pinned (fewer than 2 CPUs)"
        return f"servers on CPU {min(self.server)}, load generator on CPU {min(self.load)}"


@contextmanager
def pinned(cpus: frozenset[int] | None) -> Iterator[None]:
    """Run this process (and the wrk it starts) on `cpus`, then restore."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


def _log_tail(log: Path, lines: int = 20) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_for_port(process: subprocess.Popen[bytes], log: Path, port: int | None) -> int:
    """The port once the server accepts connections; raises if it dies or is slow."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}:\n{_log_tail(log)}")
        if port is None:
            found = _ANNOUNCED.search(log.read_text(errors="replace"))
            port = int(found.group(1)) if found else None
        if port is not None and _accepts(port):
            return port
        time.sleep(0.1)
    raise RuntimeError(f"not listening after {START_TIMEOUT_S:g} s:\n{_log_tail(log)}")


def start(name: str, launch: Launch, log_dir: Path, cpus: frozenset[int] | None) -> Running:
    """Start one server and wait until it listens; stops it again if it does not."""
    port = None if launch.announces_port else free_port()
    argv = [str(port) if arg == PORT else arg for arg in launch.argv]
    log = log_dir / f"{name}.log"
    pin = partial(os.sched_setaffinity, 0, cpus) if cpus is not None else None
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **launch.env},
            preexec_fn=pin,
        )
    try:
        return Running(name, process, _wait_for_port(process, log, port), log)
    except BaseException:
        stop(process)
        raise


stop = stop_process  # SIGTERM, then SIGKILL if it lingers: by pid, this process only


@contextmanager
def started(
    launches: Mapping[str, Launch], log_dir: Path, cpus: frozenset[int] | None
) -> Iterator[dict[str, Running]]:
    """Start every server (one at a time: startup is CPU-heavy); stop all on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    running: dict[str, Running] = {}
    try:
        for name, launch in launches.items():
            try:
                running[name] = start(name, launch, log_dir, cpus)
            except RuntimeError as e:
                raise RuntimeError(f"server {name!r} {e}") from e
        yield running
    finally:
        for server in running.values():
            stop(server.process)


# --- the mock ------------------------------------------------------------------


def mock_launch(*extra: str, env: Mapping[str, str] | None = None) -> Launch:
    """`harness mock` on a free loopback port, with `extra` command-line options."""
    argv = (sys.executable, "-m", "harness.cli", "mock", "--host", HOST, "--port", "0", *extra)
    return Launch(argv, dict(env or {}))


def base_url(server: Running) -> str:
    return f"http://{HOST}:{server.port}"


def log_in(base: str) -> tuple[str, str]:
    """A demo user's `Authorization` value and a product id, checked with one GET."""
    with httpx.Client(base_url=base + API_PREFIX, timeout=10.0) as client:
        login = client.post("/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        login.raise_for_status()
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        listing = client.get("/products", params={"page_size": 1}, headers=auth)
        listing.raise_for_status()
        product_id = str(listing.json()[0]["id"])
        client.get(f"/products/{product_id}", headers=auth).raise_for_status()
    return auth["Authorization"], product_id


def product_path(product_id: str) -> str:
    return f"{API_PREFIX}/products/{product_id}"
