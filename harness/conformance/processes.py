"""An adapter and everything it started, found and ended without cgroups.

An adapter may start helpers (a JVM, a browser, a device bridge), and those may
start their own and even leave its session with setsid(2). The harness starts
each adapter as the leader of its own process group and session, with a token
of its own in the environment (`HARNESS_ADAPTER_RUN`), and finds its processes
by three marks any of which suffices:

- its session or process group (children that did not leave them);
- descent: the parent links from the adapter, recorded while it runs, so a
  child that left the session is still known after its parent died;
- the token in the process's initial environment (/proc/PID/environ), which
  children inherit whatever they did to their session or parent.

`ProcessTree.end()` sends SIGTERM to all of them, then SIGKILL to what is left
after a grace period. A process is signalled only while its start time is the
one recorded, so a reused process id is never hit; and the session and process
group count only while the leader is still held (running, or a zombie nobody
has reaped), since only then can no other process have taken its id. So the
adapter must not be reaped before `end()`: `exited()` and `exit_code()` look
without reaping. Without /proc (not Linux) only the process group is ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

MARKER = "HARNESS_ADAPTER_RUN"
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str  # R running, S sleeping, D disk wait, Z zombie, ...
    cpu_ticks: int  # user + system time
    start_ticks: int  # when it started, in clock ticks since boot
    exit_status: int  # a zombie's wait status (as waitpid reports it)


def read_stat(pid: int) -> ProcStat | None:
    try:
        text = (PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return ProcStat(
            pid=pid,
            ppid=int(fields[1]),
            pgid=int(fields[2]),
            sid=int(fields[3]),
            state=fields[0],
            cpu_ticks=int(fields[11]) + int(fields[12]),
            start_ticks=int(fields[19]),
            exit_status=int(fields[49]) if len(fields) > 49 else 0,
        )
    except (IndexError, ValueError):
        return None


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir(PROC) if name.isdigit()]
    except OSError:
        return []


def _carries(pid: int, token: bytes) -> bool:
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return token in environ.split(b"\0")


def supported() -> bool:
    return (PROC / "self" / "stat").exists()


class ProcessTree:
    """The processes of one adapter: its leader `root` and all it started."""

    def __init__(self, root: int, token: str | None = None) -> None:
        self.root = root
        self._token = f"{MARKER}={token}".encode() if token else None
        self._known: dict[int, int] = {}  # pid -> start ticks
        self._spared = {os.getpid(), os.getppid()}
        stat = read_stat(root)
        self._root_ticks = stat.start_ticks if stat is not None else None
        if stat is not None:
            self._known[root] = stat.start_ticks

    def _root(self) -> ProcStat | None:
        """The leader, while it is still ours: running, or a zombie not yet reaped."""
        stat = read_stat(self.root)
        if stat is None or stat.start_ticks != self._root_ticks:
            return None
        return stat

    def exited(self) -> bool:
        """Whether the leader has exited (without reaping it)."""
        stat = self._root()
        return stat is None or stat.state in ("Z", "X")

    def exit_code(self) -> int | None:
        """The leader's exit code once it has exited, read without reaping it."""
        stat = self._root()
        if stat is None or stat.state not in ("Z", "X"):
            return None
        return os.waitstatus_to_exitcode(stat.exit_status)

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to `timeout` for the leader to exit, without reaping it."""
        deadline = time.monotonic() + timeout
        while not self.exited():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def scan(self, *, environ: bool = False) -> list[ProcStat]:
        """The tree's live processes now; with `environ`, also those that only the
        token in their environment shows (slower: reads every process's environ)."""
        if not supported():
            return []
        stats = {s.pid: s for s in map(read_stat, _pids()) if s is not None}
        # The leader's session and group are ours only while it holds its id.
        held = self._root() is not None
        members: dict[int, ProcStat] = {}
        for stat in stats.values():
            if stat.pid in self._spared or stat.state == "Z":
                continue
            known = self._known.get(stat.pid) == stat.start_ticks
            grouped = held and self.root in (stat.sid, stat.pgid)
            if known or grouped:
                members[stat.pid] = stat
        # Descent: children of members are members, to any depth.
        changed = True
        while changed:
            changed = False
            for stat in stats.values():
                fresh = stat.pid not in members and stat.pid not in self._spared
                if fresh and stat.ppid in members and stat.state != "Z":
                    members[stat.pid] = stat
                    changed = True
        if environ and self._token is not None:
            for stat in stats.values():
                if stat.pid in members or stat.pid in self._spared or stat.state == "Z":
                    continue
                if _carries(stat.pid, self._token):
                    members[stat.pid] = stat
        for stat in members.values():
            self._known[stat.pid] = stat.start_ticks
        return list(members.values())

    def activity(self) -> tuple[int, bool]:
        """CPU ticks used by the tree so far, and whether any of it is running or
        waiting for the disk (not idle)."""
        members = self.scan()
        busy = any(s.state in ("R", "D") for s in members)
        return sum(s.cpu_ticks for s in members), busy

    def end(self, grace_s: float = 1.0) -> int:
        """End every process of the tree; returns how many were still alive."""
        if not supported():
            with contextlib.suppress(OSError):
                os.killpg(self.root, signal.SIGTERM)
            time.sleep(min(grace_s, 0.2))
            with contextlib.suppress(OSError):
                os.killpg(self.root, signal.SIGKILL)
            return 0
        self._killpg(signal.SIGTERM)
        alive = self.scan(environ=True)
        self._signal(alive, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while alive and time.monotonic() < deadline:
            time.sleep(0.02)
            alive = [s for s in alive if self._still(s)]
        if alive:
            self._killpg(signal.SIGKILL)
            self._signal(alive, signal.SIGKILL)
            # Whatever started in the meantime, once more.
            self._signal(self.scan(environ=True), signal.SIGKILL)
        return len(alive)

    def _killpg(self, sig: signal.Signals) -> None:
        if self._root() is not None:  # else the group id may be another's by now
            with contextlib.suppress(OSError):
                os.killpg(self.root, sig)

    def survivors(self) -> list[ProcStat]:
        return [s for s in self.scan(environ=True) if s.state != "Z"]

    def _still(self, stat: ProcStat) -> bool:
        now = read_stat(stat.pid)
        return now is not None and now.start_ticks == stat.start_ticks and now.state != "Z"

    def _signal(self, stats: list[ProcStat], sig: signal.Signals) -> None:
        for stat in stats:
            if stat.pid in self._spared or not self._still(stat):
                continue
            with contextlib.suppress(OSError):
                os.kill(stat.pid, sig)
