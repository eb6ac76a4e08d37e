"""`harness mock --web`: the mock inside mitmweb's UI (mocks/web.py), every flow marked
with what the mock did. Only the options, the checks and the banner line live here."""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_WEB_PORT = 8081  # mitmweb's; mocks.web is imported only with --web


def add_arguments(mock: argparse.ArgumentParser) -> None:
    mock.add_argument(
        "--web",
        action="store_true",
        help="also show every flow in mitmproxy's web UI (mitmweb), on loopback, each "
        "marked with its operation, the fault rule that hit it and its journal entry",
    )
    mock.add_argument(
        "--web-port",
        type=int,
        default=DEFAULT_WEB_PORT,
        metavar="PORT",
        help="port of the web UI with --web (0: any free)",
    )


def check(args: argparse.Namespace) -> str | None:
    """Why these options cannot run, or None."""
    if not args.web:
        return None
    if args.workers > 1:
        return "--web shows one process's flows: use it without --workers"
    if not 0 <= args.web_port <= 65535:
        return f"--web-port {args.web_port} is not a port"
    return None


def serve_fields(args: argparse.Namespace) -> dict[str, Any]:
    """ServeConfig's fields for --web (none without it)."""
    if not args.web:
        return {}
    from mocks.web import MockWebMaster, web_options

    return {
        "master_factory": MockWebMaster,
        "extra_options": web_options(args.web_port),  # --set still wins
    }


def on_master(args: argparse.Namespace, master: Any, state: Any) -> None:
    if args.web:
        from mocks.web import attach_marks

        attach_marks(master, state)


def banner_line(args: argparse.Namespace, master: Any) -> str | None:
    """The UI's address, with mitmweb's token unless `web_password` was set."""
    if not args.web or master is None:
        return None
    if master.options.web_password:
        return f"Web UI        {master.web_url} (the web_password given)"
    return f"Web UI        {master.web_url} (the token is the UI's password)"
