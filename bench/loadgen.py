"""HTTP/1.1 load over keep-alive connections, for a fixed time.

Closed loop (throughput): N connections, each sending the next request as
soon as the previous response has been read. Two generators produce the same
`LoadResult`:

- `run_wrk`: wrk (if installed), one thread, its `--latency` percentiles.
- `run_builtin`: asyncio on raw sockets, for machines without wrk. It writes
  prepared request bytes, reads the head and a Content-Length body, and times
  each request from write to last byte.

Paced (latency at a given load): `run_paced` sends requests on a fixed
schedule at a steady total rate, well below saturation, and returns every
request's latency, so a benchmark can look at single requests (see
`PacedSpec`). It uses the same raw-socket client as `run_builtin`.

Every loop is bounded by a deadline and by a request budget, and every read
by a timeout. Requests/s counts every response; responses other than 200, and
connection failures, are also counted as errors (a run with errors measures
nothing useful: the benchmark reports it and fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

MAX_REQUESTS = 5_000_000
IO_TIMEOUT_S = 5.0
GENERATOR_CHOICES = ("auto", "wrk", "builtin", "both")
K = TypeVar("K")


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

    def request_bytes(self, extra_headers: dict[str, str] | None = None) -> bytes:
        lines = [f"GET {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        headers = self.headers | (extra_headers or {})
        lines += [f"{name}: {value}" for name, value in headers.items()]
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


def interleaved(keys: Sequence[K], rounds: int) -> Iterator[tuple[int, K]]:
    """(round, key) pairs visiting `keys` in alternating order, round after round,
    so that drift on a shared machine hits every key alike."""
    for n in range(rounds):
        for key in keys if n % 2 == 0 else keys[::-1]:
            yield n, key


def choose_generators(choice: str) -> list[str]:
    """`GENERATOR_CHOICES` to generator names; `auto` prefers wrk when installed."""
    if choice == "both":
        return ["wrk", "builtin"] if wrk_path() else ["builtin"]
    if choice == "auto":
        return ["wrk"] if wrk_path() else ["builtin"]
    return [choice]


def measure(spec: LoadSpec, generator: str) -> LoadResult:
    """One closed-loop run of `spec` with the named generator."""
    if generator == "wrk":
        wrk = wrk_path()
        if wrk is None:
            raise ValueError("wrk is not on PATH")
        return run_wrk(spec, wrk)
    return run_builtin(spec)


def combine(parts: list[LoadResult]) -> LoadResult:
    """Rounds as one result: all responses over all time, median percentiles."""
    return LoadResult(
        generator=parts[0].generator,
        responses=sum(p.responses for p in parts),
        errors=sum(p.errors for p in parts),
        elapsed_s=sum(p.elapsed_s for p in parts),
        p50_ms=statistics.median(p.p50_ms for p in parts),
        p99_ms=statistics.median(p.p99_ms for p in parts),
    )


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


# Requests on one open connection; returns whether to reconnect (the server closed it).
Exchange = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, tally: _Tally
) -> bool:
    """Request after request on one connection, until told to stop or it closes."""
    while tally.take():
        started = time.perf_counter()
        writer.write(request)
        async with asyncio.timeout(IO_TIMEOUT_S):
            status, keep_alive = await _read_response(reader)
        tally.record(status, time.perf_counter() - started)
        if not keep_alive:
            return True
    return False


async def _connection(spec: LoadSpec, tally: _Tally, exchange: Exchange) -> None:
    """One client connection running `exchange`; reconnects after a failure, or when
    the server closed the connection, while time and budget last."""
    while tally.open():
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(IO_TIMEOUT_S):
                reader, writer = await asyncio.open_connection(spec.host, spec.port)
            if not await exchange(reader, writer):
                return
        except (OSError, TimeoutError, ValueError, ProtocolError, asyncio.IncompleteReadError):
            tally.errors += 1
            tally.budget -= 1  # failures spend the budget too: reconnecting is bounded
            await asyncio.sleep(0.01)
        finally:
            if writer is not None:
                writer.close()


async def _run_builtin(spec: LoadSpec, budget: int) -> LoadResult:
    request = spec.request_bytes()
    started = time.perf_counter()
    tally = _Tally(deadline=started + spec.duration_s, budget=budget)
    exchange = partial(_exchange, request=request, tally=tally)
    async with asyncio.TaskGroup() as group:
        for _ in range(spec.connections):
            group.create_task(_connection(spec, tally, exchange))
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


def run_builtin(spec: LoadSpec, budget: int = MAX_REQUESTS) -> LoadResult:
    """Load `spec` with the built-in asyncio generator (in this process), for its
    duration or until `budget` requests have been sent, whichever ends first."""
    return asyncio.run(_run_builtin(spec, min(budget, MAX_REQUESTS)))


# --- paced (open-loop) built-in generator -------------------------------------


@dataclass(frozen=True)
class PacedSpec:
    """Requests at a steady total `rate` (req/s), on `load.connections` keep-alive lanes.

    Lane i sends its k-th request at `start + (i + k * lanes) / rate`, or as soon
    as its previous response is in if that is later (the request is then late:
    `Sample.late_s`). The schedule does not depend on how fast the server is, so
    a slow answer does not thin out the load, as it would in a closed loop; keep
    `lanes / rate` above the slowest expected answer. `variants` are extra
    headers; lane i's k-th request carries variant `(i + k) % len(variants)`, so
    every lane carries every variant, interleaved in time.

    The first `warmup_s` run on the same connections as the measured
    `load.duration_s`; their samples are flagged, not dropped. Connections
    open once and all close together at the end, so no measured request
    overlaps the server's work of opening or closing a connection.
    """

    load: LoadSpec
    rate: float
    variants: tuple[dict[str, str], ...] = field(default_factory=lambda: ({},))
    warmup_s: float = 0.0


@dataclass(frozen=True)
class Sample:
    """One paced request: which variant, on which client port, how it went.

    Requests on one connection are answered in order, so a connection's samples
    pair up one to one with the server's records of that client port."""

    variant: int
    local_port: int
    status: int
    latency_s: float
    late_s: float
    due_s: float  # since the start of the run, warm-up included
    warmup: bool


