"""`harness mock --workers N [--state FILE]`: the mock on N processes, one port.

The parent reserves the port, prepares the shared store (mocks/workers.py),
starts N workers (`python -O -m harness.cli mock ...` with the same arguments),
waits until each reports that it listens, prints one banner, and supervises:
SIGINT or SIGTERM stops every worker (SIGTERM by pid, SIGKILL if one lingers);
a worker that dies stops the others, and the parent exits 1.

With one worker (the default) the mock runs in this process as before;
`--state FILE` then keeps its shared state in FILE all the same.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from mocks.sqlite_store import SqliteStateStore
from mocks.state import MockState
from mocks.workers import WorkerRole, become_worker, parse_report, report_ready, reserve_port

START_TIMEOUT_S = 120.0  # N workers start at once: on a crowded machine, slowly
# Shorter than harness.mock_process's 5 s grace: a supervisor stopped by it has its
# workers stopped before it could be killed.
STOP_GRACE_S = 3.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Worker processes run optimized: none of the mock's behaviour rests on `assert`
# (tests/mocks/test_workers.py greps for asserts that would).
WORKER_PYTHON_FLAGS = ("-O",)


def add_arguments(mock: argparse.ArgumentParser) -> None:
    mock.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve from N processes on the one port, sharing fault rules, their "
        "counters, resets and the journal (default 1: this process)",
    )
    mock.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="keep the shared state (fault rules, counters, journal) in this SQLite file, "
        "across restarts; default: memory (one worker) or a temporary file",
    )


def check(args: argparse.Namespace) -> str | None:
    """Why these options cannot run, or None."""
    if args.workers < 1:
        return "--workers must be at least 1"
    if args.workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
        return "--workers needs SO_REUSEPORT (Linux, BSD, macOS); run one worker"
    return None


def attach_store(state: MockState, args: argparse.Namespace, scenario: Any) -> bool:
    """In a worker, or with --state: keep `state`'s shared parts in the store.
    True if the scenario's fault rules are taken care of (the parent, or here)."""
    role = WorkerRole.from_environment()
    if role is not None:
        become_worker(state, role)
        return True  # the parent put the scenario's rules in the store
    if args.state is None:
        return False
    from mocks.shared_state import share_state

    share_state(state, SqliteStateStore(args.state, durable=True))
    if scenario is not None:
        state.faults.replace(list(scenario.faults))
    return True


def report(banner: str, port: int | None) -> bool:
    """A worker sends its banner to the parent (True); the single process prints it."""
    role = WorkerRole.from_environment()
    if role is None:
        return False
    report_ready(role, port, banner)
    return True


class _Stop:
    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signum


def supervise(
    args: argparse.Namespace, argv: Sequence[str], token: str | None, line: str | None
) -> int:
    """Run `args.workers` workers until a signal; the exit code."""
    from harness.control import TOKEN_ENV

    try:
        holder = reserve_port(args.host, args.port)
    except OSError as e:
        print(f"harness mock: cannot start: port {args.port}: {e}", file=sys.stderr)
        return 1
    port = holder.getsockname()[1]
    scratch = None if args.state else Path(tempfile.mkdtemp(prefix="harness-mock-"))
    store_path = args.state or (scratch / "state.sqlite")  # type: ignore[operator]
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    workers: list[subprocess.Popen[bytes]] = []
    try:
        _prepare_store(store_path, args, durable=scratch is None)
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
        if token is not None:
            env[TOKEN_ENV] = token
        pipes = []
        for index in range(args.workers):
            read_fd, write_fd = os.pipe()
            role = WorkerRole(index, store_path, scratch is None, write_fd)
            command = [sys.executable, *WORKER_PYTHON_FLAGS, "-m", "harness.cli", *argv]
            command += ["--port", str(port), "--workers", "1"]
            workers.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    env=env | role.environment(),
                    pass_fds=(write_fd,),
                    preexec_fn=_end_with_parent,
                )
            )
            os.close(write_fd)
            pipes.append(read_fd)
        reports = _wait_for_reports(pipes, workers, stop)
        if reports is None:
            return _worst_exit(workers, stop)
        print(_banner(reports, line, args, store_path if scratch is None else None), flush=True)
        while stop.signal is None:
            dead = [w for w in workers if w.poll() is not None]
            if dead:
                print(
                    f"harness mock: worker (pid {dead[0].pid}) exited with {dead[0].returncode}; "
                    "stopping the others",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            time.sleep(0.1)
        return 0
    finally:
        _stop_all(workers)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        holder.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _end_with_parent() -> None:
    """In the worker, before exec: SIGTERM when the parent dies, even by SIGKILL (Linux),
    so no worker outlives its supervisor."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _prepare_store(path: Path, args: argparse.Namespace, *, durable: bool) -> None:
    """Create the store; a scenario's rules go in once, for every worker."""
    store = SqliteStateStore(path, durable=durable)
    try:
        if args.scenario:
            from mocks.fault_engine import RuleSet
            from mocks.scenarios import ScenarioError, load_scenario

            try:
                scenario = load_scenario(args.scenario)
            except ScenarioError:
                return  # the workers report it, and exit 2
            RuleSet(store=store).replace(list(scenario.faults))
    finally:
        store.close()


def _wait_for_reports(
    pipes: list[int], workers: list[subprocess.Popen[bytes]], stop: _Stop
) -> list[dict[str, Any]] | None:
    """Each worker's report, by index; None if one exited first, or a signal came."""
    texts = {fd: b"" for fd in pipes}
    selector = selectors.DefaultSelector()
    for fd in pipes:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT_S
    open_pipes = set(pipes)
    try:
        while open_pipes and stop.signal is None and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.1):
                fd = int(key.fd)
                chunk = os.read(fd, 65536)
                if chunk:
                    texts[fd] += chunk
                else:
                    selector.unregister(fd)
                    open_pipes.discard(fd)
            if any(w.poll() is not None for w in workers):
                return None
    finally:
        selector.close()
        for fd in pipes:
            os.close(fd)
    if open_pipes or stop.signal is not None:
        if stop.signal is None:
            print(
                f"harness mock: the workers did not start in {START_TIMEOUT_S:g} s", file=sys.stderr
            )
        return None
    try:
        return sorted((parse_report(texts[fd].decode()) for fd in pipes), key=lambda r: r["index"])
    except ValueError:
        print("harness mock: a worker reported nonsense", file=sys.stderr)
        return None


def _banner(
    reports: list[dict[str, Any]],
    token_line: str | None,
    args: argparse.Namespace,
    state: Path | None,
) -> str:
    lines = str(reports[0]["banner"]).splitlines()
    if token_line is not None:  # the parent made the token; the workers read it
        lines = [
            f"Control token {token_line}" if ln.startswith("Control token") else ln for ln in lines
        ]
    pids = ", ".join(str(r["pid"]) for r in reports)
    kept = f"state in {state}" if state is not None else "state in a temporary store"
    where = len(lines) - 1 if lines and lines[-1].startswith("Ctrl-C") else len(lines)
    lines.insert(where, f"Workers       {len(reports)} processes (pids {pids}), {kept}")
    return "\n".join(lines)


def _worst_exit(workers: list[subprocess.Popen[bytes]], stop: _Stop) -> int:
    if stop.signal is not None:
        return 0
    codes = [w.returncode for w in workers if w.poll() is not None]
    return max([c for c in codes if c > 0] or [1])


def _stop_all(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every worker still running (by pid), then SIGKILL what lingers."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for worker in workers:
        try:
            worker.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(STOP_GRACE_S)
