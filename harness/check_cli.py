"""`harness check`: the main job. The whole harness on the embedded defaults:

1. the mock smoke (every endpoint and the auth lifecycle, over HTTP);
2. the contract suite against the mock (or `--base-url`);
3. client conformance of the reference client (or `--adapter`);
4. a short load run (fault-mix) with its invariants.

Each stage is the corresponding `harness` command, so what `check` runs is
exactly what users run. Reports (JUnit, the conformance report in HTML and
JSON, locust HTML/CSV, summaries) go to one folder; a scorecard closes the
run, naming the report to open; exit 0 only if every stage passed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Runner = Callable[[list[str]], int]


@dataclass(frozen=True)
class Stage:
    name: str
    argv: list[str]
    report: Path | None = None  # the page to open, named on the scorecard
    outputs: tuple[Path, ...] = ()  # written by this run: an earlier run's are removed


def add_parser(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="run the whole harness against the embedded mock and print a scorecard",
        description=(__doc__ or "").split("\n\n")[0],
    )
    check.add_argument("--base-url", help="run the contract suite against this server instead")
    check.add_argument(
        "--spec", help="the API's OpenAPI document (another API than the demo's needs --base-url)"
    )
    check.add_argument(
        "--config", type=Path, help="harness configuration (default: ./harness.yaml)"
    )
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
    if args.spec:
        contract += ["--spec", args.spec]
    if args.config:
        contract += ["--config", str(args.config)]
    html, data = reports / "conformance.html", reports / "conformance.json"
    verify = ["verify", "--junit", str(reports / "conformance.xml")]
    verify += ["--html", str(html), "--json", str(data)]
    if args.adapter:
        verify += ["--adapter", args.adapter]
    load = ["load", "--profile", "fault-mix", "--users", "5", "--duration", "10s"]
    load += ["--report-dir", str(reports / "load")]
    all_stages = [
        Stage("smoke", ["smoke"]),
        Stage("contract", contract),
        Stage("conformance", verify, report=html, outputs=(html, data)),
        Stage("load", load),
    ]
    skipped = set(args.skip)
    if (args.spec or args.config) and not _demo_api(args):
        skipped |= DEMO_ONLY  # they drive the demo's embedded mock and its operations
    return [s for s in all_stages if s.name not in skipped]


# Stages that exercise the demo API's embedded mock, skipped for another API.
DEMO_ONLY = {"smoke", "conformance", "load"}


def _demo_api(args: argparse.Namespace) -> bool:
    from contracts.config import DEMO_CONFIG_PATH, load_config

    overrides = {"spec": args.spec} if args.spec else {}
    config = load_config(args.config, overrides=overrides)
    demo = load_config(DEMO_CONFIG_PATH, env={})
    here, there = config.spec_location, demo.spec_location
    return bool(here and there and Path(here).resolve() == Path(there).resolve())


EXIT_INTERRUPTED = 130


def run(args: argparse.Namespace, run_command: Runner) -> int:
    args.report_dir.mkdir(parents=True, exist_ok=True)
    results: list[tuple[Stage, int, float]] = []
    interrupted: str | None = None
    chosen = stages(args)
    left_out = sorted(DEMO_ONLY - {s.name for s in chosen} - set(args.skip))
    if left_out:
        print(f"Another API than the demo's: {', '.join(left_out)} skipped (they judge the demo)")
    with _sigterm_as_interrupt():
        for stage in chosen:
            for stale in stage.outputs:
                stale.unlink(missing_ok=True)
            print(f"\n=== {stage.name}: harness {' '.join(stage.argv)}", flush=True)
            started = time.perf_counter()
            try:
                code = run_command(stage.argv)
            except KeyboardInterrupt:
                code = EXIT_INTERRUPTED
            results.append((stage, code, time.perf_counter() - started))
            if code == EXIT_INTERRUPTED:  # Ctrl-C: no further stages, the scorecard of these
                interrupted = stage.name
                break
    _scorecard(args, results)
    if interrupted is not None:
        print(f"harness check: interrupted during {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 1 if any(code != 0 for _, code, _ in results) else 0


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI timeout) stops the check as Ctrl-C does, scorecard included."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _scorecard(args: argparse.Namespace, results: list[tuple[Stage, int, float]]) -> None:
    print("\nScorecard")
    for stage, code, seconds in results:
        mark = "PASS" if code == 0 else "STOP" if code == EXIT_INTERRUPTED else "FAIL"
        line = f"  {mark}  {stage.name:<12} {seconds:6.1f} s"
        if stage.report is not None and stage.report.exists():
            line += f"  {stage.report}"
        print(line)
    failed = [stage.name for stage, code, _ in results if code != 0]
    print(f"\ncheck: {len(results) - len(failed)} passed, {len(failed)} failed")
    print(f"reports in {args.report_dir}/")
