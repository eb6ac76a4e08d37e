"""`harness mock` in a child process: start it on a free loopback port, stop it.

For runs that must not share a process with the mock (load runs: locust's
gevent and the mock's event loop each want the CPU to themselves).

    with MockProcess(["--journal-size", "200000"], log=Path("mock.log")) as mock:
        print(mock.base_url)   # http://127.0.0.1:PORT (the API is under /v1)

Output goes to a log file, never to a pipe nobody drains. The child is
stopped by its pid (SIGTERM, then SIGKILL if it lingers), whatever happens.

`workers=N` serves from N worker processes (`harness mock --workers N`);
stopping the child stops them all.

`control_token=` makes the child require that control token (it gets it in
HARNESS_CONTROL_TOKEN, so it is never printed to the log); pass
`mock.control_token` to ControlClient.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.control import TOKEN_ENV

HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
_ANNOUNCED = re.compile(r"(?:Mock API|Proxy)\s+(http://127\.0\.0\.1:\d+)")


class MockProcessError(RuntimeError):
    """The mock did not start; the message holds the end of its log."""


class MockProcess:
    def __init__(
        self,
        extra_args: Sequence[str] = (),
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cpus: frozenset[int] | None = None,
        control_token: str | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
        workers: int = 1,
    ) -> None:
        self.argv = [sys.executable, "-m", "harness.cli", "mock", "--host", HOST, "--port", "0"]
        if workers != 1:  # worker processes on the port, sharing state (docs/workers.md)
            self.argv += ["--workers", str(workers)]
        self.argv += list(extra_args)
        self.log = log
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        if control_token is not None:
            self._env[TOKEN_ENV] = control_token
        # What the child requires: the given token, or one the caller's environment holds.
        self.control_token: str | None = self._env.get(TOKEN_ENV) or None
        self._cpus = cpus
        self._start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the mock is not running")
        return self._base_url

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> MockProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        cpus = self._cpus

        def pin() -> None:
            if cpus is not None:
                os.sched_setaffinity(0, cpus)

        with self.log.open("wb") as out:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env,
                preexec_fn=pin if cpus is not None else None,
            )
        try:
            self._base_url = self._wait_for_banner(self._process)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_banner(self, process: subprocess.Popen[bytes]) -> str:
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise MockProcessError(f"the mock exited with {process.returncode}:\n{self.tail()}")
            found = _ANNOUNCED.search(self.log.read_text(errors="replace"))
            if found:
                return found.group(1)
            time.sleep(0.05)
        limit = self._start_timeout_s
        raise MockProcessError(f"the mock did not start in {limit:g} s:\n{self.tail()}")

    def tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 5.0) -> None:
        if self._process is not None:
            stop_process(self._process, grace_s)

    def __enter__(self) -> MockProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process(process: subprocess.Popen[Any], grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it lingers: this process only, by its pid."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace_s)
