"""`harness check`: the main job. The whole harness on the embedded defaults:

1. the mock smoke (every endpoint and the auth lifecycle, over HTTP);
2. the contract suite against the mock (or `--base-url`);
3. client conformance of the reference client (or `--adapter`);
4. a short load run (fault-mix) with its invariants.

Each stage is the corresponding `harness` command, so what `check` runs is
exactly what users run. Reports (JUnit, locust HTML/CSV, summaries) go to one
folder; a scorecard closes the run; exit 0 only if every stage passed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Runner = Callable[[list[str]], int]


@dataclass(frozen=True)
class Stage:
    name: str
    argv: list[str]


def add_parser(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="run the whole harness against the embedded mock and print a scorecard",
        description=(__doc__ or "").split("\n\n")[0],
    )
    check.add_argument("--base-url", help="run the contract suite against this server instead")
    check.add_argument("--adapter", help="judge this client's adapter instead of the reference")
    check.add_argument(
        "--report-dir", type=Path, default=Path("reports/check"), help="where reports go"
    )
    check.add_argument(
        "--skip",
        action="append",
        choices=["smoke", "contract", "conformance", "load"],
        default=[],
        help="leave a stage out (repeatable)",
    )


def stages(args: argparse.Namespace) -> list[Stage]:
    reports: Path = args.report_dir
    contract = ["contract", "--junit", str(reports / "contract.xml"), "--seed", "1"]
    if args.base_url:
        contract += ["--base-url", args.base_url]
    verify = ["verify", "--junit", str(reports / "conformance.xml")]
    if args.adapter:
        verify += ["--adapter", args.adapter]
    load = ["load", "--profile", "fault-mix", "--users", "5", "--duration", "10s"]
    load += ["--report-dir", str(reports / "load")]
    all_stages = [
        Stage("smoke", ["smoke"]),
        Stage("contract", contract),
        Stage("conformance", verify),
        Stage("load", load),
    ]
    return [s for s in all_stages if s.name not in args.skip]


def run(args: argparse.Namespace, run_command: Runner) -> int:
    args.report_dir.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, int, float]] = []
    for stage in stages(args):
        print(f"\n=== {stage.name}: harness {' '.join(stage.argv)}", flush=True)
        started = time.perf_counter()
        code = run_command(stage.argv)
        results.append((stage.name, code, time.perf_counter() - started))
    print("\nScorecard")
    for name, code, seconds in results:
        print(f"  {'PASS' if code == 0 else 'FAIL'}  {name:<12} {seconds:6.1f} s")
    failed = [name for name, code, _ in results if code != 0]
    print(f"\ncheck: {len(results) - len(failed)} passed, {len(failed)} failed")
    print(f"reports in {args.report_dir}/")
    return 1 if failed else 0
