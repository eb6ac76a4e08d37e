"""`harness contract`: the contract suite against a server, or the embedded mock.

The API comes from the harness configuration (`--config`, `HARNESS_CONFIG` or
./harness.yaml; the demo API's own without any) and its document (`--spec`).
Without `--base-url` the demo's embedded mock is started and tested (demo
credentials). Credentials come from the configuration's identities, options,
or the environment (`HARNESS_CONTRACT_EMAIL`, `HARNESS_CONTRACT_PASSWORD`,
`HARNESS_CONTRACT_API_KEY`, `HARNESS_CONTRACT_SIGNING_SECRET`); without any,
the suite registers a throwaway account when the API has a register role.
Exit status: 0 all passed, 1 a failure or error, 2 bad usage, document,
configuration, an unreachable server or a sign-in that fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from contracts.config import DEMO_CONFIG_PATH, ConfigError, HarnessConfig, load_config
from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from contracts.document import DocumentError
from contracts.suite import (
    Credentials,
    Gateway,
    Progress,
    SetupError,
    SuiteOptions,
    SuiteReport,
    run_suite,
)
from contracts.suite.junit import write_junit
from contracts.suite.runner import PHASES
from mocks.breakage import parse_flaws
from mocks.server import MockServer, MockStartError
from mocks.settings import MockSettings

ENV_PREFIX = "HARNESS_CONTRACT_"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "contract",
        help="check a server (default: the embedded mock) against its OpenAPI document",
        description="Run the contract suite: schemathesis over every operation, positive and "
        "negative, stateful by the document's links, with auth from the harness "
        "configuration, the checks the document declares, and lifecycle chains derived "
        "from it. Exits 1 on any failure, 2 when it cannot start.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="harness configuration (default: ./harness.yaml)",
    )
    parser.add_argument("--spec", help="OpenAPI document, a file or URL (default: the config's)")
    parser.add_argument("--base-url", help="server to test (default: start the embedded mock)")
    parser.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="send this header with every request (repeatable), e.g. a static token",
    )
    parser.add_argument(
        "--max-examples", type=int, metavar="N", help="cases per operation and phase (config: 25)"
    )
    parser.add_argument("--workers", type=int, metavar="N", help="concurrent workers (config: 2)")
    parser.add_argument("--seed", type=int, help="seed of the generated cases (default: random)")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    parser.add_argument(
        "--phases", help=f"comma-separated phases to run (default: {','.join(PHASES)})"
    )
    parser.add_argument(
        "--checks", help="comma-separated checks to run, and only those (default: all)"
    )
    parser.add_argument("--exclude-checks", help="comma-separated checks not to run")
    parser.add_argument("--no-lifecycle", action="store_true", help="skip the lifecycle chains")
    parser.add_argument(
        "--no-security",
        action="store_true",
        help="skip the security checks (second identity, forged and stale tokens, no token)",
    )
    parser.add_argument(
        "--show-secrets",
        action="store_true",
        help="print real tokens and passwords in reproductions (default: masked as ***)",
    )
    parser.add_argument("--email", help=f"account to sign in with (env {ENV_PREFIX}EMAIL)")
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


def _names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _headers(values: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"-H {value!r}: expected 'Name: value'")
        pairs.append((name.strip(), rest.strip()))
    return tuple(pairs)


def load_contract_config(args: argparse.Namespace) -> HarnessConfig:
    """The configuration in force for this command line (file, environment, flags)."""
    overrides: dict[str, Any] = {
        "spec": args.spec,
        "base_url": args.base_url,
        "contract.max_examples": args.max_examples,
        "contract.workers": args.workers,
        "contract.seed": args.seed,
        "contract.phases": list(_names(args.phases) or ()) or None,
    }
    if args.no_lifecycle:
        overrides["contract.lifecycle"] = False
    if args.no_security:
        overrides["contract.security.enabled"] = False
    return load_config(args.config, overrides=overrides)


def _is_demo(config: HarnessConfig) -> bool:
    location = config.spec_location
    demo = load_config(DEMO_CONFIG_PATH, env={}).spec_location
    return (
        location is not None
        and demo is not None
        and Path(location).resolve() == Path(demo).resolve()
    )


def _options(
    args: argparse.Namespace, config: HarnessConfig, base_url: str, *, embedded: bool = False
) -> SuiteOptions:
    email, password = _setting(args, "email"), _setting(args, "password")
    if (email is None) != (password is None):
        raise ValueError("give both an email and a password, or neither")
    credentials = Credentials(email, password) if email and password else None
    if embedded and credentials is None:
        credentials = Credentials(DEMO_EMAIL, DEMO_PASSWORD)
    contract = config.contract
    checks = _names(args.checks) if args.checks else contract.checks
    exclude = _names(args.exclude_checks) or contract.exclude_checks
    return SuiteOptions(
        base_url=base_url,
        config=config,
        max_examples=contract.max_examples,
        workers=contract.workers,
        seed=contract.seed if contract.seed is not None else random.randrange(2**31),
        deterministic=bool(os.environ.get("CI")),
        credentials=credentials,
        gateway=Gateway(
            _setting(args, "api_key"), _setting(args, "signing_secret"), _headers(args.headers)
        ),
        phases=contract.phases,
        lifecycle=contract.lifecycle,
        checks=checks,
        exclude_checks=tuple(exclude),
        show_secrets=args.show_secrets,
        request_timeout_s=contract.request_timeout_s,
        security=contract.security.enabled,
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
        if event.kind == "phase-started" and event.phase in (*PHASES, "lifecycle", "security"):
            print(f"-- {event.phase}", flush=True)
        elif event.kind == "phase-finished" and event.phase == "stateful" and self.stateful:
            print(f"   {self.stateful} stateful scenarios", flush=True)
        elif event.kind == "scenario" and event.phase == "stateful":
            self.stateful += 1
            if event.failed:
                print(f"   FAIL stateful scenario {self.stateful}", flush=True)
        elif event.kind == "lifecycle" and event.phase == "security":
            print(f"   {'FAIL' if event.failed else 'ok  '} {event.label}", flush=True)
        elif event.kind in ("scenario", "lifecycle") and (event.cases or event.failed):
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
    if report.security:
        broken = [s for s in report.security if not s.passed]
        rows.append(
            [
                "security checks",
                "-",
                str(len(report.security)),
                "FAIL" if broken else "PASS",
                f"{len(broken)} failed" if broken else "",
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
            out.append(f"    Reproduce with: {finding.reproduce}".replace("\n", "\n    "))
    for error in report.errors:
        out.append(f"ERROR {error.operation}: {error.message}")
    return "\n".join(out)


def untested(report: SuiteReport) -> str:
    """What the run could not really test, so a green run is not over-read."""
    out = []
    for tally in report.untested:
        answers = ", ".join(f"{n}x {s}" for s, n in sorted(tally.statuses.items()))
        out.append(f"  {tally.label}: only ever answered {answers}; its behaviour was not tested")
    for check, why in report.skipped_checks.items():
        out.append(f"  check {check} skipped: {why}")
    skipped = [s for s in report.lifecycle if s.skipped]
    for step in skipped:
        out.append(f"  lifecycle {step.what}: {step.detail}")
    for step in (s for s in report.security if s.skipped):
        out.append(f"  security {step.operation} {step.what}: {step.detail}")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_contract_config(args)
        mock_settings = _mock_settings(args)
        _options(args, config, "http://placeholder")  # usage errors before anything starts
    except (ValueError, ConfigError) as e:
        print(f"harness contract: {e}", file=sys.stderr)
        return 2
    base_url = config.base_url
    if base_url and args.mock_breakage:
        print("harness contract: --mock-breakage needs the embedded mock", file=sys.stderr)
        return 2
    demo = _is_demo(config)
    if base_url is None and args.mock_breakage and not demo:
        print("harness contract: --mock-breakage is the demo mock's", file=sys.stderr)
        return 2
    spec_mock = base_url is None and not demo
    with ExitStack() as stack:
        embedded = base_url is None and demo
        if base_url is None:
            # No server named: the mock of the document (the demo's, or any API's).
            try:
                if demo:
                    mock = stack.enter_context(MockServer(settings=mock_settings))
                else:
                    spec = config.spec_location
                    mock = stack.enter_context(MockServer(spec=spec, config=config))
            except (MockStartError, DocumentError, ConfigError) as e:
                print(f"harness contract: cannot start the mock: {e}", file=sys.stderr)
                return 2 if isinstance(e, DocumentError | ConfigError) else 1
            base_url = mock.base_url
            print(
                f"Embedded mock at {base_url} ({'demo API' if demo else config.spec})", flush=True
            )
        options = _options(args, config, base_url, embedded=embedded)
        if spec_mock:
            # The mock of a document keeps no owners nor closed accounts: judging its auth
            # would report the mock, not the API. The security checks need the real server.
            options = dataclasses.replace(options, security=False)
            print("Security checks skipped: they need your server (--base-url)", flush=True)
        print(
            f"Contract suite: {config.spec} against {base_url}; "
            f"{options.max_examples} examples per operation, {options.workers} workers, "
            f"seed {options.seed}",
            flush=True,
        )
        try:
            report = run_suite(options, _Printer())
        except SetupError as e:
            print(f"harness contract: {e}", file=sys.stderr)
            return 2
    print()
    print(summary(report))
    if not report.passed:
        print()
        print(details(report))
    notes = untested(report)
    if notes:
        print("\nNot really tested:")
        print(notes)
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
