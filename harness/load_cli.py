"""`harness load`: a locust run of the reference client against the (faulty) mock.

    harness load [--profile NAME] [--users N] [--spawn-rate R] [--duration 60s]
                 [--base-url URL] [--processes N] [--report-dir DIR]
                 [--locustfile FILE] [--spec FILE] [--config FILE] [--upstream URL]

With --spec/--config and no --locustfile, the users come from the
configuration's roles (loadtests/role_users.py).

The run itself lives in `loadtests/` (profiles, locust users, invariants;
`python -m loadtests` takes the same options). This module only parses and
hands over: `harness` may not import `loadtests` (ARCHITECTURE.md), so the
run goes to a child process, which is what it needs anyway: locust
monkey-patches with gevent at import and must own its process.

Wiring (harness/cli.py): `load_cli.add_parser(commands)`, and "load": load_cli.run.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

PROFILE_NAMES = ("steady", "token-churn", "fault-mix", "spike", "duplicate-probe")
DEFAULT_JOURNAL_SIZE = 500_000
_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*$"
)

# (dest, flag) of every option, in the order they are handed on.
_OPTIONS: tuple[tuple[str, str], ...] = (
    ("profile", "--profile"),
    ("users", "--users"),
    ("spawn_rate", "--spawn-rate"),
    ("duration", "--duration"),
    ("base_url", "--base-url"),
    ("processes", "--processes"),
    ("report_dir", "--report-dir"),
    ("locustfile", "--locustfile"),
    ("spec", "--spec"),
    ("config", "--config"),
    ("upstream", "--upstream"),
    ("journal_size", "--journal-size"),
    ("progress_s", "--progress-s"),
    ("max_error_rate", "--max-error-rate"),
    ("max_p95_ms", "--max-p95-ms"),
    ("max_attempts_per_call", "--max-attempts-per-call"),
    ("max_refreshes_per_expiry", "--max-refreshes-per-expiry"),
    ("max_duplicates", "--max-duplicates"),
)


def parse_duration(text: str) -> float:
    """Seconds from `90`, `90s`, `2m`, `1h30m`, `1m30s`."""
    found = _DURATION.match(text)
    if not found or not any(found.groups()) or not text.strip():
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (say 60s, 2m, 1h30m)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError("the duration must be positive")
    return total


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default="steady",
        choices=PROFILE_NAMES,
        help="steady, token-churn (5 s access tokens), fault-mix (503/429 with Retry-After, "
        "timeouts, resets, applied-then-502 creations), spike; duplicate-probe for the "
        "defective example (default: steady)",
    )
    parser.add_argument(
        "--users", type=_positive_int, help="concurrent users (peak for spike; default 20)"
    )
    parser.add_argument(
        "--spawn-rate", type=_positive_float, help="users started per second (default 10)"
    )
    parser.add_argument(
        "--duration",
        type=parse_duration,
        help="run time: 60s, 2m, ... (default 60s); locust stops by itself after it",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="load this server (its root, e.g. http://127.0.0.1:8080) instead of starting "
        "the embedded mock; journal-based invariants need a harness mock's control API",
    )
    parser.add_argument(
        "--processes",
        type=_positive_int,
        help="locust worker processes on this machine (locust --processes)",
    )
    parser.add_argument(
        "--report-dir",
        metavar="DIR",
        help="where to write the report (default reports/load/<profile>-<time>)",
    )
    parser.add_argument(
        "--locustfile",
        metavar="PATH",
        help="user classes to run: your own locust file, unchanged (judged from the "
        "journal); by default, with --spec/--config, users from the configuration's roles "
        "(loadtests/roles_locustfile.py), else the demo's reference client",
    )
    parser.add_argument(
        "--spec",
        metavar="FILE",
        help="load the mock of this OpenAPI document (harness mock --spec); with "
        "--upstream, name its operations",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the harness configuration (harness.yaml): roles, auth, mock settings",
    )
    parser.add_argument(
        "--upstream",
        metavar="URL",
        help="load your server through the fault proxy (faults and journal apply)",
    )
    parser.add_argument(
        "--journal-size",
        type=_positive_int,
        default=DEFAULT_JOURNAL_SIZE,
        help=f"journal entries the embedded mock keeps (default {DEFAULT_JOURNAL_SIZE:,})",
    )
    parser.add_argument(
        "--progress-s", type=_positive_float, default=5.0, help="seconds between progress lines"
    )
    limits = parser.add_argument_group("invariant thresholds (default: the profile's)")
    limits.add_argument("--max-error-rate", type=float, help="user-visible errors, 0..1")
    limits.add_argument("--max-p95-ms", type=float, help="p95 of logical call latency")
    limits.add_argument(
        "--max-attempts-per-call", type=float, help="retry amplification: attempts per call"
    )
    limits.add_argument(
        "--max-refreshes-per-expiry",
        type=float,
        help="refreshes per session and access-token lifetime",
    )
    limits.add_argument("--max-duplicates", type=int, help="duplicate creations allowed")


def add_parser(commands: Any) -> None:
    """Add `harness load` to the `harness` subcommands."""
    parser = commands.add_parser(
        "load",
        help="locust load run of the reference client against the mock, with invariants",
        description="Run locust users driving the reference client against the embedded "
        "mock (or --base-url) under a profile, then judge the run: refresh storms, "
        "duplicate creations, retry amplification, error rate and p95 latency. Writes "
        "locust's HTML and CSV and a summary to a report folder. Exits 1 when an "
        "invariant is breached (they are named), 2 for bad options, 3 if the run failed.",
    )
    add_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness load", description=__doc__)
    add_arguments(parser)
    return parser


def to_argv(args: argparse.Namespace) -> list[str]:
    """The options of a parsed `harness load`, as a command line again."""
    argv: list[str] = []
    for dest, flag in _OPTIONS:
        value = getattr(args, dest, None)
        if value is not None:
            argv += [flag, f"{value}s" if dest == "duration" else str(value)]
    return argv


def run(args: argparse.Namespace) -> int:
    """Run `python -m loadtests` with these options; its exit code (130 if interrupted)."""
    command = [sys.executable, "-m", "loadtests", *to_argv(args)]
    process = subprocess.Popen(command)
    forwarding = threading.current_thread() is threading.main_thread()
    if forwarding:  # SIGTERM to us reaches the run, which then writes what finished
        previous = signal.signal(signal.SIGTERM, lambda *_: process.send_signal(signal.SIGTERM))
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                # The terminal sent the child the same SIGINT: it stops locust and reports.
                continue
    finally:
        if forwarding:
            signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
