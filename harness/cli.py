"""The `harness` command line."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

from mitmproxy.master import Master

from mocks.control import CONTROL_PREFIX
from mocks.server import MockServer, ServeConfig, serve
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
    mock.add_argument("--access-ttl", type=int, help="access token lifetime, seconds")
    mock.add_argument("--refresh-ttl", type=int, help="refresh token lifetime, seconds")
    mock.add_argument("--api-key", help="require this X-API-Key on every API request")
    mock.add_argument("--signing-secret", help="require request signatures with this secret")
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
    if args.api_key:
        changes["api_key"] = args.api_key
    if args.signing_secret:
        changes |= {"signing": True, "signing_secret": args.signing_secret}
    return MockSettings().merged(changes)


def _banner(base_url: str, settings: MockSettings) -> str:
    lines = [
        f"Mock API      {base_url}/v1",
        f"Control API   {base_url}{CONTROL_PREFIX}/",
        f"Demo user     {DEMO_EMAIL} / {DEMO_PASSWORD}",
        f"Access TTL    {settings.access_ttl_s:g} s",
    ]
    if settings.api_key:
        lines.append(f"API key       {settings.api_key}")
    if settings.signing:
        lines.append("Signing       required (X-App-Timestamp, X-App-Nonce, X-App-Signature)")
    lines.append("Ctrl-C stops the mock.")
    return "\n".join(lines)


def run_mock(args: argparse.Namespace) -> int:
    try:
        settings = _settings_from(args)
    except ValueError as e:
        print(f"harness mock: {e}", file=sys.stderr)
        return 2
    state = MockState(seed=args.seed, product_count=args.products)
    config = ServeConfig(
        host=args.host, port=args.port, settings=settings, extra_options=dict(args.options)
    )
    masters: list[Master] = []

    def ready(port: int | None) -> None:
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(_banner(f"http://{host}:{port}", settings), flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: masters and masters[0].shutdown())
        await serve(state, config, on_ready=ready, master_out=masters)

    try:
        asyncio.run(main())
    except Exception as e:  # e.g. port in use, bad --set: say it plainly
        print(f"harness mock: {e}", file=sys.stderr)
        return 1
    return 0


def run_check(args: argparse.Namespace) -> int:
    from harness.smoke import run_smoke

    print("Starting the mock on a free loopback port...", flush=True)
    with MockServer() as mock:
        print(f"Mock at {mock.base_url}; smoke-testing every endpoint", flush=True)
        results = run_smoke(mock.base_url)
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
    commands.add_parser(
        "check",
        help="run the whole harness against the embedded mock and print a scorecard",
        description="Start the mock, exercise it end to end, and print a scorecard. "
        "Exits 0 only if everything passes.",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"mock": run_mock, "check": run_check}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
