"""The `harness` command line."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from mitmproxy.master import Master

from harness import check_cli, contract_cli, fault_cli, load_cli, spec_mock_cli, verify_cli
from mocks.control import CONTROL_PREFIX
from mocks.journal import DEFAULT_CAPACITY, Journal
from mocks.scenarios import Scenario, ScenarioError, load_scenario
from mocks.server import MockServer, MockStartError, ServeConfig, serve
from mocks.settings import MockSettings
from mocks.state import MockState
from mocks.store import DEFAULT_PRODUCT_COUNT, DEFAULT_SEED, DEMO_EMAIL, DEMO_PASSWORD


def _option_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    return name, value


def _add_mock_parser(commands: Any) -> None:
    mock = commands.add_parser(
        "mock",
        help="serve the mock API until Ctrl-C",
        description="Serve the seed's API from seeded data, with a control API under "
        f"{CONTROL_PREFIX}/. Runs until Ctrl-C.",
    )
    mock.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    mock.add_argument("--port", type=int, default=8080, help="port to listen on (0: any free)")
    mock.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the fake data")
    mock.add_argument(
        "--products", type=int, default=DEFAULT_PRODUCT_COUNT, help="number of seeded products"
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
        "--set",
        dest="options",
        action="append",
        type=_option_pair,
        default=[],
        metavar="NAME=VALUE",
        help="set any mitmproxy option, as mitmdump --set does (repeatable)",
    )
    spec_mock_cli.add_arguments(mock)


def _settings_from(args: argparse.Namespace) -> MockSettings:
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
    spec: Any = None,
) -> str:
    if upstream:
        lines = [f"Proxy         {base_url} -> {upstream} (faults and journal apply)"]
    elif spec is not None:
        lines = spec_mock_cli.banner_lines(spec, base_url)
    else:
        lines = [
            f"Mock API      {base_url}/v1",
            f"Demo user     {DEMO_EMAIL} / {DEMO_PASSWORD}",
            f"Access TTL    {settings.access_ttl_s:g} s",
        ]
    lines.insert(1, f"Control API   {base_url}{CONTROL_PREFIX}/")
    if scenario is not None:
        lines.append(f"Scenario      {scenario.name}: {len(scenario.faults)} fault rules")
    if settings.api_key:
        lines.append(f"API key       {settings.api_key}")
    if settings.signing:
        lines.append("Signing       required (X-App-Timestamp, X-App-Nonce, X-App-Signature)")
    lines.append("Ctrl-C stops the mock.")
    return "\n".join(lines)


def run_mock(args: argparse.Namespace) -> int:
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
    products = args.products if spec is None else 0  # the demo's data, unused by a document
    state = MockState(seed=args.seed, product_count=products, journal=Journal(args.journal_size))
    if scenario is not None:
        for warning in spec_mock_cli.scenario_warnings(spec, scenario):
            print(f"harness mock: warning: {warning} (it will never fire)", file=sys.stderr)
        settings = scenario.settings(settings)
        for rule in scenario.faults:
            state.faults.add(rule)
    config = ServeConfig(
        host=args.host,
        port=args.port,
        upstream=args.upstream,
        upstream_insecure=args.upstream_insecure,
        settings=settings,
        extra_options=dict(args.options),
        spec=spec,
        validate_upstream=args.validate_responses,
    )
    masters: list[Master] = []

    def ready(port: int | None) -> None:
        host = f"[{args.host}]" if ":" in args.host else args.host
        banner = _banner(f"http://{host}:{port}", settings, args.upstream, scenario, spec)
        print(banner, flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: masters and masters[0].shutdown())
        await serve(state, config, on_ready=ready, on_master=masters.append)

    try:
        asyncio.run(main())
    except MockStartError as e:
        print(f"harness mock: cannot start: {e}", file=sys.stderr)
        return 1
    return 0


def run_smoke(args: argparse.Namespace) -> int:
    from harness.smoke import run_smoke as smoke

    print("Starting the mock on a free loopback port...", flush=True)
    with MockServer() as mock:
        print(f"Mock at {mock.base_url}; smoke-testing every endpoint", flush=True)
        results = smoke(mock.base_url)
    width = max(len(r.name) for r in results)
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        print(f"  {mark}  {r.name:<{width}}  {r.seconds * 1000:7.1f} ms  {r.detail}")
    failed = [r for r in results if not r.passed]
    print(f"\nmock smoke: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="API contract test and mock harness.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_mock_parser(commands)
    fault_cli.add_parsers(commands)
    verify_cli.add_parser(commands)
    load_cli.add_parser(commands)
    contract_cli.add_parser(commands)
    commands.add_parser(
        "smoke",
        help="start the mock and smoke-test every endpoint",
        description="Start the mock, exercise every endpoint and the auth lifecycle over "
        "HTTP, and print what passed. Exits 0 only if everything passes.",
    )
    check_cli.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "mock": run_mock,
        "smoke": run_smoke,
        "check": lambda args: check_cli.run(args, main),
        "fault": fault_cli.run_fault,
        "scenario": fault_cli.run_scenario,
        "verify": verify_cli.run,
        "load": load_cli.run,
        "contract": contract_cli.run,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
