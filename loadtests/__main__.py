"""`python -m loadtests [options]`: what `harness load` runs (same options)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness.load_cli import build_parser
from loadtests.profiles import get_profile
from loadtests.runner import LOCUSTFILE, ROLES_LOCUSTFILE, LoadPlan, execute

ROOT = Path.cwd()


def _absolute(location: str | None) -> str | None:
    """A file given on the command line, absolute (URLs as they are)."""
    if location is None or "://" in location:
        return location
    return str(Path(location).resolve())


def _locustfile(args: argparse.Namespace) -> Path:
    """Theirs if given; with a configuration (any API), users from its roles; else the demo's."""
    if args.locustfile:
        return Path(args.locustfile).resolve()
    return ROLES_LOCUSTFILE if args.config or args.spec else LOCUSTFILE


def main(argv: Sequence[str] | None = None) -> int:
    # SIGTERM (a CI timeout, `harness load` passing one on) stops the run as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    parser = build_parser()
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    report_dir = (
        Path(args.report_dir)
        if args.report_dir
        else (ROOT / "reports" / "load" / f"{profile.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    thresholds = profile.thresholds.with_overrides(
        max_error_rate=args.max_error_rate,
        max_p95_ms=args.max_p95_ms,
        max_attempts_per_call=args.max_attempts_per_call,
        max_refreshes_per_expiry=args.max_refreshes_per_expiry,
        max_duplicates=args.max_duplicates,
    )
    plan = LoadPlan(
        profile=profile,
        users=args.users or profile.users,
        spawn_rate=args.spawn_rate or profile.spawn_rate,
        run_time_s=args.duration or profile.run_time_s,
        report_dir=report_dir.resolve(),
        thresholds=thresholds,
        base_url=args.base_url,
        processes=args.processes,
        locustfile=_locustfile(args),
        journal_size=args.journal_size,
        progress_s=args.progress_s,
        spec=_absolute(args.spec),
        config=_absolute(args.config),
        upstream=args.upstream,
    )
    try:
        return execute(plan)
    except KeyboardInterrupt:  # a second Ctrl-C while the report was being written
        print("harness load: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
