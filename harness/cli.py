"""The `harness` command line.

Start-up stays light: `harness --help` imports no heavy library (mitmproxy,
schemathesis, locust). Each command's options and code live in its module
(`harness/*_cli.py`; `mock` and `smoke` here), imported only when that
command is on the command line.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli_parser import HarnessParser, VersionAction

if TYPE_CHECKING:
    from mitmproxy.master import Master

    from mocks.scenarios import Scenario
    from mocks.settings import MockSettings

# Every command, in the order `harness --help` lists them: the module that defines
# its parser and its one-line help (repeated here so that listing them imports
# nothing; tests/harness/test_cli_parser.py checks both say the same).
COMMANDS: dict[str, tuple[str, str]] = {
    "mock": ("harness.cli", "serve the mock API until Ctrl-C"),
    "fault": ("harness.fault_cli", "add, list or clear fault rules on a running mock"),
    "scenario": ("harness.fault_cli", "load or list scenarios"),
    "journal": (
        "harness.journal_cli",
        "export a running mock's journal (JSON lines, or HAR 1.2 with --har)",
    ),
    "verify": (
        "harness.verify_cli",
        "judge a client against the client rules (the reference client by default)",
    ),
    "load": (
        "harness.load_cli",
        "locust load run of the reference client against the mock, with invariants",
    ),
    "contract": (
        "harness.contract_cli",
        "check a server (default: the embedded mock) against its OpenAPI document",
    ),
    "smoke": ("harness.cli", "start the mock and smoke-test every endpoint"),
    "check": (
        "harness.check_cli",
        "run the whole harness against the embedded mock and print a scorecard",
    ),
}


def _option_spec(text: str) -> str:
    """`NAME=VALUE` or a bare `NAME` (a bool option: true); mitmproxy types the value."""
    if not text.partition("=")[0]:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return text


def _add_mock_parser(commands: Any) -> None:
    from contracts.demo import DEFAULT_PRODUCT_COUNT, DEFAULT_SEED
    from mocks.control import CONTROL_PREFIX
    from mocks.control_access import TOKEN_ENV
    from mocks.journal import DEFAULT_CAPACITY

    mock = commands.add_parser(
        "mock",
        help=COMMANDS["mock"][1],
        description="Serve the demo API (auth, users, products) from generated data, with "
        f"a control API under {CONTROL_PREFIX}/. Runs until Ctrl-C.",
    )
    mock.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (loopback; any other address needs the control token)",
    )
    mock.add_argument("--port", type=int, default=8080, help="port to listen on (0: any free)")
    mock.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the fake data")
    mock.add_argument(
        "--products",
        type=int,
        default=None,
        help=f"number of the demo's seeded products (default {DEFAULT_PRODUCT_COUNT}; a "
        "document's come from its configuration: mock.resources.NAME.seed_items)",
    )
    mock.add_argument(
        "--journal-size", type=int, default=DEFAULT_CAPACITY, help="journal entries kept in memory"
    )
    mock.add_argument("--access-ttl", type=int, help="access token lifetime, seconds")
    mock.add_argument("--refresh-ttl", type=int, help="refresh token lifetime, seconds")
    mock.add_argument("--api-key", help="require this X-API-Key on every API request")
    mock.add_argument("--signing-secret", help="require request signatures with this secret")
    mock.add_argument("--scenario", help="start with a scenario: a built-in name or a YAML file")
    mock.add_argument(
        "--fault-header",
        action="store_true",
        help="let requests ask for faults with an X-Harness-Fault header",
    )
    mock.add_argument(
        "--upstream",
        metavar="URL",
        help="proxy to this real backend instead of serving the built-in API",
    )
    mock.add_argument(
        "--upstream-insecure",
        action="store_true",
        help="do not verify the upstream's TLS certificate",
    )
    mock.add_argument(
        "--tls",
        action="store_true",
        help="also answer TLS on the port (mitmproxy's CA certificate; HTTP/1.1 only)",
    )
    mock.add_argument(
        "--control-token",
        action="store_true",
        help=f"require the control token on {CONTROL_PREFIX}/ even on loopback "
        f"(always required beyond it); {TOKEN_ENV} gives it, else one is generated",
    )
    mock.add_argument(
        "--control-token-file",
        type=Path,
        metavar="PATH",
        help="write the control token to this file (mode 0600) instead of printing it",
    )
    mock.add_argument(
        "--set",
        dest="options",
        action="append",
        type=_option_spec,
        default=[],
        metavar="NAME=VALUE",
        help="set a mitmproxy or harness_* option, typed as mitmdump --set does: "
        "bool (NAME, NAME=false), int, str, repeat NAME=VALUE for a list",
    )
    from harness import spec_mock_cli, web_cli, workers_cli

    spec_mock_cli.add_arguments(mock)
    workers_cli.add_arguments(mock)
    web_cli.add_arguments(mock)


def _add_smoke_parser(commands: Any) -> None:
    commands.add_parser(
        "smoke",
        help=COMMANDS["smoke"][1],
        description="Start the mock, exercise every endpoint and the auth lifecycle over "
        "HTTP, and print what passed. Exits 0 only if everything passes.",
    )


def _settings_from(args: argparse.Namespace) -> MockSettings:
    from mocks.settings import MockSettings

    changes: dict[str, Any] = {}
    if args.access_ttl is not None:
        changes["access_ttl_s"] = args.access_ttl
    if args.refresh_ttl is not None:
        changes["refresh_ttl_s"] = args.refresh_ttl
    if args.api_key is not None:
        if not args.api_key:
            raise ValueError("--api-key must not be empty")
        changes["api_key"] = args.api_key
    if args.signing_secret is not None:
        if not args.signing_secret:
            raise ValueError("--signing-secret must not be empty")
        changes |= {"signing": True, "signing_secret": args.signing_secret}
    if args.fault_header:
        changes["fault_header"] = True
    return MockSettings().merged(changes)


def _banner(
    base_url: str,
    settings: MockSettings,
    upstream: str | None,
    scenario: Scenario | None,
    token_line: str | None = None,
    spec: Any = None,
) -> str:
    """What the mock prints once listening. Secrets are named, never shown: the user
    gave them, and terminals end up in CI logs."""
    from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD, SHOP_EMAIL, SHOP_PASSWORD
    from mocks.control import CONTROL_PREFIX

    if upstream:
        lines = [f"Proxy         {base_url} -> {upstream} (faults and journal apply)"]
    elif spec is not None:
        from harness import spec_mock_cli

        lines = spec_mock_cli.banner_lines(spec, base_url)
    else:
        lines = [
            f"Mock API      {base_url}/v1",
            f"Demo user     {DEMO_EMAIL} / {DEMO_PASSWORD}",
            f"Shop user     {SHOP_EMAIL} / {SHOP_PASSWORD} (owns the seeded products)",
            f"Access TTL    {settings.access_ttl_s:g} s",
        ]
    lines.insert(1, f"Control API   {base_url}{CONTROL_PREFIX}/")
    if token_line is not None:
        lines.insert(2, f"Control token {token_line}")
    if scenario is not None:
        lines.append(f"Scenario      {scenario.name}: {len(scenario.faults)} fault rules")
    if settings.api_key:
        lines.append("API key       required in X-API-Key (the value given; not shown)")
    if settings.signing:
        lines.append(
            "Signing       required (X-App-Timestamp, X-App-Nonce, X-App-Signature; "
            "secret not shown)"
        )
    lines.append("Ctrl-C stops the mock.")
    return "\n".join(lines)


def _control_token(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The control token and how the banner mentions it: printed once if generated,
    never if it came from the environment or goes to a file."""
    from mocks.control_access import TOKEN_ENV, TOKEN_HEADER
    from mocks.server import resolve_control_token

    from_env = os.environ.get(TOKEN_ENV) or None
    asked = bool(args.control_token or args.control_token_file)
    token = resolve_control_token(args.host, from_env if from_env else asked or None)
    if token is None:
        return None, None
    if args.control_token_file is not None:
        _write_private(args.control_token_file, token)
        return token, f"written to {args.control_token_file} (send it as {TOKEN_HEADER})"
    if from_env:
        return token, f"from {TOKEN_ENV} (send it as {TOKEN_HEADER})"
    return token, f"{token}  (send it as {TOKEN_HEADER}; harness commands read {TOKEN_ENV})"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text + "\n")
    path.chmod(0o600)  # also when the file was there before, with wider permissions


