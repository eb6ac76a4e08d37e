"""Throughput of the mock against the ceiling of a mitmproxy-addon server.

What is measured: requests/s and p50/p99 latency of `GET /v1/products/{id}`
with a valid bearer token, over 16 keep-alive HTTP/1.1 connections in a
closed loop, for each of these servers (each its own process):

- bare addon, lean master: a constant JSON answer on a mitmproxy master with
  only the mitmproxy addons the mock uses (`bench/bare_addon.py`). Nothing can
  be faster while the mock is built from mitmproxy addons: this is the ceiling.
- mock, lean master: `harness mock --port 0`, what users run.
- mock, mitmdump default chain: `mitmdump -s mocks/script.py`, the same mock
  dispatched through the dump tool's full default addon chain.
- mock and bare addon on the lean master under python -O, and the bare addon on
  mitmdump's default chain: to show what assertions/option type checks and the
  default chain cost; the mock under -O is judged against the bare addon under -O
  (one worker at least the bare addon's rate under the same flags).

Why: the mock's goal is >= 70% of the bare addon's rate (the mock's own work
may cost at most 30%), and the lean master must measurably beat mitmdump.

How: all servers start first and idle while one is measured. Servers share one
CPU and the load generator gets another (when there are two), so client and
server do not fight for a core. Each target gets a warm-up, then the measured
time is split into rounds that visit the targets in alternating order, so
drift on a shared, noisy machine hits every target alike. Requests/s is all
responses over all rounds' time; p50/p99 are the median of the rounds' values.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

import mocks.server
from bench import options
from bench.loadgen import (
    LoadResult,
    LoadSpec,
    choose_generators,
    combine,
    interleaved,
    measure,
    run_builtin,
)
from bench.report import (
    BARE,
    BARE_O,
    MOCK,
    MOCK_DUMP,
    MOCK_O,
    Row,
    machine,
    run_context,
    table,
    verdict_lines,
    verdicts,
    write_report,
)
from bench.servers import (
    HOST,
    PORT,
    CpuPlan,
    Launch,
    Running,
    base_url,
    log_in,
    mock_launch,
    pinned,
    product_path,
    started,
)


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    is_mock: bool
    launch: Launch


def _mitmdump() -> str:
    beside = Path(sys.executable).parent / "mitmdump"
    return str(beside) if beside.exists() else shutil.which("mitmdump") or "mitmdump"


def _dump_chain(script: Path) -> tuple[str, ...]:
    return (
        *(_mitmdump(), "-q", "-s", str(script)),
        *("--mode", f"reverse:{mocks.server.NO_UPSTREAM}", "--set", "connection_strategy=lazy"),
        *("--listen-host", HOST, "-p", PORT),
    )


def all_targets() -> list[Target]:
    bare_script = Path(__file__).with_name("bare_addon.py")
    mock_script = Path(mocks.server.__file__).with_name("script.py")
    return [
        Target(BARE, "bare addon, lean master", False, Launch((sys.executable, str(bare_script)))),
        Target(MOCK, "mock, lean master", True, mock_launch()),
        Target(MOCK_DUMP, "mock, mitmdump default chain", True, Launch(_dump_chain(mock_script))),
        Target(
            MOCK_O,
            "mock, lean master, python -O",
            True,
            mock_launch(env={"PYTHONOPTIMIZE": "1"}),
        ),
        Target(
            BARE_O,
            "bare addon, lean master, python -O",
            False,
            Launch((sys.executable, str(bare_script)), env={"PYTHONOPTIMIZE": "1"}),
        ),
        Target(
            "bare-dump",
            "bare addon, mitmdump default chain",
            False,
            Launch(_dump_chain(bare_script)),
        ),
    ]


# --- preparing the request -------------------------------------------------------


def load_spec(
    server: Running, authorization: str, product_id: str, args: argparse.Namespace
) -> LoadSpec:
    return LoadSpec(
        host=HOST,
        port=server.port,
        path=product_path(product_id),
        headers={"Authorization": authorization},
        connections=args.connections,
        duration_s=args.duration / args.rounds,
    )


def prepare(
    targets: list[Target], running: dict[str, Running], args: argparse.Namespace
) -> dict[str, LoadSpec]:
    """One load spec per target; bare targets get the same request bytes as a mock's."""
    logins = {t.key: log_in(base_url(running[t.key])) for t in targets if t.is_mock}
    # The bare addon ignores the token; any real one keeps the request the same size.
    fallback = next(iter(logins.values()), ("Bearer " + "x" * 200, "prd_0000000000000000bare"))
    specs = {}
    for t in targets:
        authorization, product_id = logins.get(t.key, fallback)
        specs[t.key] = load_spec(running[t.key], authorization, product_id, args)
    for key, spec in specs.items():
        status = httpx.get(spec.url, headers=spec.headers, timeout=10.0).status_code
        if status != 200:
            raise RuntimeError(f"{key}: GET {spec.path} answered {status}, not 200")
    return specs


