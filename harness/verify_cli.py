"""`harness verify`: judge a client against the rules, from the mock's journal."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from contracts.config import ConfigError, HarnessConfig, load_config
from contracts.document import DocumentError
from harness.check_cli import EXIT_INTERRUPTED, _sigterm_as_interrupt
from harness.conformance.adapter import REFERENCE_ADAPTER, parse_command
from harness.conformance.binding import (
    ApiBinding,
    demo_binding,
    is_demo,
    spec_binding,
    unknown_operations,
)
from harness.conformance.junit import write_junit
from harness.conformance.report import write_html, write_json
from harness.conformance.runner import (
    DEFAULT_MAX_TIME_S,
    ProtocolMismatch,
    run_scenarios,
    unknown_scenarios,
)
from harness.conformance.scenarios import SCENARIOS
from harness.conformance.verdicts import Outcome, Verdict
from mocks.server import MockServer, MockStartError

# R10 lists this many items of the read role at once: the mock of a document seeds
# at least as many (mock.items_per_resource).
ITEMS_NEEDED = 80

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
        "--spec",
        metavar="FILE",
        help="judge a client of this OpenAPI document (file or URL) through its mock, "
        "with a protocol v2 adapter (default: the demo API, protocol v1)",
    )
    verify.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the harness configuration (harness.yaml) whose roles: say which operation "
        "each rule provokes (default: ./harness.yaml, else the demo's)",
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


def reproduce_command(
    rule_id: str, adapter: str | None, api: list[str] | tuple[str, ...] = ()
) -> str:
    """The command that judges one rule again, as a user would type it."""
    command = ["harness", "verify", *api, "--scenario", rule_id]
    if adapter:
        command += ["--adapter", adapter]
    return shlex.join(command)


class SetupError(ValueError):
    """The API cannot be judged as given: its document, configuration or roles."""


@dataclass
class Target:
    """The API a run judges: its binding and the flags that name it again."""

    binding: ApiBinding
    config: HarnessConfig | None
    compiled: Any  # the compiled document (None: the demo's own mock)
    flags: tuple[str, ...]


def target_of(args: argparse.Namespace) -> Target:
    """The demo (v1), or the API of --spec / --config (v2), checked before anything runs."""
    if args.spec is None and args.config is None:
        # The demo, as always (`harness check` relies on it): another API is named.
        return Target(demo_binding(), None, None, ())
    try:
        config = load_config(args.config, overrides={"spec": args.spec})
    except ConfigError as e:
        raise SetupError(str(e)) from None
    flags = tuple(
        part
        for flag, value in (("--spec", args.spec), ("--config", args.config))
        if value is not None
        for part in (flag, str(value))
    )
    if is_demo(config):
        return Target(demo_binding(), None, None, flags)
    location = config.spec_location
    if location is None:
        raise SetupError("no document: give --spec FILE or `spec:` in the configuration")
    items = max(config.mock.items_per_resource, ITEMS_NEEDED)
    config = config.updated({"mock.items_per_resource": items})
    from mocks.spec_chain import compile_spec

    try:
        compiled = compile_spec(location, config)
    except (DocumentError, ConfigError) as e:
        raise SetupError(str(e)) from None
    unknown = unknown_operations(dict(config.roles.items()), set(compiled.plans))
    if unknown:
        raise SetupError(
            f"{config.source or 'the configuration'}: roles: name operations the document "
            f"does not have ({', '.join(unknown)}); its operationIds: "
            + ", ".join(sorted(compiled.plans))
        )
    return Target(spec_binding(compiled, config), config, compiled, flags)


@contextlib.contextmanager
def serving(target: Target) -> Iterator[tuple[str, str]]:
    """The mock of the target's API: (its origin, the API's base URL)."""
    if target.compiled is None:
        with MockServer() as mock:
            yield mock.base_url, mock.base_url
        return
    with MockServer(spec=target.compiled, config=target.config) as mock:
        yield mock.base_url, mock.base_url + target.compiled.base_path


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
    api_flags: list[str] | tuple[str, ...] = (),
) -> None:
    reproduce = {v.rule.id: reproduce_command(v.rule.id, args.adapter, api_flags) for v in verdicts}
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
    try:
        target = target_of(args)
    except SetupError as e:
        print(f"harness verify: {e}")
        return 2
    binding = target.binding
    if not binding.demo and not args.adapter:
        print(
            "harness verify: the reference client is a client of the demo API; judge a "
            "client of this API with --adapter (a protocol v2 adapter)"
        )
        return 2
    command = parse_command(args.adapter) if args.adapter else list(REFERENCE_ADAPTER)
    who = args.adapter or "the reference client"
    print(
        f"Judging {who} on {len(ids)} rules against the embedded mock of {binding.title} "
        f"(adapter protocol v{binding.protocol})",
        flush=True,
    )
    if not binding.demo:
        roles = ", ".join(f"{r}={op}" for r, op in sorted(binding.roles.items()))
        print(f"Roles: {roles or 'none'}", flush=True)
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
            serving(target) as (origin, api_url),
        ):
            verdicts = run_scenarios(
                origin,
                command,
                ids,
                log_dir=Path(logs),
                on_verdict=on_verdict,
                max_time_s=args.max_time,
                api=binding,
                api_url=api_url,
            )
    except ProtocolMismatch as e:
        print(f"harness verify: no rule was run: {e}")
        return 2
    except MockStartError as e:
        print(f"harness verify: cannot start the mock: {e}")
        return 1
    except KeyboardInterrupt:
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while they are written
            _write_reports(args, judged, who, seconds, started_at, target.flags)
        print(
            f"harness verify: interrupted after {len(judged)} of {len(ids)} rules; "
            "the reports hold those judged",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    _write_reports(args, verdicts, who, seconds, started_at, target.flags)
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
