"""`harness contract`: the contract suite against a server, or the embedded mock.

Without `--base-url` it starts the mock on a free loopback port (demo
credentials) and tests that. Credentials for a real server come from options
or the environment (`HARNESS_CONTRACT_EMAIL`, `HARNESS_CONTRACT_PASSWORD`,
`HARNESS_CONTRACT_API_KEY`, `HARNESS_CONTRACT_SIGNING_SECRET`), never from
files; without any, the suite registers a throwaway user.
Exit status: 0 all passed, 1 a failure or error, 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from contracts.openapi import DOCUMENT_PATH
from contracts.suite import Credentials, Gateway, Progress, SuiteOptions, SuiteReport, run_suite
from contracts.suite.junit import write_junit
from contracts.suite.runner import DEFAULT_MAX_EXAMPLES, DEFAULT_WORKERS, PHASES
from mocks.breakage import parse_flaws
from mocks.server import MockServer, MockStartError
from mocks.settings import MockSettings
from mocks.store import DEMO_EMAIL, DEMO_PASSWORD

ENV_PREFIX = "HARNESS_CONTRACT_"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "contract",
        help="check a server (default: the embedded mock) against the contract",
        description="Run the contract suite: schemathesis over every operation, positive and "
        "negative, stateful by the document's links, with the contract's own checks and a "
        "lifecycle chain. Exits 1 on any failure.",
    )
    parser.add_argument("--base-url", help="server to test (default: start the embedded mock)")
    parser.add_argument("--spec", type=Path, default=DOCUMENT_PATH, help="OpenAPI document")
    parser.add_argument("--max-examples", type=int, default=DEFAULT_MAX_EXAMPLES, metavar="N")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, metavar="N")
    parser.add_argument("--seed", type=int, help="seed of the generated cases (default: random)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated phases to run (default: {','.join(PHASES)})",
    )
    parser.add_argument("--no-lifecycle", action="store_true", help="skip the lifecycle chain")
    parser.add_argument("--email", help=f"account to log in with (env {ENV_PREFIX}EMAIL)")
    parser.add_argument("--password", help=f"its password (env {ENV_PREFIX}PASSWORD)")
    parser.add_argument("--api-key", help=f"X-API-Key to send (env {ENV_PREFIX}API_KEY)")
    parser.add_argument(
        "--signing-secret", help=f"sign requests with this secret (env {ENV_PREFIX}SIGNING_SECRET)"
    )
    parser.add_argument(
        "--mock-breakage",
        metavar="FLAWS",
        help="embedded mock only: start it with these contract violations (mocks/breakage.py)",
    )


def _setting(args: argparse.Namespace, name: str) -> str | None:
    value: str | None = getattr(args, name) or os.environ.get(ENV_PREFIX + name.upper())
    return value or None


def _options(args: argparse.Namespace, base_url: str) -> SuiteOptions:
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise ValueError(f"unknown phases {unknown}; known: {', '.join(PHASES)}")
    if args.max_examples < 1 or args.workers < 1:
        raise ValueError("--max-examples and --workers must be at least 1")
    email, password = _setting(args, "email"), _setting(args, "password")
    if (email is None) != (password is None):
        raise ValueError("give both an email and a password, or neither")
    credentials = Credentials(email, password) if email and password else None
    if args.base_url is None and credentials is None:
        credentials = Credentials(DEMO_EMAIL, DEMO_PASSWORD)
    return SuiteOptions(
        base_url=base_url,
        spec=args.spec,
        max_examples=args.max_examples,
        workers=args.workers,
        seed=args.seed if args.seed is not None else random.randrange(2**31),
        deterministic=bool(os.environ.get("CI")),
        credentials=credentials,
        gateway=Gateway(_setting(args, "api_key"), _setting(args, "signing_secret")),
        phases=phases,
        lifecycle=not args.no_lifecycle,
    )


def _mock_settings(args: argparse.Namespace) -> MockSettings:
    changes: dict[str, Any] = {}
    if args.mock_breakage:
        parse_flaws(args.mock_breakage)
        changes["breakage"] = args.mock_breakage
    api_key, secret = _setting(args, "api_key"), _setting(args, "signing_secret")
    if api_key:
        changes["api_key"] = api_key
    if secret:
        changes |= {"signing": True, "signing_secret": secret}
    return MockSettings().merged(changes)


class _Printer:
    """One line per phase and per operation scenario; stateful scenarios are counted."""

    def __init__(self) -> None:
        self.stateful = 0

    def __call__(self, event: Progress) -> None:
        if event.kind == "phase-started" and event.phase in (*PHASES, "lifecycle"):
            print(f"-- {event.phase}", flush=True)
        elif event.kind == "phase-finished" and event.phase == "stateful" and self.stateful:
            print(f"   {self.stateful} stateful scenarios", flush=True)
        elif event.kind == "scenario" and event.phase == "stateful":
            self.stateful += 1
            if event.failed:
                print(f"   FAIL stateful scenario {self.stateful}", flush=True)
        elif event.kind in ("scenario", "lifecycle"):
            mark = "FAIL" if event.failed else "ok  "
            print(f"   {mark} {event.label:<28} {event.cases:>5} cases", flush=True)


def summary(report: SuiteReport) -> str:
    rows = [["operation", "operationId", "cases", "result", "failed checks"]]
    for tally in report.operations.values():
        checks = ", ".join(sorted({f.check for f in tally.findings}))
        rows.append(
            [
                tally.label,
                tally.operation_id,
                str(tally.cases),
                "PASS" if tally.passed else "FAIL",
                checks,
            ]
        )
    if report.lifecycle:
        broken = [s for s in report.lifecycle if not s.passed]
        rows.append(
            [
                "lifecycle chain",
                "-",
                str(len(report.lifecycle)),
                "FAIL" if broken else "PASS",
                broken[0].what if broken else "",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(w) if i != 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def details(report: SuiteReport) -> str:
    out: list[str] = []
    for finding in report.findings:
        out.append(
            f"FAIL {finding.operation} [{finding.check}]\n    "
            + finding.message.replace("\n", "\n    ")
        )
        if finding.reproduce:
            out.append(f"    Reproduce with: {finding.reproduce}")
    for error in report.errors:
        out.append(f"ERROR {error.operation}: {error.message}")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    try:
        mock_settings = _mock_settings(args)
        _options(args, "http://placeholder")  # usage errors before anything starts
    except ValueError as e:
        print(f"harness contract: {e}", file=sys.stderr)
        return 2
    if args.base_url and args.mock_breakage:
        print("harness contract: --mock-breakage needs the embedded mock", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        base_url = args.base_url
        if base_url is None:
            try:
                mock = stack.enter_context(MockServer(settings=mock_settings))
            except MockStartError as e:
                print(f"harness contract: cannot start the mock: {e}", file=sys.stderr)
                return 1
            base_url = mock.base_url
            print(f"Embedded mock at {base_url}", flush=True)
        options = _options(args, base_url)
        print(
            f"Contract suite: {options.spec.name} against {base_url}; "
            f"{options.max_examples} examples per operation, {options.workers} workers, "
            f"seed {options.seed}",
            flush=True,
        )
        report = run_suite(options, _Printer())
    print()
    print(summary(report))
    if not report.passed:
        print()
        print(details(report))
    if args.junit:
        write_junit(report, args.junit)
        print(f"\nJUnit XML: {args.junit}")
    session = report.session
    logins = f"{session.logins} logins, {session.refreshes} refreshes" if session else ""
    verdict = "PASSED" if report.passed else "FAILED"
    print(
        f"\ncontract {verdict}: {report.cases} cases, {len(report.findings)} failures, "
        f"{len(report.errors)} errors in {report.seconds:.1f} s (seed {report.seed}; {logins})"
    )
    return 0 if report.passed else 1


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.contract_cli ...`, until the lead wires it into `harness`."""
    parser = argparse.ArgumentParser(prog="harness")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
