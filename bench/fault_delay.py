"""Delay fidelity: how closely the mock's injected delays match the configured ones.

What is measured: `GET /v1/products/{id}` on `harness mock` (own process,
pinned to one CPU), with delay fault rules installed through the control API
(fixed 50 ms, fixed 200 ms, uniform 20-200 ms). Each rule matches only
requests carrying its own `X-Bench-Delay` header value; requests carrying
`X-Bench-Delay: none` match no rule and are the baseline. All four classes
take turns within one paced run, so they see the same load at the same time.

Why: a client's timeout and retry tests are only as good as the delays the
mock injects. The goal is a p99 error under 5 ms at a steady, moderate load.

How: the built-in paced generator (pinned to the other CPU) sends requests
on a fixed schedule at `--rate` req/s over `--connections` keep-alive
connections, far below the mock's saturation (saturation would measure
queueing, not the delay), and times each request from write to last byte.

Error, per request, in ms:

    error = observed - delay - baseline p50

where `observed` is the client-side latency, `delay` the delay the mock drew
for that request (read from its journal's `fault.delay_ms`; the configured
value for fixed delays), and `baseline p50` the median latency of the
baseline requests of the same run: what the request costs without a delay.
The baseline row shows the baseline's own spread on the same scale.

Cross-check on the server side: the journal's `duration_ms` (request start to
response decision, timed by the mock) minus `fault.delay_ms`, which leaves out
the client and the network and isolates the mock's timer and event loop.
Journal entries pair up with client requests by client port and order.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from bench import options
from bench.loadgen import LoadSpec, PacedResult, PacedSpec, Sample, percentile, run_paced
from bench.report import format_table, machine, run_context, write_json
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

NAME = "fault_delay"
HEADER = "X-Bench-Delay"
TARGET_P99_MS = 5.0


@dataclass(frozen=True)
class DelayClass:
    """One kind of request in the run: its header value and the rule it triggers."""

    key: str
    label: str
    delay: dict[str, Any] | None  # the rule's `delay`; None for the baseline

    def rule(self, path: str) -> dict[str, Any]:
        return {
            "id": f"bench-{self.key}",
            "description": f"fault_delay benchmark: {self.label}",
            "match": {"methods": ["GET"], "path": path, "headers": {HEADER: self.key}},
            "action": {"type": "delay"},
            "delay": self.delay,
            "select": {"seed": 1},
        }


BASELINE = DelayClass("none", "no rule (baseline)", None)
CLASSES = (
    BASELINE,
    DelayClass("fixed-50", "fixed 50 ms", {"type": "fixed", "ms": 50}),
    DelayClass("fixed-200", "fixed 200 ms", {"type": "fixed", "ms": 200}),
    DelayClass(
        "uniform-20-200", "uniform 20-200 ms", {"type": "uniform", "min_ms": 20, "max_ms": 200}
    ),
)


@dataclass(frozen=True)
class Paired:
    """One request as both sides saw it."""

    variant: int
    observed_ms: float
    delay_ms: float
    server_ms: float
    rule: str | None
    warmup: bool


@dataclass(frozen=True)
class Spread:
    p50: float
    p99: float
    max: float

    @staticmethod
    def of(values: list[float]) -> Spread:
        ordered = sorted(values)
        return Spread(
            percentile(ordered, 0.50), percentile(ordered, 0.99), ordered[-1] if ordered else 0.0
        )


@dataclass(frozen=True)
class ClassResult:
    key: str
    label: str
    n: int
    observed: Spread  # client-side latency, ms
    error: Spread  # observed - delay - baseline p50, ms
    server_excess: Spread  # duration_ms - delay_ms, ms


# --- preparing -------------------------------------------------------------------


def install_rules(control: ControlClient, path_glob: str) -> None:
    control.clear_faults()
    for c in CLASSES:
        if c.delay is not None:
            control.add_fault(c.rule(path_glob))


def paced_spec(
    port: int, authorization: str, product_id: str, args: argparse.Namespace
) -> PacedSpec:
    load = LoadSpec(
        host=HOST,
        port=port,
        path=product_path(product_id),
        headers={"Authorization": authorization},
        connections=args.connections,
        duration_s=args.duration,
    )
    variants = tuple({HEADER: c.key} for c in CLASSES)
    return PacedSpec(load, args.rate, variants, warmup_s=args.warmup)


def check_classes(spec: PacedSpec) -> None:
    """Every class answers 200 before the run (and the rules load their code paths)."""
    load = spec.load
    for extra in spec.variants:
        status = httpx.get(load.url, headers=load.headers | extra, timeout=10.0).status_code
        if status != 200:
            raise RuntimeError(f"GET {load.path} with {extra} answered {status}, not 200")


# --- pairing client samples with journal entries ---------------------------------


def _port(entry: dict[str, Any]) -> int:
    return int(str(entry["client"]).rpartition(":")[2] or 0)


def pair(samples: list[Sample], entries: list[dict[str, Any]]) -> tuple[list[Paired], int]:
    """Client samples joined with journal entries by client port and order; also
    how many measured samples could not be paired (their connection's counts differ)."""
    by_port: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for entry in sorted(entries, key=lambda e: int(e["seq"])):
        by_port[_port(entry)].append(entry)
    mine: dict[int, list[Sample]] = defaultdict(list)
    for sample in samples:
        mine[sample.local_port].append(sample)
    paired: list[Paired] = []
    unpaired = 0
    for port, sent in mine.items():
        seen = by_port.get(port, [])
        if len(seen) != len(sent):
            unpaired += sum(not s.warmup for s in sent)
            continue
        paired += [_paired(s, e) for s, e in zip(sent, seen, strict=True)]
    return [p for p in paired if not p.warmup], unpaired


def _paired(sample: Sample, entry: dict[str, Any]) -> Paired:
    fault = entry.get("fault") or {}
    return Paired(
        variant=sample.variant,
        observed_ms=sample.latency_s * 1000,
        delay_ms=float(fault.get("delay_ms", 0.0)),
        server_ms=float(entry["duration_ms"]),
        rule=fault.get("rule"),
        warmup=sample.warmup,
    )


def mismatched(paired: list[Paired]) -> int:
    """Pairs whose journal entry shows another rule than the request asked for."""
    expected = [None if c.delay is None else f"bench-{c.key}" for c in CLASSES]
    return sum(p.rule != expected[p.variant] for p in paired)


# --- results -----------------------------------------------------------------------


def summarize(paired: list[Paired]) -> list[ClassResult]:
    baseline = sorted(p.observed_ms for p in paired if p.variant == 0)
    base_p50 = percentile(baseline, 0.50)
    results = []
    for index, c in enumerate(CLASSES):
        mine = [p for p in paired if p.variant == index]
        results.append(
            ClassResult(
                key=c.key,
                label=c.label,
                n=len(mine),
                observed=Spread.of([p.observed_ms for p in mine]),
                error=Spread.of([p.observed_ms - p.delay_ms - base_p50 for p in mine]),
                server_excess=Spread.of([p.server_ms - p.delay_ms for p in mine]),
            )
        )
    return results


def table(results: list[ClassResult]) -> str:
    header = ["delay", "n", "observed p50", "err p50", "err p99", "err max"]
    header += ["server p50", "server p99", "server max"]
    rows = []
    for r in results:
        cells = [r.observed.p50, r.error.p50, r.error.p99, r.error.max]
        cells += [r.server_excess.p50, r.server_excess.p99, r.server_excess.max]
        rows.append([r.label, str(r.n), *(f"{v:.2f}" for v in cells)])
    return format_table(header, rows, labels=1)


def worst(results: list[ClassResult]) -> tuple[float, float]:
    """The largest client-side p99 error and server-side p99 excess over the delayed classes."""
    delayed = [r for r in results if r.key != BASELINE.key and r.n]
    if not delayed:
        return float("nan"), float("nan")
    return max(r.error.p99 for r in delayed), max(r.server_excess.p99 for r in delayed)


def verdict_lines(results: list[ClassResult]) -> list[str]:
    client, server = worst(results)
    met = "met" if client < TARGET_P99_MS else "NOT met"
    return [
        f"delay p99 error = {client:.2f} ms (target < {TARGET_P99_MS:g} ms): {met}",
        f"server-side p99 of (duration_ms - delay_ms) = {server:.2f} ms "
        "(mock's own timing, no client or network)",
    ]


def lateness_line(result: PacedResult) -> str:
    """How well the client kept its schedule (late sends would mean a busy client)."""
    measured = result.measured
    late = sorted(s.late_s * 1000 for s in measured)
    over = sum(v > 1.0 for v in late)
    return (
        f"schedule: {len(measured)} requests in {result.duration_s:g} s "
        f"({len(measured) / result.duration_s:.1f} req/s); send lateness p99 "
        f"{percentile(late, 0.99):.2f} ms, {over} sent > 1 ms late"
    )


# --- running -----------------------------------------------------------------------


def measure(
    spec: PacedSpec, control: ControlClient, load_cpus: frozenset[int] | None
) -> tuple[PacedResult, list[dict[str, Any]]]:
    """One paced run (warm-up included) and the journal entries it produced."""
    since = int(control.health()["journal"]["last_seq"])
    with pinned(load_cpus):
        result = run_paced(spec)
    journal = control.journal(since)
    if journal["missed"]:
        raise RuntimeError(f"the journal ring dropped {journal['missed']} entries; enlarge it")
    entries: list[dict[str, Any]] = journal["entries"]
    return result, entries


def build_parser() -> argparse.ArgumentParser:
    parser = options.parser_for(
        NAME,
        __doc__,
        duration=60.0,
        warmup=3.0,
        connections=32,
        quick="10 s measured, 1 s warm-up",
    )
    parser.add_argument("--rate", type=float, default=80.0, help="requests/s, all classes together")
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 10.0, 1.0
    options.check(parser, args)
    if not 0 < args.rate <= 1000:
        parser.error("need 0 < --rate <= 1000")
    return args


def report(
    args: argparse.Namespace,
    plan: CpuPlan,
    result: PacedResult,
    paired: list[Paired],
    unpaired: int,
) -> list[ClassResult]:
    results = summarize(paired)
    print()
    print(table(results))
    print("  (ms; err = observed - delay - baseline p50; server = journal duration_ms - delay_ms)")
    print()
    print(lateness_line(result))
    print("\n".join(verdict_lines(results)))
    info = machine() | {
        **run_context(args, plan.describe()),
        "error_definition": "observed_ms - delay_ms - baseline_p50_ms (client side); "
        "duration_ms - delay_ms (server side, from the journal)",
    }
    client, server = worst(results)
    write_json(
        args.json,
        NAME,
        info,
        results=[asdict(r) for r in results],
        errors=result.errors,
        unpaired=unpaired,
        verdicts={
            "p99_error_ms": client,
            "server_p99_excess_ms": server,
            "target_ms": TARGET_P99_MS,
        },
    )
    print(f"\nresults written to {args.json}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = CpuPlan.detect()
    print(
        f"cpus: {plan.describe()}; paced built-in generator, {args.rate:g} req/s over "
        f"{args.connections} connections, {args.duration:g} s after {args.warmup:g} s warm-up"
    )
    print("classes: " + ", ".join(c.label for c in CLASSES) + " (taking turns)")
    launch = mock_launch("--journal-size", "200000", "--access-ttl", "3600")
    try:
        with started({"mock": launch}, args.json.parent / "logs", plan.server) as running:
            base = base_url(running["mock"])
            authorization, product_id = log_in(base)
            spec = paced_spec(running["mock"].port, authorization, product_id, args)
            with ControlClient(base, timeout=60.0) as control:
                install_rules(control, product_path("*"))
                check_classes(spec)
                result, entries = measure(spec, control, plan.load)
    except (RuntimeError, httpx.HTTPError, ValueError) as e:
        print(f"{NAME}: {e}", file=sys.stderr)
        return 1
    paired, unpaired = pair(result.samples, entries)
    report(args, plan, result, paired, unpaired)
    problems = []
    if result.errors:
        problems.append(f"{result.errors} requests failed")
    if unpaired or mismatched(paired):
        problems.append(
            f"{unpaired} requests unpaired ({len(entries)} journal entries for "
            f"{len(result.samples)} requests), {mismatched(paired)} with the wrong rule"
        )
    if problems:
        print(f"{NAME}: {'; '.join(problems)}: the numbers are not trustworthy", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
