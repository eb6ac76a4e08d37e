"""Memory of the mock over a long run: RSS over 1M requests, abandoned requests and
header floods.

What is measured: the resident set size (RSS) of a `harness mock` process,
sampled once the mock is idle (its CPU time stops growing), in three phases:

- requests: `GET /v1/products/{id}` with a bearer token over 16 keep-alive
  connections, 1,000,000 in total, sampled every 1/20 of them;
- abandoned: 1,000 `POST /v1/products` that announce a 2 MiB body, send
  1 MiB of it and close the connection (a client that gave up), 50 at a time;
- header flood: the attack of issue 15, rounds of 30 connections each sending
  an unfinished 15 MiB header and closing.

Why: a mock runs for a whole CI job or load run; memory a client can make it
keep must come back. mitmproxy on its own keeps an abandoned request's buffers
until its cyclic garbage collector happens to run (see
docs/upstream/mitmproxy-abandoned-request-memory.md) and has no bound on a
request head; the mock bounds heads and empties a closed connection's buffers.
Target: every phase ends within 10% of its RSS after its first step (the
warm-up: the journal ring filling up, the first batch's working set), and
never passes that by more than the 16 MiB that closed connections may bring
before the mock's next collection (mocks/limits.py: freed, not kept).
The requests take a fresh token every slice (the demo's live 5 minutes).

How: the mock runs in its own process on one CPU, the load from this process
on the other. `--quick` is a short run for development (20,000 requests, 150
abandoned, 2 flood rounds); the full run takes some ten minutes: run it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bench import options
from bench.loadgen import LoadSpec, run_builtin
from bench.report import format_table, machine, run_context, write_json
from bench.servers import (
    HOST,
    CpuPlan,
    Running,
    base_url,
    log_in,
    mock_launch,
    pinned,
    product_path,
    started,
)
from contracts.operations import API_PREFIX
from mocks.limits import COLLECT_AFTER_BYTES

TARGET = 0.10
MIB = 1024 * 1024
PENDING_MIB = COLLECT_AFTER_BYTES / MIB  # closed connections' buffers, freed at the next collection
SAMPLES = 20
IDLE_WAIT_S = 20.0


@dataclass(frozen=True)
class Sample:
    phase: str
    done: int  # requests (or connections) so far in this phase
    rss_mib: float
    errors: int = 0


@dataclass(frozen=True)
class Plan:
    requests: int
    abandoned: int
    abandoned_batch: int
    flood_rounds: int
    flood_connections: int = 30
    flood_mib: int = 15
    body_mib: int = 1


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def settled_rss(pid: int) -> float:
    """RSS once the process is idle: no CPU time for 0.5 s (at most IDLE_WAIT_S)."""
    deadline = time.monotonic() + IDLE_WAIT_S
    ticks = _cpu_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu_ticks(pid)
        if now == ticks:
            break
        ticks = now
    return rss_mib(pid)


def requests_phase(server: Running, plan: Plan) -> list[Sample]:
    pid = server.process.pid
    samples = [Sample("requests", 0, settled_rss(pid))]
    step = max(1, plan.requests // SAMPLES)
    done = errors = 0
    while done < plan.requests:
        authorization, product_id = log_in(base_url(server))  # tokens expire meanwhile
        spec = LoadSpec(
            host=HOST,
            port=server.port,
            path=product_path(product_id),
            headers={"Authorization": authorization},
            connections=16,
            duration_s=3600.0,  # the budget ends each slice; the deadline is a backstop
        )
        result = run_builtin(spec, budget=min(step, plan.requests - done))
        done += result.responses
        errors += result.errors
        samples.append(Sample("requests", done, settled_rss(pid), errors))
        print(f"  requests {done:>9,}  rss {samples[-1].rss_mib:7.1f} MiB", flush=True)
        if result.responses == 0:
            raise RuntimeError("the mock stopped answering")
    return samples


async def _abandon(port: int, head: bytes, body: bytes) -> None:
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(30):
            _, writer = await asyncio.open_connection(HOST, port)
            try:
                writer.write(head)
                for start in range(0, len(body), 65536):
                    writer.write(body[start : start + 65536])
                    await writer.drain()
            finally:
                writer.close()


async def _batch(port: int, count: int, head: bytes, body: bytes) -> None:
    async with asyncio.TaskGroup() as group:
        for _ in range(count):
            group.create_task(_abandon(port, head, body))


def abandoned_phase(server: Running, plan: Plan) -> list[Sample]:
    authorization, _ = log_in(base_url(server))
    sent = plan.body_mib * MIB
    head = (
        f"POST {API_PREFIX}/products HTTP/1.1\r\nHost: {HOST}:{server.port}\r\n"
        f"Authorization: {authorization}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {2 * sent}\r\n\r\n"
    ).encode()
    pid = server.process.pid
    samples = [Sample("abandoned", 0, settled_rss(pid))]
    done = 0
    step = max(plan.abandoned_batch, plan.abandoned // SAMPLES)
    while done < plan.abandoned:
        target = min(plan.abandoned, done + step)
        while done < target:
            count = min(plan.abandoned_batch, target - done)
            asyncio.run(_batch(server.port, count, head, b"x" * sent))
            done += count
        samples.append(Sample("abandoned", done, settled_rss(pid)))
        print(f"  abandoned {done:>8,}  rss {samples[-1].rss_mib:7.1f} MiB", flush=True)
    return samples


def flood_phase(server: Running, plan: Plan) -> list[Sample]:
    head = f"GET {API_PREFIX}/products HTTP/1.1\r\nHost: {HOST}:{server.port}\r\nX-Big: ".encode()
    body = b"a" * (plan.flood_mib * MIB)
    pid = server.process.pid
    samples = [Sample("header flood", 0, settled_rss(pid))]
    for n in range(1, plan.flood_rounds + 1):
        asyncio.run(_batch(server.port, plan.flood_connections, head, body))
        samples.append(Sample("header flood", n * plan.flood_connections, settled_rss(pid)))
        print(f"  flood round {n}  rss {samples[-1].rss_mib:7.1f} MiB", flush=True)
    return samples


def _warm(samples: list[Sample]) -> float:
    return samples[1].rss_mib if len(samples) > 1 else samples[0].rss_mib


def growth(samples: list[Sample]) -> float:
    """RSS at the phase's end over RSS after its first step, as a fraction: the first
    step is the warm-up (the journal ring filling, the first batch's buffers)."""
    warm = _warm(samples)
    return samples[-1].rss_mib / warm - 1 if warm else 0.0


def flat(samples: list[Sample]) -> bool:
    """Ends within the target, and never above it by more than what may wait for the
    next collection."""
    peak = max(s.rss_mib for s in samples[1:]) if len(samples) > 1 else samples[0].rss_mib
    return growth(samples) <= TARGET and peak <= _warm(samples) * (1 + TARGET) + PENDING_MIB


def table(samples: list[Sample]) -> str:
    rows = []
    for phase in dict.fromkeys(s.phase for s in samples):
        mine = [s for s in samples if s.phase == phase]
        warm = mine[1] if len(mine) > 1 else mine[0]
        rows.append(
            [
                phase,
                f"{mine[-1].done:,}",
                f"{mine[0].rss_mib:.1f}",
                f"{warm.rss_mib:.1f} ({warm.done:,})",
                f"{max(s.rss_mib for s in mine):.1f}",
                f"{mine[-1].rss_mib:.1f}",
                f"{growth(mine) * 100:+.1f}%",
                "flat" if flat(mine) else "GREW",
            ]
        )
    header = ["phase", "count", "start MiB", "warm MiB (at)", "max MiB", "last MiB", "kept"]
    header.append("verdict")
    return format_table(header, rows, labels=1)


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser_for(
        "soak_memory",
        __doc__,
        duration=1.0,
        warmup=0.0,
        connections=16,
        quick="20,000 requests, 150 abandoned, 2 flood rounds",
    )
    parser.add_argument("--requests", type=int, default=1_000_000, help="keep-alive requests")
    parser.add_argument("--abandoned", type=int, default=1_000, help="abandoned 1 MiB requests")
    parser.add_argument("--flood-rounds", type=int, default=4, help="header flood rounds of 30")
    parser.add_argument(
        "--set",
        dest="mock_options",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a mock option (harness mock --set), e.g. harness_max_header_bytes=0",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.abandoned, args.flood_rounds = 20_000, 150, 2
    if min(args.requests, args.abandoned, args.flood_rounds) < 1:
        parser.error("--requests, --abandoned and --flood-rounds must be at least 1")
    if not Path("/proc/self/status").exists():
        print("soak_memory: needs /proc (Linux) to read RSS", file=sys.stderr)
        return 1
    plan = Plan(args.requests, args.abandoned, 50, args.flood_rounds)
    cpus = CpuPlan.detect()
    print(f"cpus: {cpus.describe()}; plan: {plan}")
    extra = [arg for option in args.mock_options for arg in ("--set", option)]
    launch = mock_launch("--journal-size", "10000", *extra)
    samples: list[Sample] = []
    try:
        with started({"mock": launch}, args.json.parent / "logs", cpus.server) as running:
            server = running["mock"]
            with pinned(cpus.load):
                for phase in (requests_phase, abandoned_phase, flood_phase):
                    samples += phase(server, plan)
            alive = httpx.get(base_url(server) + "/__harness/health", timeout=10).json()
    except (RuntimeError, httpx.HTTPError, OSError, ValueError) as e:
        print(f"soak_memory: {e}", file=sys.stderr)
        return 1
    print()
    print(table(samples))
    phases = {s.phase for s in samples}
    met = all(flat([s for s in samples if s.phase == p]) for p in phases)
    print(
        f"\ntarget: every phase ends within {TARGET:.0%} of its warm RSS, and peaks at most "
        f"{PENDING_MIB:.0f} MiB (one collection's worth) above that: "
        f"{'met' if met else 'NOT met'}; the mock answered health: {alive['status']}"
    )
    errors = max((s.errors for s in samples), default=0)
    info = machine() | run_context(args, cpus.describe())
    write_json(
        args.json,
        "soak_memory",
        info,
        plan=asdict(plan),
        samples=[asdict(s) for s in samples],
        growth={p: growth([s for s in samples if s.phase == p]) for p in sorted(phases)},
        target=TARGET,
        met=met,
    )
    print(f"results written to {args.json}")
    if errors:
        print(f"soak_memory: {errors} requests failed", file=sys.stderr)
        return 1
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
