"""Throughput cost of installed fault rules that do not match the request.

What is measured: requests/s and p50/p99 latency of `GET /v1/products/{id}`
with a valid bearer token, over 16 keep-alive connections in a closed loop,
on one `harness mock` process (pinned to one CPU), in two configurations:

- no rules: no fault rules installed;
- 10 rules: ten realistic rules installed through the control API (other
  methods, other paths, an operation id, header conditions on this very path,
  `probability`/`every`/`times` selections), none of which matches the
  request. Every request is still checked against all ten.

Why: a test suite installs rules for the calls it breaks and expects every
other call to run at full speed. The goal: the rules cost under 10%.

How: one process measured twice rather than two processes, so the
comparison does not include process-to-process differences; the rules are
removed or installed between rounds (a few control calls). Each configuration
gets a warm-up, then the measured time is split into rounds that alternate
the configurations' order. wrk if installed, else the built-in asyncio
generator (`--generator`). After each round with rules, their match counters
must still be 0: otherwise a rule matched and the comparison is void.
Requests/s is all responses over all rounds' time; p50/p99 are the median of
the rounds' values; the cost is 1 - rate(10 rules) / rate(no rules).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import httpx

from bench import options
from bench.loadgen import (
    LoadResult,
    LoadSpec,
    choose_generators,
    combine,
    interleaved,
    measure,
    run_builtin,
)
from bench.report import RATE_HEADER, format_table, machine, rate_cells, run_context, write_json
from bench.servers import (
    HOST,
    CpuPlan,
    base_url,
    log_in,
    mock_launch,
    pinned,
    product_path,
    started,
)
from harness.control import ControlClient

NAME = "fault_rules_cost"
TARGET_LOSS = 0.10
NO_RULES = "no-rules"
RULES = "10-rules"
LABELS = {NO_RULES: "no rules", RULES: "10 non-matching rules"}

# Realistic rules, none of which matches `GET /v1/products/{id}` without extra
# headers. The last two pass the method and path checks and fail on a header,
# the most expensive way not to match.
NON_MATCHING_RULES: tuple[dict[str, Any], ...] = (
    {
        "id": "create-503",
        "match": {"methods": ["POST"], "path": "/v1/products"},
        "action": {"type": "status", "status": 503, "retry_after": 1},
        "select": {"probability": 0.05, "seed": 1},
    },
    {
        "id": "create-applied-502",
        "match": {"methods": ["POST"], "path": "/v1/products"},
        "action": {"type": "apply_then_fail", "then": "status", "status": 502},
        "select": {"every": 10},
    },
    {
        "id": "update-slow",
        "match": {"operation": "updateProduct"},
        "action": {"type": "delay"},
        "delay": {"type": "lognormal", "median_ms": 80, "sigma": 0.6, "cap_ms": 2000},
    },
    {
        "id": "delete-close",
        "match": {"methods": ["DELETE"], "path": "/v1/products/*"},
        "action": {"type": "close"},
        "select": {"probability": 0.1, "seed": 2},
    },
    {
        "id": "refresh-401",
        "match": {"methods": ["POST"], "path": "/v1/auth/refresh"},
        "action": {"type": "status", "status": 401},
        "select": {"times": 3},
    },
    {
        "id": "login-429",
        "match": {"path": "/v1/auth/login"},
        "action": {"type": "status", "status": 429, "retry_after": 2},
        "select": {"every": 5},
    },
    {
        "id": "list-drip",
        "match": {"methods": ["GET"], "path": "/v1/products"},
        "action": {"type": "drip", "duration_ms": 1500, "chunks": 5},
        "select": {"every": 4},
    },
    {
        "id": "profile-hang",
        "match": {"methods": ["GET"], "path": "/v1/users/*"},
        "action": {"type": "hang", "seconds": 30},
        "select": {"probability": 0.02, "seed": 3},
    },
    {
        "id": "chaos-reset",
        "match": {"path": "/v1/*", "headers": {"X-Chaos": "reset"}},
        "action": {"type": "reset"},
    },
    {
        "id": "beta-malformed",
        "match": {"methods": ["GET"], "path": "/v1/products/*", "headers": {"X-Tenant": "beta"}},
        "action": {"type": "malformed"},
        "select": {"probability": 0.5, "seed": 4},
    },
)


@dataclass(frozen=True)
class Row:
    config: str
    generator: str
    result: LoadResult
    rounds: list[float]


# --- the two configurations ----------------------------------------------------------


def apply_config(control: ControlClient, config: str) -> None:
    control.clear_faults()
    if config == RULES:
        for rule in NON_MATCHING_RULES:
            control.add_fault(rule)


def check_unmatched(control: ControlClient) -> None:
    """Raise if any installed rule matched a request: the run would measure faults."""
    matched = {r["id"]: r["matches"] for r in control.faults() if r["matches"]}
    if matched:
        raise RuntimeError(f"rules matched the benchmarked request: {matched}")


def run_rounds(
    spec: LoadSpec, control: ControlClient, generators: list[str], args: argparse.Namespace
) -> list[Row]:
    configs = [NO_RULES, RULES]
    for config in configs:
        print(f"  warm-up {LABELS[config]}", flush=True)
        apply_config(control, config)
        run_builtin(replace(spec, duration_s=args.warmup))
    parts: dict[tuple[str, str], list[LoadResult]] = {}
    for n, config in interleaved(configs, args.rounds):
        apply_config(control, config)
        for generator in generators:
            result = measure(spec, generator)
            parts.setdefault((config, generator), []).append(result)
            print(
                f"  round {n + 1}/{args.rounds}  {LABELS[config]:<22} {generator:<8} "
                f"{result.rate:8.0f} req/s",
                flush=True,
            )
        check_unmatched(control)
    return [
        Row(c, g, combine(parts[c, g]), [p.rate for p in parts[c, g]])
        for c in configs
        for g in generators
    ]


# --- results -------------------------------------------------------------------------


def losses(rows: list[Row]) -> dict[str, dict[str, float]]:
    """Per generator: overall loss, and the smallest and largest loss of paired rounds."""
    found: dict[str, dict[str, float]] = {}
    for generator in dict.fromkeys(r.generator for r in rows):
        by = {r.config: r for r in rows if r.generator == generator}
        base, ruled = by[NO_RULES], by[RULES]
        if not base.result.rate:
            continue
        paired = [1 - b / a for a, b in zip(base.rounds, ruled.rounds, strict=True) if a]
        found[generator] = {
            "loss": 1 - ruled.result.rate / base.result.rate,
            "round_loss_min": min(paired),
            "round_loss_max": max(paired),
            "round_loss_median": statistics.median(paired),
        }
    return found


def table(rows: list[Row], found: dict[str, dict[str, float]]) -> str:
    header = ["rules", "generator", *RATE_HEADER, "loss vs no rules"]
    lines = []
    for row in rows:
        loss = found.get(row.generator, {}).get("loss")
        shown = "-" if row.config == NO_RULES or loss is None else f"{loss * 100:.1f}%"
        lines.append([LABELS[row.config], row.generator, *rate_cells(row.result), shown])
    return format_table(header, lines)


def verdict_lines(found: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    for generator, v in found.items():
        met = "met" if v["loss"] < TARGET_LOSS else "NOT met"
        suffix = f"  [{generator}]" if len(found) > 1 else ""
        lines.append(
            f"rule-matching cost = {v['loss'] * 100:.1f}% (target < {TARGET_LOSS:.0%}): {met}"
            f"{suffix}"
        )
        lines.append(
            f"  per round pair: median {v['round_loss_median'] * 100:.1f}%, "
            f"range {v['round_loss_min'] * 100:.1f}% .. {v['round_loss_max'] * 100:.1f}%"
        )
    return lines


# --- command line --------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser_for(
        NAME,
        __doc__,
        duration=30.0,
        warmup=2.0,
        connections=16,
        quick="4 s per configuration in 2 rounds, 1 s warm-up",
    )
    options.add_rounds_and_generator(parser, rounds=6)
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 4.0, 2, 1.0
    options.check(parser, args)
    return args


def measure_all(args: argparse.Namespace, plan: CpuPlan, generators: list[str]) -> list[Row]:
    launch = mock_launch("--access-ttl", "3600")
    with started({"mock": launch}, args.json.parent / "logs", plan.server) as running:
        base = base_url(running["mock"])
        authorization, product_id = log_in(base)
        spec = LoadSpec(
            host=HOST,
            port=running["mock"].port,
            path=product_path(product_id),
            headers={"Authorization": authorization},
            connections=args.connections,
            duration_s=args.duration / args.rounds,
        )
        with ControlClient(base) as control, pinned(plan.load):
            return run_rounds(spec, control, generators, args)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    generators = choose_generators(args.generator)
    plan = CpuPlan.detect()
    info = machine()
    print(f"load generator: {', '.join(generators)}; cpus: {plan.describe()}")
    print(
        f"{args.connections} connections, {args.duration:g} s per configuration in "
        f"{args.rounds} round(s) after {args.warmup:g} s warm-up; one mock, rules toggled"
    )
    try:
        rows = measure_all(args, plan, generators)
    except (RuntimeError, httpx.HTTPError, subprocess.SubprocessError, ValueError) as e:
        print(f"{NAME}: {e}", file=sys.stderr)
        return 1
    found = losses(rows)
    print()
    print(table(rows, found))
    print()
    print("\n".join(verdict_lines(found)))
    info |= {
        **run_context(args, plan.describe()),
        "generators": generators,
        "rules": NON_MATCHING_RULES,
    }
    results = [
        {"config": r.config, "rounds_rate": r.rounds, "rate": r.result.rate, **asdict(r.result)}
        for r in rows
    ]
    write_json(args.json, NAME, info, results=results, verdicts=found)
    print(f"\nresults written to {args.json}")
    if any(r.result.errors for r in rows):
        print(f"{NAME}: some requests failed; the numbers are not trustworthy", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