# --- measuring ---------------------------------------------------------------------


def run_rounds(
    targets: list[Target],
    specs: dict[str, LoadSpec],
    generators: list[str],
    args: argparse.Namespace,
) -> list[Row]:
    for t in targets:
        print(f"  warm-up {t.label}", flush=True)
        run_builtin(replace(specs[t.key], duration_s=args.warmup))
    parts: dict[tuple[str, str], list[LoadResult]] = {}
    for n, t in interleaved(targets, args.rounds):
        for generator in generators:
            result = measure(specs[t.key], generator)
            parts.setdefault((t.key, generator), []).append(result)
            print(
                f"  round {n + 1}/{args.rounds}  {t.label:<36} {generator:<8} "
                f"{result.rate:8.0f} req/s",
                flush=True,
            )
    return [
        Row(t.key, t.label, g, combine(parts[t.key, g]), [p.rate for p in parts[t.key, g]])
        for t in targets
        for g in generators
    ]


# --- command line ------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser_for(
        "mock_throughput",
        __doc__,
        duration=8.0,
        warmup=1.5,
        connections=16,
        quick="3 s per target, 1 round, 1 s warm-up",
    )
    options.add_rounds_and_generator(parser, rounds=2)
    parser.add_argument(
        "--targets", help="comma-separated subset of: " + ", ".join(t.key for t in all_targets())
    )
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 3.0, 1, 1.0
    options.check(parser, args)
    return args


def choose_targets(spec: str | None) -> list[Target]:
    targets = all_targets()
    if not spec:
        return targets
    wanted = [key.strip() for key in spec.split(",")]
    known = {t.key for t in targets}
    if unknown := [k for k in wanted if k not in known]:
        raise SystemExit(f"unknown targets: {', '.join(unknown)}")
    return [t for t in targets if t.key in wanted]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    targets = choose_targets(args.targets)
    generators = choose_generators(args.generator)
    plan = CpuPlan.detect()
    info = machine()
    described = {"wrk": f"wrk ({info['wrk']})", "builtin": "built-in asyncio raw-socket generator"}
    print(f"load generator: {', '.join(described[g] for g in generators)}")
    print(
        f"cpus: {plan.describe()}; {args.connections} connections, {args.duration:g} s per target "
        f"in {args.rounds} round(s) after {args.warmup:g} s warm-up"
    )
    try:
        with started(
            {t.key: t.launch for t in targets}, args.json.parent / "logs", plan.server
        ) as running:
            specs = prepare(targets, running, args)
            with pinned(plan.load):
                rows = run_rounds(targets, specs, generators, args)
    except (RuntimeError, httpx.HTTPError, subprocess.SubprocessError, ValueError) as e:
        print(f"mock_throughput: {e}", file=sys.stderr)
        return 1
    found = verdicts(rows)
    print()
    print(table(rows))
    print()
    print("\n".join(verdict_lines(found)))
    info |= {
        **run_context(args, plan.describe()),
        "generators": generators,
    }
    write_report(args.json, rows, found, info)
    print(f"\nresults written to {args.json}")
    if any(r.result.errors for r in rows):
        print(
            "mock_throughput: some requests failed; the numbers above are not trustworthy",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
