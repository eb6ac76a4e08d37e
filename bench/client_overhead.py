"""Client overhead: CPU time per request of the reference client vs plain httpx.

What is measured: this process's CPU time (`time.process_time`) per successful
`GET /v1/products/{id}` against the mock, which runs in its own process on
another CPU so its work is not counted. Sequential requests on one keep-alive
connection; variants take turns in interleaved rounds so machine noise hits
them alike.

Variants:
- plain httpx + json.loads: the floor (a bearer header, bytes to dicts);
- plain httpx + pydantic: the same, parsed into the contract's Product;
- ApiClient: the reference client (engine, retry policy and throttle, token
  store, error mapping, Product parsing);
- ApiClient, full pipeline: the same plus request signing and an API key.
  The mock runs without signing, so the server does the same work for every
  variant; the client still computes and sends every header.

Target (issue 4): the full pipeline costs at most 1.5x the floor.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.loadgen import interleaved
from bench.report import format_table, machine, report_path, write_json
from bench.servers import CpuPlan, base_url, log_in, mock_launch, pinned, product_path, started
from contracts.models import Product
from harness.client import ApiClient, InMemoryTokenStore, TokenPair

NAME = "client_overhead"
TARGET_RATIO = 1.5
FLOOR = "plain httpx + json.loads"
FULL = "ApiClient, full pipeline"


@dataclass
class Tally:
    requests: int = 0
    cpu_s: float = 0.0
    wall_s: float = 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else float("nan")


Variant = Callable[[], object]


def _variants(base: str, authorization: str, product_id: str) -> dict[str, Variant]:
    path = product_path(product_id)
    plain = httpx.Client(base_url=base, headers={"Authorization": authorization})
    token = authorization.removeprefix("Bearer ")
    tokens = InMemoryTokenStore(TokenPair(token, "unused"))
    reference = ApiClient(base, tokens=tokens)
    full = ApiClient(base, tokens=tokens, signing_secret="bench-secret", api_key="bench-key")
    return {
        FLOOR: lambda: json.loads(plain.get(path).content),
        "plain httpx + pydantic": lambda: Product.model_validate_json(plain.get(path).content),
        "ApiClient": lambda: reference.get_product(product_id),
        FULL: lambda: full.get_product(product_id),
    }


def _run(variant: Variant, count: int) -> Tally:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        variant()
    return Tally(count, time.process_time() - cpu, time.perf_counter() - wall)


def measure(base: str, requests: int, rounds: int, warmup: int) -> dict[str, Tally]:
    authorization, product_id = log_in(base)
    variants = _variants(base, authorization, product_id)
    for variant in variants.values():
        _run(variant, warmup)
    totals = {name: Tally() for name in variants}
    per_round = max(1, requests // rounds)
    for round_no, name in interleaved(list(variants), rounds):
        part = _run(variants[name], per_round)
        total = totals[name]
        total.requests += part.requests
        total.cpu_s += part.cpu_s
        total.wall_s += part.wall_s
        print(f"  round {round_no + 1}/{rounds}  {name:<26} {part.cpu_s / per_round * 1e6:8.1f} µs")
    return totals


def report(totals: dict[str, Tally]) -> tuple[str, float]:
    floor = totals[FLOOR].cpu_us
    rows = [
        [
            name,
            f"{t.requests:,}",
            f"{t.cpu_us:,.1f}",
            f"{t.requests / t.wall_s:,.0f}" if t.wall_s else "-",
            f"{t.cpu_us / floor:.2f}x",
        ]
        for name, t in totals.items()
    ]
    header = ["variant", "requests", "CPU µs/request", "requests/s", "vs floor"]
    ratio = totals[FULL].cpu_us / floor
    return format_table(header, rows, labels=1), ratio


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m bench.{NAME}", description=(__doc__ or NAME).splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke test")
    parser.add_argument("--json", type=Path, default=report_path(NAME), help="results file")
    parser.add_argument("--requests", type=int, default=4000, help="requests per variant")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.rounds = 400, 2
    if args.requests < args.rounds or args.rounds < 1:
        parser.error("need --rounds >= 1 and --requests >= --rounds")
    plan = CpuPlan.detect()
    print(f"cpus: {plan.describe()}; {args.requests} requests per variant, {args.rounds} rounds")
    log_dir = Path(args.json).parent / "logs"
    with started({"mock": mock_launch()}, log_dir, plan.server) as servers, pinned(plan.load):
        totals = measure(base_url(servers["mock"]), args.requests, args.rounds, warmup=100)
    table, ratio = report(totals)
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print()
    print(table)
    print(
        f"\nfull client / floor = {ratio:.2f}x CPU per request "
        f"(target <= {TARGET_RATIO}x): {verdict}"
    )
    write_json(
        Path(args.json),
        NAME,
        machine(),
        results={
            name: {"requests": t.requests, "cpu_us": t.cpu_us, "wall_s": t.wall_s}
            for name, t in totals.items()
        },
        ratio=ratio,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
