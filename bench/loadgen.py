"""Closed-loop HTTP/1.1 load: N keep-alive connections, each sending the next
request as soon as the previous response has been read, for a fixed time.

Two generators produce the same `LoadResult`:

- `run_wrk`: wrk (if installed), one thread, its `--latency` percentiles.
- `run_builtin`: asyncio on raw sockets, for machines without wrk. It writes
  prepared request bytes, reads the head and a Content-Length body, and times
  each request from write to last byte. Every loop is bounded by a deadline
  and by a request budget, and every read by a timeout.

Requests/s counts every response; responses other than 200, and connection
failures, are also counted as errors (a run with errors measures nothing
useful: the benchmark reports it and fails).
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field

MAX_REQUESTS = 5_000_000
IO_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class LoadSpec:
    """One load run: where, what, how many connections, how long."""

    host: str
    port: int
    path: str
    headers: dict[str, str]
    connections: int
    duration_s: float

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def request_bytes(self) -> bytes:
        lines = [f"GET {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass(frozen=True)
class LoadResult:
    generator: str
    responses: int
    errors: int
    elapsed_s: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.responses / self.elapsed_s if self.elapsed_s > 0 else 0.0


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --- built-in asyncio generator ------------------------------------------------


class ProtocolError(Exception):
    """The server's answer was not a keep-alive-able HTTP/1.1 response."""


@dataclass
class _Tally:
    deadline: float
    budget: int
    latencies: list[float] = field(default_factory=list)
    responses: int = 0
    errors: int = 0

    def open(self) -> bool:
        """Whether there is time and budget left."""
        return self.budget > 0 and time.perf_counter() < self.deadline

    def take(self) -> bool:
        """Spend one request of the budget, if another request may start."""
        if not self.open():
            return False
        self.budget -= 1
        return True

    def record(self, status: int, seconds: float) -> None:
        self.responses += 1
        self.latencies.append(seconds)
        if status != 200:
            self.errors += 1


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Status and whether the connection stays open, after reading the whole body."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head[:-4].split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"bad status line {status_line!r}")
    length: int | None = None
    keep_alive = True
    for line in header_lines:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep_alive = False
    if length is None:
        raise ProtocolError("response without Content-Length")
    await reader.readexactly(length)
    return int(parts[1]), keep_alive


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, tally: _Tally
) -> None:
    """Request after request on one connection, until told to stop or it closes."""
    while tally.take():
        started = time.perf_counter()
        writer.write(request)
        async with asyncio.timeout(IO_TIMEOUT_S):
            status, keep_alive = await _read_response(reader)
        tally.record(status, time.perf_counter() - started)
        if not keep_alive:
            return


async def _connection(spec: LoadSpec, request: bytes, tally: _Tally) -> None:
    """One client connection; reconnects after a failure while time and budget last."""
    while tally.open():
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(IO_TIMEOUT_S):
                reader, writer = await asyncio.open_connection(spec.host, spec.port)
            await _exchange(reader, writer, request, tally)
        except (OSError, TimeoutError, ValueError, ProtocolError, asyncio.IncompleteReadError):
            tally.errors += 1
            tally.budget -= 1  # failures spend the budget too: reconnecting is bounded
            await asyncio.sleep(0.01)
        finally:
            if writer is not None:
                writer.close()


async def _run_builtin(spec: LoadSpec) -> LoadResult:
    request = spec.request_bytes()
    started = time.perf_counter()
    tally = _Tally(deadline=started + spec.duration_s, budget=MAX_REQUESTS)
    async with asyncio.TaskGroup() as group:
        for _ in range(spec.connections):
            group.create_task(_connection(spec, request, tally))
    elapsed = time.perf_counter() - started
    latencies = sorted(tally.latencies)
    return LoadResult(
        generator="builtin",
        responses=tally.responses,
        errors=tally.errors,
        elapsed_s=elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
    )


def run_builtin(spec: LoadSpec) -> LoadResult:
    """Load `spec` with the built-in asyncio generator (in this process)."""
    return asyncio.run(_run_builtin(spec))


# --- wrk -----------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_DONE = re.compile(r"(\d+) requests in ([\d.]+)(us|ms|s|m),")
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def wrk_path() -> str | None:
    return shutil.which("wrk")


def parse_wrk(output: str) -> LoadResult:
    """Read a `wrk --latency` report; raises ValueError if it is not one."""
    done = _DONE.search(output)
    found = {q: float(v) * _UNITS_MS[u] for q, v, u in _PERCENTILE.findall(output)}
    if done is None or set(found) != {"50", "99"}:
        raise ValueError(f"not a wrk --latency report:\n{output}")
    errors = sum(int(n) for n in _NON_2XX.findall(output))
    socket_errors = _SOCKET_ERRORS.search(output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return LoadResult(
        generator="wrk",
        responses=int(done.group(1)),
        errors=errors,
        elapsed_s=float(done.group(2)) * _UNITS_MS[done.group(3)] / 1000,
        p50_ms=found["50"],
        p99_ms=found["99"],
    )


def run_wrk(spec: LoadSpec, wrk: str) -> LoadResult:
    """Load `spec` with wrk: one thread, whole seconds (wrk's -d granularity)."""
    seconds = max(1, round(spec.duration_s))
    command = [wrk, "-t1", f"-c{spec.connections}", f"-d{seconds}s", "--latency"]
    command += ["--timeout", f"{IO_TIMEOUT_S:g}s"]
    for name, value in spec.headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(spec.url)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)
    return parse_wrk(done.stdout)
