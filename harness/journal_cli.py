"""`harness journal`: a running mock's journal, as JSON lines or as a HAR 1.2 file.

harness journal                      # every entry, one JSON object a line
harness journal --har run.har        # the same as an HTTP Archive (dev tools, mitmproxy)
harness journal --since 120 --har -  # entries after seq 120, HAR on stdout
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from harness.cli_parser import version
from harness.control import ControlClient, ControlError
from mocks.har import har_document

DEFAULT_URL = "http://127.0.0.1:8080"
PAGE = 5000


def add_parser(commands: Any) -> None:
    """Add `harness journal` to the `harness` subcommands."""
    parser = commands.add_parser(
        "journal",
        help="export a running mock's journal (JSON lines, or HAR 1.2 with --har)",
        description="Read a running mock's journal over its control API and print it as "
        "JSON lines, or write it as an HTTP Archive (HAR 1.2) that browser dev tools and "
        "mitmproxy open. The journal keeps no bodies and few headers; each HAR entry names "
        "its operation and the fault rule that hit it.",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("HARNESS_URL", DEFAULT_URL),
        help="base URL of the running mock (env HARNESS_URL)",
    )
    parser.add_argument(
        "--since", type=int, default=0, metavar="SEQ", help="only entries after this seq"
    )
    parser.add_argument("--har", metavar="FILE", help="write a HAR 1.2 file ('-': stdout)")


def read_entries(control: ControlClient, since: int) -> Iterator[dict[str, Any]]:
    """Every entry after `since`, page by page."""
    while True:
        batch: list[dict[str, Any]] = control.journal(since, limit=PAGE)["entries"]
        if not batch:
            return
        yield from batch
        since = int(batch[-1]["seq"])


def run(args: argparse.Namespace) -> int:
    try:
        with ControlClient(args.url) as control:
            entries = list(read_entries(control, args.since))
    except (httpx.HTTPError, ControlError) as e:
        print(f"harness journal: cannot read the journal at {args.url}: {e}", file=sys.stderr)
        return 1
    if args.har is None:
        for entry in entries:
            print(json.dumps(entry, separators=(",", ":")))
        return 0
    text = json.dumps(har_document(entries, args.url, version=version()), indent=1) + "\n"
    if args.har == "-":
        sys.stdout.write(text)
    else:
        Path(args.har).write_text(text, encoding="utf-8")
        print(f"harness journal: {len(entries)} entries -> {args.har}", file=sys.stderr)
    return 0
