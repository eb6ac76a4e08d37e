"""Load throughput: sustained requests/s of the reference client under locust, vs FastHttpUser.

What is measured: locust (one process, headless, N users with no wait time)
sending `GET /v1/products/{id}` with a valid token to the mock, for a fixed
time; the mock runs in its own process pinned to one CPU, locust pinned to
the other. Two user classes do the same requests (bench/load_users.py):

- the reference client (`ApiClient.get_product` under gevent), reported to
  locust's statistics by hand, as the load runs do;
- locust's own FastHttpUser (geventhttpclient), the cheapest locust client.

Where the CPU goes: the load generator's CPU time over the run (measured in
the locust process) and the mock's (from /proc, around each run), per request
and as a share of one core. The side near 100% of its core is the bottleneck.
Variants take turns in interleaved rounds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import interleaved
from bench.options import check, parser_for
from bench.report import format_table, machine, write_json
from bench.servers import CpuPlan, base_url, log_in, mock_launch, started

NAME = "load_throughput"
USERS_FILE = Path(__file__).resolve().parent / "load_users.py"
VARIANTS = {
    "reference client (ApiClient)": "ReferenceClientGetProduct",
    "locust FastHttpUser": "FastHttpGetProduct",
}
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (NaN where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


@dataclass
class Tally:
    requests: int = 0
    failures: int = 0
    wall_s: float = 0.0
    load_cpu_s: float = 0.0
    mock_cpu_s: float = 0.0
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.wall_s if self.wall_s else 0.0

    def per_request_us(self, cpu_s: float) -> float:
        return cpu_s / self.requests * 1e6 if self.requests else float("nan")

    def core_share(self, cpu_s: float) -> float:
        return cpu_s / self.wall_s if self.wall_s else float("nan")


def run_locust(
    user_class: str,
    base: str,
    token: str,
    product: str,
    users: int,
    seconds: float,
    cpus: frozenset[int] | None,
    mock_pid: int,
) -> dict[str, float]:
    """One headless locust run of one user class; its counts and both sides' CPU."""
    with tempfile.TemporaryDirectory() as scratch:
        result_path = Path(scratch) / "result.json"
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(USERS_FILE),
            "--headless",
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{max(1, round(seconds))}s",
            "--host",
            base,
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
            user_class,
        ]
        env = {
            **os.environ,
            "BENCH_TOKEN": token,
            "BENCH_PRODUCT": product,
            "BENCH_RESULT": str(result_path),
        }
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus is not None else None
        mock_before = process_cpu_s(mock_pid)
        subprocess.run(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=seconds + 60,
            preexec_fn=pin,
            check=True,
        )
        mock_cpu = process_cpu_s(mock_pid) - mock_before
        result: dict[str, float] = json.loads(result_path.read_text())
    result["mock_cpu_s"] = mock_cpu
    return result


def measure(
    base: str, users: int, seconds: float, rounds: int, cpus: frozenset[int] | None, mock_pid: int
) -> dict[str, Tally]:
    authorization, product = log_in(base)
    token = authorization.removeprefix("Bearer ")
    totals = {name: Tally() for name in VARIANTS}
    for round_no, name in interleaved(list(VARIANTS), rounds):
        part = run_locust(VARIANTS[name], base, token, product, users, seconds, cpus, mock_pid)
        total = totals[name]
        total.requests += int(part["requests"])
        total.failures += int(part["failures"])
        total.wall_s += part["wall_s"]
        total.load_cpu_s += part["cpu_s"]
        total.mock_cpu_s += part["mock_cpu_s"]
        total.p50_ms.append(part["p50_ms"])
        total.p99_ms.append(part["p99_ms"])
        rate = part["requests"] / part["wall_s"] if part["wall_s"] else 0.0
        print(f"  round {round_no + 1}/{rounds}  {name:<30} {rate:8,.0f} req/s", flush=True)
    return totals


def report(totals: dict[str, Tally]) -> str:
    header = [
        "load generator",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "locust CPU µs/req",
        "locust core",
        "mock CPU µs/req",
        "mock core",
    ]
    rows = []
    for name, t in totals.items():
        rows.append(
            [
                name,
                f"{t.rate:,.0f}",
                f"{max(t.p50_ms):.0f}",
                f"{max(t.p99_ms):.0f}",
                str(t.failures),
                f"{t.per_request_us(t.load_cpu_s):,.0f}",
                f"{t.core_share(t.load_cpu_s):.0%}",
                f"{t.per_request_us(t.mock_cpu_s):,.0f}",
                f"{t.core_share(t.mock_cpu_s):.0%}",
            ]
        )
    return format_table(header, rows, labels=1)


def bottleneck(t: Tally) -> str:
    load, mock = t.core_share(t.load_cpu_s), t.core_share(t.mock_cpu_s)
    return "the load generator" if load >= mock else "the mock"


def main(argv: Sequence[str] | None = None) -> int:
    parser = parser_for(
        NAME,
        __doc__,
        duration=15.0,
        warmup=0.0,
        connections=16,
        quick="one 5 s round per variant, for a smoke test",
    )
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds = 5.0, 1
    check(parser, args)
    plan = CpuPlan.detect()
    print(
        f"cpus: {plan.describe()}; {args.connections} locust users, "
        f"{args.duration:g} s x {args.rounds} rounds per variant",
        flush=True,
    )
    log_dir = Path(args.json).parent / "logs"
    with started({"mock": mock_launch()}, log_dir, plan.server) as servers:
        mock = servers["mock"]
        totals = measure(
            base_url(mock),
            args.connections,
            args.duration,
            args.rounds,
            plan.load,
            mock.process.pid,
        )
    print()
    print(report(totals))
    reference, fast = (totals[name] for name in VARIANTS)
    share = reference.rate / fast.rate if fast.rate else float("nan")
    print(
        f"\nreference client = {share:.0%} of FastHttpUser's requests/s; "
        f"bottleneck with the reference client: {bottleneck(reference)}, "
        f"with FastHttpUser: {bottleneck(fast)}"
    )
    write_json(
        Path(args.json),
        NAME,
        machine(),
        users=args.connections,
        results={
            name: {
                "requests": t.requests,
                "failures": t.failures,
                "wall_s": t.wall_s,
                "rate": t.rate,
                "load_cpu_us_per_request": t.per_request_us(t.load_cpu_s),
                "load_core_share": t.core_share(t.load_cpu_s),
                "mock_cpu_us_per_request": t.per_request_us(t.mock_cpu_s),
                "mock_core_share": t.core_share(t.mock_cpu_s),
                "p50_ms": t.p50_ms,
                "p99_ms": t.p99_ms,
            }
            for name, t in totals.items()
        },
        reference_over_fasthttp=share,
    )
    return 0 if reference.failures == 0 and fast.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
