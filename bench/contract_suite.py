"""Contract suite speed: the default suite beside plain `st run`, on the demo's mock
and on a second API (the lending library's FastAPI server, `--api library`).

What is measured: wall time and generated cases per second of
- the contract suite (`contracts/suite`, what `harness contract` runs): every
  phase, the suite's auth, checks and lifecycle chain;
- plain `st run` on the same document with the same settings (examples per
  operation, workers, seed, `-c all`, positive and negative), given a bearer
  token obtained before the run (`-H Authorization`), which is what a CI job
  without the suite would do.
The mock runs in its own process pinned to one CPU, the test runner on another;
the mock is reset to its seeded start before every run; variants take turns.

Targets: against the demo mock the default suite finishes in under 30 s;
against another API's server it costs at most 1.5x plain `st run` with the same
case count and phases (the suite adds its lifecycle chains and replays).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.loadgen import interleaved
from bench.report import format_table, machine, report_path, write_json
from bench.servers import PORT, CpuPlan, Launch, base_url, log_in, mock_launch, pinned, started
from contracts.config import load_config
from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from contracts.openapi import DOCUMENT_PATH
from contracts.suite import Credentials, SuiteOptions, run_suite
from contracts.suite.runner import DEFAULT_MAX_EXAMPLES, DEFAULT_WORKERS, PHASES
from harness.control import ControlClient

NAME = "contract_suite"
TARGET_S = 30.0  # the demo mock
TARGET_RATIO = 1.5  # another API: the suite's wall time over plain st run's
LIBRARY = Path(__file__).parents[1] / "examples" / "library"
SUITE = "contract suite"
PLAIN = "plain st run"


@dataclass
class Run:
    variant: str
    wall_s: float
    cases: int
    failures: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.cases / self.wall_s if self.wall_s else float("nan")


def _suite(base: str, examples: int, workers: int, seed: int, api: str) -> Run:
    options = SuiteOptions(
        base_url=base,
        max_examples=examples,
        workers=workers,
        seed=seed,
        credentials=Credentials(DEMO_EMAIL, DEMO_PASSWORD) if api == "demo" else None,
        config=load_config(LIBRARY / "harness.yaml", env={}) if api == "library" else None,
    )
    start = time.perf_counter()
    report = run_suite(options)
    wall = time.perf_counter() - start
    untested = [t.label for t in report.operations.values() if t.cases == 0]
    lifecycle = sum(s.passed for s in report.lifecycle)
    note = f"lifecycle {lifecycle}/{len(report.lifecycle)}" + (
        f"; untested: {', '.join(untested)}" if untested else ""
    )
    return Run(SUITE, wall, report.cases, len(report.findings) + len(report.errors), note)


def _library_login(base: str) -> str:
    import httpx

    body = {"user": {"email": "reader@example.org", "password": "reader-password"}}
    answer = httpx.post(f"{base}/api/users/login", json=body, timeout=10.0)
    answer.raise_for_status()
    return f"Token {answer.json()['user']['token']}"


def _plain(base: str, examples: int, workers: int, seed: int, api: str) -> Run:
    if api == "demo":
        authorization, _ = log_in(base)
        spec, url = str(DOCUMENT_PATH), base
    else:
        authorization = _library_login(base)
        spec, url = str(LIBRARY / "openapi.yaml"), f"{base}/api"
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "run", spec, "-u", url, "-n", str(examples), "-w", str(workers),
        "--seed", str(seed), "-c", "all", "-m", "all", "--phases", ",".join(PHASES),
        "-H", f"Authorization: {authorization}", "--no-color",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - start
    generated = re.search(r"(\d+) generated", done.stdout)
    failures = re.search(r"(\d+) unique failures?", done.stdout)
    auth = re.search(r"(\d+) operations returned only 401/403", done.stdout)
    note = f"exit {done.returncode}" + (
        f"; {auth.group(1)} operations only 401/403" if auth else ""
    )
    return Run(
        PLAIN,
        wall,
        int(generated.group(1)) if generated else 0,
        int(failures.group(1)) if failures else 0,
        note,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m bench.{NAME}", description=(__doc__ or NAME).splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="one round, few examples")
    parser.add_argument("--json", type=Path, default=report_path(NAME), help="results file")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--max-examples", type=int, default=DEFAULT_MAX_EXAMPLES)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--api", choices=("demo", "library"), default="demo", help="which API and server"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.max_examples = 1, 5
    if args.rounds < 1 or args.max_examples < 1 or args.workers < 1:
        parser.error("--rounds, --max-examples and --workers must be at least 1")
    plan = CpuPlan.detect()
    print(
        f"cpus: {plan.describe()}; {args.max_examples} examples per operation, "
        f"{args.workers} workers, seed {args.seed}, {args.rounds} rounds"
    )
    runners = {SUITE: _suite, PLAIN: _plain}
    runs: list[Run] = []
    log_dir = Path(args.json).parent / "logs"
    if args.api == "demo":
        launch = mock_launch()
    else:  # the library's own server, restarted per run so each starts from its seed
        launch = Launch((sys.executable, "-m", "examples.library.server", "--port", PORT))
    for round_no, name in interleaved(list(runners), args.rounds):
        with started({args.api: launch}, log_dir, plan.server) as servers, pinned(plan.load):
            base = base_url(servers[args.api])
            if args.api == "demo":
                with ControlClient(base) as control:
                    control.reset()
            run = runners[name](base, args.max_examples, args.workers, args.seed, args.api)
            runs.append(run)
            print(
                f"  round {round_no + 1}/{args.rounds}  {name:<15} {run.wall_s:6.1f} s  "
                f"{run.cases:5} cases  {run.failures} failures  {run.note}",
                flush=True,
            )
    rows = []
    for name in runners:
        mine = [r for r in runs if r.variant == name]
        wall = sum(r.wall_s for r in mine) / len(mine)
        cases = sum(r.cases for r in mine) / len(mine)
        rows.append(
            [
                name,
                f"{wall:.1f}",
                f"{cases:,.0f}",
                f"{cases / wall:,.1f}",
                str(max(r.failures for r in mine)),
                mine[-1].note,
            ]
        )
    print()
    print(
        format_table(["variant", "wall s", "cases", "cases/s", "failures", "notes"], rows, labels=1)
    )
    suite_wall = max(r.wall_s for r in runs if r.variant == SUITE)
    if args.api == "demo":
        verdict = "met" if suite_wall < TARGET_S else "NOT met"
        print(f"\nslowest suite run: {suite_wall:.1f} s (target < {TARGET_S:.0f} s): {verdict}")
    else:
        mean = {
            v: sum(r.wall_s for r in runs if r.variant == v) / args.rounds for v in (SUITE, PLAIN)
        }
        ratio = mean[SUITE] / mean[PLAIN]
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        print(f"\nsuite / plain st run: {ratio:.2f}x (target <= {TARGET_RATIO}x): {verdict}")
    write_json(
        Path(args.json),
        NAME,
        machine(),
        settings={
            "api": args.api,
            "max_examples": args.max_examples,
            "workers": args.workers,
            "seed": args.seed,
        },
        runs=[r.__dict__ | {"cases_per_s": r.rate} for r in runs],
        target_s=TARGET_S,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
