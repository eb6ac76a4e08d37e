"""`harness verify`: judge a client against the rules, from the mock's journal."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.check_cli import EXIT_INTERRUPTED, _sigterm_as_interrupt
from harness.conformance.adapter import REFERENCE_ADAPTER, parse_command
from harness.conformance.junit import write_junit
from harness.conformance.report import write_html, write_json
from harness.conformance.runner import DEFAULT_MAX_TIME_S, run_scenarios, unknown_scenarios
from harness.conformance.scenarios import SCENARIOS
from harness.conformance.verdicts import Outcome, Verdict
from mocks.server import MockServer

MARKS = {
    Outcome.PASS: "PASS",
    Outcome.FAIL: "FAIL",
    Outcome.NOT_APPLICABLE: "N/A ",
    Outcome.UNJUDGED: "ERR ",
}


def add_parser(commands: Any) -> None:
    verify = commands.add_parser(
        "verify",
        help="judge a client against the client rules (the reference client by default)",
        description="Provoke each client rule through the mock and judge the client from "
        "the mock's journal. The client is driven through an adapter speaking the stdio "
        "protocol of docs/adapter-protocol.md. Exit code 0 when every rule passed or was "
        "not applicable, 1 when any failed or could not be judged, 2 for bad arguments.",
    )
    verify.add_argument(
        "--adapter", help='the adapter command, e.g. "node adapters/node/adapter.mjs"'
    )
    verify.add_argument(
        "--scenario",
        action="append",
        metavar="ID",
        help=f"only these rules (repeatable): {', '.join(SCENARIOS)}",
    )
    verify.add_argument("--junit", type=Path, help="write JUnit XML here")
    verify.add_argument(
        "--html",
        type=Path,
        metavar="PATH",
        help="write an HTML report here: one page, with each rule's evidence and "
        "a picture of its attempts in time",
    )
    verify.add_argument("--json", type=Path, metavar="PATH", help="write the verdicts as JSON here")
    verify.add_argument(
        "--max-time",
        type=float,
        default=DEFAULT_MAX_TIME_S,
        metavar="SECONDS",
        help="the whole run's time bound: a rule still running then is cut short and the "
        "rest are not run, all judged 'could not be judged' (default: %(default)g)",
    )


def reproduce_command(rule_id: str, adapter: str | None) -> str:
    """The command that judges one rule again, as a user would type it."""
    command = ["harness", "verify", "--scenario", rule_id]
    if adapter:
        command += ["--adapter", adapter]
    return shlex.join(command)


def _print_verdict(verdict: Verdict, seconds: float) -> None:
    print(
        f"  {MARKS[verdict.outcome]}  {verdict.rule.id:<4} {verdict.rule.title[:60]:<60} "
        f"{seconds:5.1f} s",
        flush=True,
    )
    if verdict.outcome in (Outcome.FAIL, Outcome.UNJUDGED):
        print(f"        {verdict.summary}")
        for line in verdict.evidence.lines[:8]:
            print(f"          {line}")


def _write_reports(
    args: argparse.Namespace,
    verdicts: list[Verdict],
    who: str,
    seconds: dict[str, float],
    started_at: datetime,
) -> None:
    reproduce = {v.rule.id: reproduce_command(v.rule.id, args.adapter) for v in verdicts}
    if args.junit:
        write_junit(verdicts, args.junit, seconds=seconds, started_at=started_at)
    if args.html:
        write_html(verdicts, args.html, client=who, seconds=seconds, reproduce=reproduce)
    if args.json:
        write_json(verdicts, args.json, client=who, seconds=seconds, reproduce=reproduce)


def run(args: argparse.Namespace) -> int:
    ids = args.scenario or list(SCENARIOS)
    unknown = unknown_scenarios(ids)
    if unknown:
        print(
            f"harness verify: unknown scenario(s) {', '.join(unknown)}; "
            f"known: {', '.join(SCENARIOS)}"
        )
        return 2
    if args.max_time <= 0:
        print("harness verify: --max-time must be a positive number of seconds")
        return 2
    command = parse_command(args.adapter) if args.adapter else list(REFERENCE_ADAPTER)
    who = args.adapter or "the reference client"
    print(f"Judging {who} on {len(ids)} rules against the embedded mock", flush=True)
    seconds: dict[str, float] = {}
    started_at = datetime.now().astimezone()
    judged: list[Verdict] = []  # so far: what Ctrl-C or SIGTERM leaves for the reports

    def on_verdict(verdict: Verdict, took: float) -> None:
        seconds[verdict.rule.id] = took
        judged.append(verdict)
        _print_verdict(verdict, took)

    try:
        with (
            _sigterm_as_interrupt(),
            tempfile.TemporaryDirectory() as logs,
            MockServer() as mock,
        ):
            verdicts = run_scenarios(
                mock.base_url,
                command,
                ids,
                log_dir=Path(logs),
                on_verdict=on_verdict,
                max_time_s=args.max_time,
            )
    except KeyboardInterrupt:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while they are written
            _write_reports(args, judged, who, seconds, started_at)
        print(
            f"harness verify: interrupted after {len(judged)} of {len(ids)} rules; "
            "the reports hold those judged",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    _write_reports(args, verdicts, who, seconds, started_at)
    counts = {o: sum(v.outcome is o for v in verdicts) for o in Outcome}
    print(
        f"\nconformance: {counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
        f"{counts[Outcome.NOT_APPLICABLE]} not applicable, "
        f"{counts[Outcome.UNJUDGED]} could not be judged"
    )
    for name, path in (("HTML", args.html), ("JSON", args.json)):
        if path:
            print(f"{name} report: {path}")
    return 1 if counts[Outcome.FAIL] or counts[Outcome.UNJUDGED] else 0