@dataclass(frozen=True)
class PacedResult:
    samples: list[Sample]  # warm-up and measured, in the order they completed
    errors: int  # in the measured part
    duration_s: float  # of the measured part's schedule

    @property
    def measured(self) -> list[Sample]:
        return [s for s in self.samples if not s.warmup]


@dataclass
class _Pacer(_Tally):
    """The closed loop's tally plus the schedule of every lane."""

    start: float = 0.0
    rate: float = 1.0
    warmup_s: float = 0.0
    requests: tuple[bytes, ...] = ()
    turns: list[int] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    finished: set[int] = field(default_factory=set)
    all_finished: asyncio.Event = field(default_factory=asyncio.Event)

    def next_turn(self, lane: int) -> tuple[int, float] | None:
        """(variant, due time) of the lane's next request, or None when the run is over."""
        k = self.turns[lane]
        due = self.start + (lane + k * len(self.turns)) / self.rate
        if due >= self.deadline or not self.take():
            return None
        self.turns[lane] = k + 1
        return (lane + k) % len(self.requests), due

    def record_sample(
        self, variant: int, port: int, status: int, started: float, due: float
    ) -> None:
        since_start = due - self.start
        warmup = since_start < self.warmup_s
        latency = time.perf_counter() - started
        self.samples.append(
            Sample(variant, port, status, latency, started - due, since_start, warmup)
        )
        if status != 200 and not warmup:
            self.errors += 1

    def finish(self, lane: int) -> None:
        self.finished.add(lane)
        if len(self.finished) == len(self.turns):
            self.all_finished.set()


async def _paced_exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pacer: _Pacer, lane: int
) -> bool:
    """The lane's requests on one connection, each at its due time; then it waits
    (bounded) for every other lane before the connection closes."""
    local_port: int = writer.get_extra_info("sockname")[1]
    while (turn := pacer.next_turn(lane)) is not None:
        variant, due = turn
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        started = time.perf_counter()
        writer.write(pacer.requests[variant])
        async with asyncio.timeout(IO_TIMEOUT_S):
            status, keep_alive = await _read_response(reader)
        pacer.record_sample(variant, local_port, status, started, due)
        if not keep_alive:
            return True
    pacer.finish(lane)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(IO_TIMEOUT_S):
            await pacer.all_finished.wait()
    return False


async def _lane(load: LoadSpec, pacer: _Pacer, lane: int) -> None:
    try:
        await _connection(load, pacer, partial(_paced_exchange, pacer=pacer, lane=lane))
    finally:
        pacer.finish(lane)  # also when it gave up after failures: nobody waits for it


async def _run_paced(spec: PacedSpec) -> PacedResult:
    load = spec.load
    started = time.perf_counter()
    total_s = spec.warmup_s + load.duration_s
    pacer = _Pacer(
        deadline=started + total_s,
        budget=math.ceil(spec.rate * total_s) + load.connections,
        start=started,
        rate=spec.rate,
        warmup_s=spec.warmup_s,
        requests=tuple(load.request_bytes(extra) for extra in spec.variants),
        turns=[0] * load.connections,
    )
    async with asyncio.TaskGroup() as group:
        for lane in range(load.connections):
            group.create_task(_lane(load, pacer, lane))
    return PacedResult(pacer.samples, pacer.errors, load.duration_s)


def run_paced(spec: PacedSpec) -> PacedResult:
    """Load at `spec.rate` for `spec.warmup_s + spec.load.duration_s` (in this process)."""
    if spec.rate <= 0 or not spec.variants or spec.warmup_s < 0:
        raise ValueError("a paced run needs a positive rate and at least one variant")
    return asyncio.run(_run_paced(spec))


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
