"""Throughput of `harness mock --workers N`: one worker beside two, side by side.

What is measured, in one run: requests/s, p50/p99 and the servers' CPU time
per request of `GET /v1/products/{id}` with a valid bearer token, over
keep-alive connections in a closed loop, for:
- 1 worker under python -O, state in memory (the plain `harness mock`);
- 1 worker under python -O, state in the SQLite store (`--state FILE`): what
  sharing costs a worker (the journal row, the token and epoch reads);
- 2 workers (`--workers 2`, -O, one SQLite store), on both CPUs;
- beside them, on the first CPU: the bare mitmproxy addon (bench/bare_addon.py,
  plain and -O: the ceiling of a mock made of mitmproxy addons), and WireMock
  (a stub answering the same read with the same bytes) when it is installed
  (`python -m bench.references install`).
Each row also gives the target's resident memory (all its processes) after
its rounds.

Why: the issue's target, N workers on N cores at >= 0.85 x N one worker's
rate (2 cores: >= 1.7x). CPU per request (all the target's processes, from
/proc) says what a worker costs whatever the load generator could send.

How: as mock_throughput (interleaved rounds after a warm-up; the load
generator on the second CPU). One-worker targets are pinned to the first CPU;
the two workers get both, so on a 2-CPU machine one of them shares its CPU
with the load generator: read the ratio with that in mind (the table says it).

A second table does the same for a document-served mock (`--config`, the
books document with its item read secured: `GET /api/books/1`, items in the
shared store with 2 workers or SQLite state), and beside it Prism (the
reference spec mock, stateless, pinned to one CPU as one worker is) when
Prism is installed (`python -m bench.references install`, `prism` on PATH, or
`--prism PATH`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from bench import options
from bench.bare_addon import BODY
from bench.loadgen import (
    LoadResult,
    LoadSpec,
    choose_generators,
    combine,
    interleaved,
    measure,
    run_builtin,
)
from bench.mock_throughput import Target, prepare
from bench.mock_throughput import all_targets as throughput_targets
from bench.references import find, missing_reason, wiremock_launch
from bench.report import BARE, BARE_O, format_table, machine, rate_cells, run_context, write_json
from bench.servers import (
    HOST,
    PORT,
    CpuPlan,
    Launch,
    Running,
    mock_launch,
    pinned,
    product_path,
    start,
    stop,
)
from bench.spec_mock_throughput import secured_books, spec_login

ONE = "1-worker"
SPEC_ONE = "spec-1-worker"
PRISM = "prism"
WIREMOCK = "wiremock"
TWO = ("2-workers", "spec-2-workers")
TARGET_RATIO = 1.7
JIT_WARMUP_S = 10.0  # WireMock's rate climbs for seconds while the JVM compiles
_TICK_S = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


@dataclass(frozen=True)
class Measured:
    target: Target
    generator: str
    result: LoadResult
    cpu_s: float
    load_cpu_s: float = 0.0  # the load generator's (this process and what it ran)
    rss_mib: float = 0.0  # the target's processes, after its rounds

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.result.responses * 1e6 if self.result.responses else 0.0

    @property
    def load_cpu_us_per_request(self) -> float:
        return self.load_cpu_s / self.result.responses * 1e6 if self.result.responses else 0.0


def all_targets(state_dir: Path) -> list[Target]:
    optimized = {"PYTHONOPTIMIZE": "1"}
    bare = [t for t in throughput_targets() if t.key in (BARE, BARE_O)]
    wiremock = wiremock_launch(state_dir / "wiremock", product_path("[^/]+"), BODY)
    others = [Target(WIREMOCK, "WireMock 3.13 (stub), 1 CPU", False, wiremock)] if wiremock else []
    return [
        *bare,
        Target(ONE, "1 worker, state in memory", True, mock_launch(env=optimized)),
        Target(
            "1-worker-sqlite",
            "1 worker, SQLite state",
            True,
            mock_launch("--state", str(state_dir / "one.sqlite"), env=optimized),
        ),
        Target("2-workers", "2 workers, SQLite state", True, mock_launch("--workers", "2")),
        *others,
    ]


def spec_targets(state_dir: Path, config: Path, prism: str | None) -> list[Target]:
    """The same three for a document's mock, and Prism on that document if installed."""
    optimized = {"PYTHONOPTIMIZE": "1"}
    served = ("--config", str(config))
    found = [
        Target(SPEC_ONE, "spec: 1 worker, in memory", True, mock_launch(*served, env=optimized)),
        Target(
            "spec-1-worker-sqlite",
            "spec: 1 worker, SQLite state",
            True,
            mock_launch(*served, "--state", str(state_dir / "spec.sqlite"), env=optimized),
        ),
        Target(
            "spec-2-workers",
            "spec: 2 workers, SQLite",
            True,
            mock_launch(*served, "--workers", "2"),
        ),
    ]
    if prism:
        document = str(config.with_name("openapi.yaml"))
        argv = (prism, "mock", "--host", HOST, "--port", PORT, "--errors", "false", document)
        found.append(Target(PRISM, "Prism (stateless), 1 CPU", False, Launch(argv)))
    return found


