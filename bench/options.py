"""Command-line options every benchmark shares, with the same names and checks.

`parser_for()` gives a benchmark's parser with `--quick`, `--duration`,
`--warmup`, `--connections` and `--json` (default `reports/bench/<name>.json`);
closed-loop benchmarks add `--rounds` and `--generator` with
`add_rounds_and_generator()`. `check()` rejects values no run can use.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.loadgen import GENERATOR_CHOICES, wrk_path
from bench.report import report_path


def parser_for(
    name: str,
    doc: str | None,
    *,
    duration: float,
    warmup: float,
    connections: int,
    quick: str,
) -> argparse.ArgumentParser:
    """The parser of benchmark `name` (its module docstring's first line describes it)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m bench.{name}", description=(doc or name).splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument(
        "--duration", type=float, default=duration, help="measured seconds per target"
    )
    parser.add_argument("--warmup", type=float, default=warmup, help="warm-up seconds per target")
    parser.add_argument(
        "--connections", type=int, default=connections, help="keep-alive connections"
    )
    parser.add_argument(
        "--json", type=Path, default=report_path(name), help="where to write the results"
    )
    return parser


def add_rounds_and_generator(parser: argparse.ArgumentParser, rounds: int) -> None:
    parser.add_argument(
        "--rounds", type=int, default=rounds, help="interleaved rounds the time is split into"
    )
    parser.add_argument(
        "--generator",
        choices=GENERATOR_CHOICES,
        default="auto",
        help="auto: wrk if on PATH, else the built-in asyncio generator",
    )


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit with a usage error if the shared options cannot make a run."""
    if args.duration <= 0 or args.warmup < 0 or not 1 <= args.connections <= 1024:
        parser.error("need --duration > 0, --warmup >= 0 and 1..1024 connections")
    if getattr(args, "rounds", 1) < 1:
        parser.error("need --rounds >= 1")
    if getattr(args, "generator", None) == "wrk" and wrk_path() is None:
        parser.error("wrk is not on PATH")