def _live_settings(master: Master) -> MockSettings:
    from mocks.settings import MockSettings, option_name

    values = {
        name: getattr(master.options, option_name(name)) for name in MockSettings.model_fields
    }
    return MockSettings.model_validate(values)


def run_mock(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from contracts.demo import DEFAULT_PRODUCT_COUNT
    from harness import spec_mock_cli, web_cli, workers_cli
    from mocks.control_access import is_loopback
    from mocks.journal import Journal
    from mocks.scenarios import ScenarioError, load_scenario
    from mocks.server import (
        MockOptionError,
        MockStartError,
        ServeConfig,
        beyond_loopback_warning,
        serve,
    )
    from mocks.state import MockState

    try:
        settings = _settings_from(args)
        scenario = load_scenario(args.scenario) if args.scenario else None
        spec = spec_mock_cli.compile_from(args)
    except (ValueError, ScenarioError) as e:
        print(f"harness mock: {e}", file=sys.stderr)
        return 2
    if args.journal_size < 1:
        print("harness mock: --journal-size must be at least 1", file=sys.stderr)
        return 2
    if args.products is not None and spec is not None:
        print(
            "harness mock: --products seeds the demo's catalogue; for a document, set "
            "mock.resources.NAME.seed_items (or mock.items_per_resource) in its configuration",
            file=sys.stderr,
        )
        return 2
    if args.products is None:
        args.products = DEFAULT_PRODUCT_COUNT
    if not 0 <= args.products <= 10_000:  # as seed_items in a configuration
        print("harness mock: --products must be from 0 to 10000", file=sys.stderr)
        return 2
    if problem := workers_cli.check(args) or web_cli.check(args):
        print(f"harness mock: {problem}", file=sys.stderr)
        return 2
    try:
        token, token_line = _control_token(args)
    except (ValueError, OSError) as e:
        print(f"harness mock: control token: {e}", file=sys.stderr)
        return 2
    if args.workers > 1:
        return workers_cli.supervise(args, args.argv, token, token_line)
    # --seed and --products make the demo's data (a document's seed comes with --spec).
    state = MockState(
        seed=args.seed, product_count=args.products, journal=Journal(args.journal_size)
    )
    demo = spec is None
    if demo:  # the demo API: its own document and configuration
        from mocks.spec_chain import demo_spec

        spec = demo_spec(args.seed, args.products)
    rules_placed = workers_cli.attach_store(state, args, scenario)
    if scenario is not None:
        for warning in spec_mock_cli.scenario_warnings(spec, scenario):
            print(f"harness mock: warning: {warning} (it will never fire)", file=sys.stderr)
        settings = scenario.settings(settings)
        for rule in [] if rules_placed else scenario.faults:
            state.faults.add(rule)
    config = ServeConfig(
        host=args.host,
        port=args.port,
        upstream=args.upstream,
        upstream_insecure=args.upstream_insecure,
        settings=settings,
        option_specs=tuple(args.options),
        control_token=token,
        spec=spec,
        validate_upstream=args.validate_responses,
        tls=args.tls,
        **web_cli.serve_fields(args),
    )
    masters: list[Master] = []

    def ready(port: int | None) -> None:
        host = f"[{args.host}]" if ":" in args.host else args.host
        if not is_loopback(args.host):
            print(beyond_loopback_warning(args.host, port), file=sys.stderr, flush=True)
        live = _live_settings(masters[0]) if masters else settings  # --set included
        shown = None if demo else spec
        banner = _banner(f"http://{host}:{port}", live, args.upstream, scenario, token_line, shown)
        if web_line := web_cli.banner_line(args, masters[0] if masters else None):
            banner = banner.replace("\nCtrl-C", f"\n{web_line}\nCtrl-C")
        if not workers_cli.report(banner, port):
            print(banner, flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: masters and masters[0].shutdown())

        def keep(master: Master) -> None:
            masters.append(master)
            web_cli.on_master(args, master, state)

        await serve(state, config, on_ready=ready, on_master=keep)

    try:
        asyncio.run(main())
    except MockOptionError as e:
        hint = (
            " (harness mock loads only mitmproxy's proxy and TLS addons; "
            "mitmdump -s mocks/script.py has all of them)"
            if "Unknown" in str(e)
            else ""
        )
        print(f"harness mock: --set: {e}{hint}", file=sys.stderr)
        return 2
    except MockStartError as e:
        print(f"harness mock: cannot start: {e}", file=sys.stderr)
        return 1
    return 0


def run_smoke(args: argparse.Namespace) -> int:
    from harness.smoke import run_smoke as smoke
    from mocks.server import MockServer

    print("Starting the mock on a free loopback port...", flush=True)
    with MockServer() as mock:
        print(f"Mock at {mock.base_url}; smoke-testing every endpoint", flush=True)
        results = smoke(mock.base_url)
    from harness.console import console, marked

    out = console()
    width = max(len(r.name) for r in results)
    for r in results:
        line = f"  {r.name:<{width}}  {r.seconds * 1000:7.1f} ms  {r.detail}"
        out.print("  ", marked("PASS" if r.passed else "FAIL", line), sep="")
    failed = [r for r in results if not r.passed]
    out.print(f"\nmock smoke: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _adders(module_name: str) -> list[Callable[[Any], None]]:
    """The functions that add this module's commands to the subcommands."""
    if module_name == "harness.cli":  # also when run as `python -m harness.cli`
        return [_add_mock_parser, _add_smoke_parser]
    module = importlib.import_module(module_name)
    adder = getattr(module, "add_parsers", None) or module.add_parser
    return [adder]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `harness` parser; only `command`'s module is imported, the others listed."""
    parser = HarnessParser(
        prog="harness",
        description="API contract test and mock harness: a fault-injecting mock, "
        "contract suites, client conformance and load runs.",
        epilog="`harness COMMAND --help` describes a command.",
    )
    parser.add_argument("--version", action=VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if command in COMMANDS:
        for add in _adders(COMMANDS[command][0]):
            add(commands)
    for name, (_, summary) in COMMANDS.items():
        if name not in commands.choices:
            commands.add_parser(name, help=summary, add_help=False)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named on the command line: the first argument not an option."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


# Commands that need an optional part of the install: (extra, the library it brings).
EXTRAS: dict[str, tuple[tuple[str, str], ...]] = {
    "contract": (("contract", "schemathesis"),),
    "load": (("load", "locust"),),
    "check": (("contract", "schemathesis"), ("load", "locust")),
}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def missing_extras(command: str | None) -> list[tuple[str, str]]:
    return [(extra, lib) for extra, lib in EXTRAS.get(command or "", ()) if not _installed(lib)]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_in(argv)
    missing = missing_extras(command)
    if missing:
        extras = ",".join(extra for extra, _ in missing)
        libraries = " and ".join(lib for _, lib in missing)
        print(
            f"harness {command}: needs {libraries}, not installed: "
            f"pip install 'api-contract-harness[{extras}]'",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return build_parser(command).parse_args(argv)


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    if command == "mock":
        return run_mock
    if command == "smoke":
        return run_smoke
    if command == "check":
        from harness import check_cli

        return lambda args: check_cli.run(args, main)
    module = importlib.import_module(COMMANDS[command][0])
    run: Callable[[argparse.Namespace], int] = getattr(module, f"run_{command}", None) or (
        module.run
    )
    return run


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for worker processes
    return _handler(args.command)(args)


if __name__ == "__main__":
    sys.exit(main())
