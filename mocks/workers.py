"""Worker processes of one mock: what a worker does, and what their parent holds.

`harness mock --workers N` (harness/workers_cli.py) starts N processes that
each run the whole mock, listening on one port with SO_REUSEPORT (the kernel
spreads connections over them), with their shared state in one SQLite store
(mocks/state_store.py). The parent:
- reserves the port: a socket bound with SO_REUSEPORT, never listening, so
  port 0 can pick a free port every worker then joins, and nobody else takes it;
- prepares the store (a temporary file, or `--state FILE` kept across runs);
- tells each worker, in its environment, the store and a pipe to report on.
A worker reports once listening with one JSON line on its pipe.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mocks import mitm_internals
from mocks.shared_state import share_state
from mocks.sqlite_store import SqliteStateStore
from mocks.state import MockState

STORE_ENV = "HARNESS_WORKER_STORE"
INDEX_ENV = "HARNESS_WORKER_INDEX"
READY_FD_ENV = "HARNESS_WORKER_READY_FD"
DURABLE_ENV = "HARNESS_WORKER_DURABLE"


@dataclass(frozen=True)
class WorkerRole:
    """What the parent told this process: it is worker `index` over `store`."""

    index: int
    store: Path
    durable: bool
    ready_fd: int | None

    @staticmethod
    def from_environment(env: dict[str, str] | None = None) -> WorkerRole | None:
        env = dict(os.environ if env is None else env)
        if STORE_ENV not in env:
            return None
        fd = env.get(READY_FD_ENV)
        return WorkerRole(
            index=int(env.get(INDEX_ENV, "0")),
            store=Path(env[STORE_ENV]),
            durable=env.get(DURABLE_ENV) == "1",
            ready_fd=int(fd) if fd else None,
        )

    def environment(self) -> dict[str, str]:
        env = {STORE_ENV: str(self.store), INDEX_ENV: str(self.index)}
        env[DURABLE_ENV] = "1" if self.durable else "0"
        if self.ready_fd is not None:
            env[READY_FD_ENV] = str(self.ready_fd)
        return env


def become_worker(state: MockState, role: WorkerRole) -> SqliteStateStore:
    """Share `state` through the role's store and listen on a shared port."""
    store = SqliteStateStore(role.store, durable=role.durable)
    share_state(state, store)
    mitm_internals.listen_with_reuse_port()
    return store


def report_ready(role: WorkerRole, port: int | None, banner: str) -> None:
    """Tell the parent this worker listens (one JSON line, then the pipe closes)."""
    if role.ready_fd is None:
        return
    line = json.dumps({"index": role.index, "port": port, "pid": os.getpid(), "banner": banner})
    with os.fdopen(role.ready_fd, "w") as pipe:
        pipe.write(line + "\n")


def parse_report(text: str) -> dict[str, Any]:
    report = json.loads(text)
    if not isinstance(report, dict):
        raise ValueError("a worker's report must be a JSON object")
    return report


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket on (host, port) that holds the port for the workers to listen on."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("this system has no SO_REUSEPORT: run one worker")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((host, port))
    except OSError:
        holder.close()
        raise
    return holder
