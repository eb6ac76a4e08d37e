"""The `harness` command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from mitmproxy.master import Master

from harness import check_cli, contract_cli, fault_cli, load_cli, verify_cli
from mocks.control import CONTROL_PREFIX
from mocks.control_access import TOKEN_ENV, TOKEN_HEADER, is_loopback
from mocks.journal import DEFAULT_CAPACITY, Journal
from mocks.scenarios import Scenario, ScenarioError, load_scenario
from mocks.server import (
    MockServer,
    MockStartError,
    ServeConfig,
    beyond_loopback_warning,
    resolve_control_token,
    serve,
)
from mocks.settings import MockSettings
from mocks.state import MockState
from mocks.store import (
    DEFAULT_PRODUCT_COUNT,
    DEFAULT_SEED,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    SHOP_EMAIL,
    SHOP_PASSWORD,
)


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
    mock.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (loopback; any other address needs the control token)",
    )
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
        type=_option_pair,
        default=[],
        metavar="NAME=VALUE",
        help="set any mitmproxy option, as mitmdump --set does (repeatable)",
    )


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
    token_line: str | None = None,
) -> str:
    """What the mock prints once listening. Secrets are named, never shown: the user
    gave them, and terminals end up in CI logs."""
    if upstream:
        lines = [f"Proxy         {base_url} -> {upstream} (faults and journal apply)"]
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


def run_mock(args: argparse.Namespace) -> int:
    try:
        settings = _settings_from(args)
        scenario = load_scenario(args.scenario) if args.scenario else None
    except (ValueError, ScenarioError) as e:
        print(f"harness mock: {e}", file=sys.stderr)
        return 2
    if args.journal_size < 1:
        print("harness mock: --journal-size must be at least 1", file=sys.stderr)
        return 2
    try:
        token, token_line = _control_token(args)
    except (ValueError, OSError) as e:
        print(f"harness mock: control token: {e}", file=sys.stderr)
        return 2
    state = MockState(
        seed=args.seed, product_count=args.products, journal=Journal(args.journal_size)
    )
    if scenario is not None:
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
        control_token=token,
        tls=args.tls,
    )
    masters: list[Master] = []

    def ready(port: int | None) -> None:
        host = f"[{args.host}]" if ":" in args.host else args.host
        if not is_loopback(args.host):
            print(beyond_loopback_warning(args.host, port), file=sys.stderr, flush=True)
        banner = _banner(f"http://{host}:{port}", settings, args.upstream, scenario, token_line)
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
