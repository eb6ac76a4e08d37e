"""Run every benchmark, or one: `python -m bench [--quick] [--only NAME] [options]`.

Options this runner does not know are passed on to each benchmark's `main`
(for example `--generator both` for mock_throughput and fault_rules_cost), so
pass only options every selected benchmark knows, or use `--only`. Each
benchmark writes `reports/bench/<name>.json`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bench import (
    client_overhead,
    contract_suite,
    fault_delay,
    fault_rules_cost,
    load_throughput,
    mock_throughput,
    soak_memory,
    spec_mock_throughput,
    workers_throughput,
)

BENCHMARKS: dict[str, Callable[[Sequence[str]], int]] = {
    "mock_throughput": mock_throughput.main,
    "fault_delay": fault_delay.main,
    "fault_rules_cost": fault_rules_cost.main,
    "client_overhead": client_overhead.main,
    "load_throughput": load_throughput.main,
    "contract_suite": contract_suite.main,
    "spec_mock_throughput": spec_mock_throughput.main,
    "soak_memory": soak_memory.main,
    "workers_throughput": workers_throughput.main,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the harness benchmarks and print their tables.",
    )
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run only this benchmark")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, passed_on = build_parser().parse_known_args(argv)
    names = [args.only] if args.only else list(BENCHMARKS)
    forwarded = [*(["--quick"] if args.quick else []), *passed_on]
    worst = 0
    for name in names:
        print(f"== {name} ==", flush=True)
        worst = max(worst, BENCHMARKS[name](forwarded))
    return worst


if __name__ == "__main__":
    sys.exit(main())