def prepare_spec(
    targets: list[Target], running: dict[str, Running], args: argparse.Namespace
) -> dict[str, LoadSpec]:
    """GET /api/books/1 with a token from each mock (Prism: the first mock's, which it only
    checks is there; it serves the paths without the document's base path); every
    target must answer it 200, and 401 without a token."""
    auth = {t.key: spec_login(running[t.key])[0] for t in targets if t.is_mock}
    specs = {}
    for t in targets:
        token = auth.get(t.key) or next(iter(auth.values()))
        spec = LoadSpec(
            host=HOST,
            port=running[t.key].port,
            path="/books/1" if t.key == PRISM else "/api/books/1",  # Prism drops the base
            headers={"Authorization": token},
            connections=args.connections,
            duration_s=args.duration / args.rounds,
        )
        status = httpx.get(spec.url, headers=spec.headers, timeout=10.0).status_code
        if status != 200:
            raise RuntimeError(f"{t.key}: GET {spec.path} answered {status}, not 200")
        if httpx.get(spec.url, timeout=10.0).status_code != 401:
            raise RuntimeError(f"{t.key}: the item read is not secured")
        specs[t.key] = spec
    return specs


def server_pids(server: Running) -> list[int]:
    """The target's processes: the one started and all its descendants (a mock's
    workers, the JVM that WireMock's Node wrapper starts)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    found = [server.process.pid]
    for pid in found:
        found.extend(child for child, parent in parents.items() if parent == pid)
    return found


def rss_mib(pids: Sequence[int]) -> float:
    """Resident memory of these processes (Linux /proc), MiB."""
    total_kib = 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        total_kib += next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0
        )
    return total_kib / 1024


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total * _TICK_S


def generator_cpu_seconds() -> float:
    """CPU time of this process (the built-in generator) and its finished children (wrk)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def scaling_summary(one: Measured, two: Measured, workers: int = 2) -> str:
    """The rate ratio, and what CPU per request says beside it: `workers` cores of
    their own would give workers x (one's CPU per request / theirs); on a machine of
    `workers` cores shared with the load generator, they can reach at most
    workers / (their CPU + the generator's, per request)."""
    ratio = two.result.rate / one.result.rate
    met = "met" if ratio >= TARGET_RATIO else "NOT met"
    line = f"{workers} workers / 1 worker = {ratio:.2f}x (target >= {TARGET_RATIO}x): {met}"
    if not (one.cpu_us_per_request and two.cpu_us_per_request):
        return line
    own = workers * one.cpu_us_per_request / two.cpu_us_per_request
    ceiling = (
        workers * one.cpu_us_per_request / (two.cpu_us_per_request + two.load_cpu_us_per_request)
    )
    return (
        f"{line}\n  by CPU per request: {workers} x {one.cpu_us_per_request:.0f}/"
        f"{two.cpu_us_per_request:.0f} us = {own:.2f}x on {workers} cores of their own; "
        f"here the load generator ({two.load_cpu_us_per_request:.0f} us/req) shares "
        f"them: at most {ceiling:.2f}x"
    )


def run_rounds(
    targets: list[Target],
    running: dict[str, Running],
    generators: list[str],
    args: argparse.Namespace,
    specs: dict[str, LoadSpec],
) -> list[Measured]:
    pids = {t.key: server_pids(running[t.key]) for t in targets}
    for t in targets:
        print(f"  warm-up {t.label}", flush=True)
        warmup = max(args.warmup, JIT_WARMUP_S) if t.key == WIREMOCK else args.warmup
        run_builtin(replace(specs[t.key], duration_s=warmup))
    parts: dict[tuple[str, str], list[tuple[LoadResult, float, float]]] = {}
    for n, t in interleaved(targets, args.rounds):
        for generator in generators:
            before, load_before = cpu_seconds(pids[t.key]), generator_cpu_seconds()
            result = measure(specs[t.key], generator)
            used = cpu_seconds(pids[t.key]) - before
            load_used = generator_cpu_seconds() - load_before
            parts.setdefault((t.key, generator), []).append((result, used, load_used))
            print(
                f"  round {n + 1}/{args.rounds}  {t.label:<28} {generator:<8} "
                f"{result.rate:8.0f} req/s",
                flush=True,
            )
    return [
        Measured(
            t,
            g,
            combine([r for r, _, _ in parts[t.key, g]]),
            sum(c for _, c, _ in parts[t.key, g]),
            sum(c for _, _, c in parts[t.key, g]),
            rss_mib(pids[t.key]),
        )
        for t in targets
        for g in generators
    ]


def table(rows: list[Measured], base: str = ONE) -> str:
    one = {r.generator: r.result.rate for r in rows if r.target.key == base}
    lines = []
    for row in rows:
        rate = one.get(row.generator)
        ratio = f"{row.result.rate / rate:.2f}x" if rate else "-"
        cpu, rss = f"{row.cpu_us_per_request:.0f}", f"{row.rss_mib:.0f}"
        lines.append([row.target.label, row.generator, *rate_cells(row.result), cpu, rss, ratio])
    header = ["target", "generator", "requests/s", "p50 ms", "p99 ms", "errors"]
    return format_table([*header, "CPU us/req", "RSS MiB", "x 1 worker"], lines)


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser_for(
        "workers_throughput",
        __doc__,
        duration=8.0,
        warmup=1.5,
        connections=16,
        quick="3 s per target, 1 round, 1 s warm-up",
    )
    options.add_rounds_and_generator(parser, rounds=2)
    parser.add_argument(
        "--prism", metavar="PATH", help="Prism's executable (default: `prism` on PATH, if any)"
    )
    parser.add_argument(
        "--no-spec", action="store_true", help="only the demo's table, not the document's"
    )
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 3.0, 1, 1.0
    options.check(parser, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    generators = choose_generators(args.generator)
    plan = CpuPlan.detect()
    logs = args.json.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for stale in [*logs.glob("one.sqlite*"), *logs.glob("spec.sqlite*")]:
        stale.unlink()
    targets = all_targets(logs)
    groups: list[tuple[list[Target], Any, str]] = [(targets, prepare, ONE)]
    if not args.no_spec:
        config = secured_books(args.json.parent / "workers_books")
        prism = args.prism or find("prism")
        groups.append((spec_targets(logs, config, prism), prepare_spec, SPEC_ONE))
    info = machine()
    both = plan.server | plan.load if plan.server and plan.load else None
    print(f"load generator: {', '.join(generators)}; {plan.describe()}")
    print("one worker on the servers' CPU; two workers on both CPUs (sharing one with the load)")
    for name in ("wiremock", *(() if args.prism else ("prism",))):
        if reason := missing_reason(name):
            print(f"{name}: {reason}; left out")
    print(f"load average before: {_load_average()}")
    running: dict[str, Running] = {}
    tables: list[tuple[list[Measured], str]] = []
    try:
        for found, prepare_group, base in groups:
            for t in found:
                cpus = both if t.key in TWO else plan.server
                running[t.key] = start(t.key, t.launch, logs, cpus)
            specs = prepare_group(found, running, args)
            with pinned(plan.load):
                tables.append((run_rounds(found, running, generators, args, specs), base))
            for t in found:  # idle servers cost little, but the next group runs alone
                stop(running.pop(t.key).process)
    except (RuntimeError, httpx.HTTPError, subprocess.SubprocessError, ValueError, OSError) as e:
        print(f"workers_throughput: {e}", file=sys.stderr)
        return 1
    finally:
        for server in running.values():
            stop(server.process)
    after = _load_average()
    print()
    rows = [r for group, _ in tables for r in group]
    for group, base in tables:
        print(table(group, base))
        two = [r for r in group if r.target.key in TWO]
        one = next((r for r in group if r.target.key == base), None)
        if two and one and one.result.rate:
            print(scaling_summary(one, two[0]))
        print()
    print(f"load average after: {after} (other engineers' tests share this machine)")
    results = [
        {
            "target": r.target.key,
            "label": r.target.label,
            "generator": r.generator,
            "rate": r.result.rate,
            "p50_ms": r.result.p50_ms,
            "p99_ms": r.result.p99_ms,
            "errors": r.result.errors,
            "cpu_us_per_request": r.cpu_us_per_request,
            "load_generator_cpu_us_per_request": r.load_cpu_us_per_request,
            "rss_mib": r.rss_mib,
        }
        for r in rows
    ]
    context = info | run_context(args, plan.describe()) | {"load_average_after": after}
    write_json(args.json, "workers_throughput", context, results=results)
    print(f"\nresults written to {args.json}")
    if any(r.result.errors for r in rows):
        print(
            "workers_throughput: some requests failed; the numbers are not trustworthy",
            file=sys.stderr,
        )
        return 1
    return 0


def _load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
