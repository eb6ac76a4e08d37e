"""Tables, machine facts and JSON reports for every benchmark, and the
mock_throughput verdicts.

Shared: `format_table` (left-aligned label columns, right-aligned numbers),
`machine()` (what the numbers were measured on), `report_path()` and
`write_json()` (`reports/bench/<name>.json`).

mock_throughput: its verdicts compare three targets by key: the mock on the
lean master against the bare addon on the lean master (the goal: >= 70%), and
against the mock on mitmdump's default chain (the lean master should beat it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mitmproxy.version

from bench.loadgen import LoadResult, wrk_path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SHARE = 0.70
BARE = "bare-lean"
MOCK = "mock-lean"
MOCK_DUMP = "mock-dump"
MOCK_O = "mock-lean-O"
BARE_O = "bare-lean-O"


@dataclass(frozen=True)
class Row:
    target: str
    label: str
    generator: str
    result: LoadResult
    rounds: list[float]


def share_of_bare(rows: list[Row], row: Row) -> float | None:
    bare = next((r for r in rows if r.target == BARE and r.generator == row.generator), None)
    return row.result.rate / bare.result.rate if bare and bare.result.rate else None


def format_table(header: list[str], rows: list[list[str]], labels: int = 2) -> str:
    """Plain-text columns: the first `labels` left-aligned, the rest right-aligned."""
    lines = [header, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for i, line in enumerate(lines):
        cells = [
            c.ljust(w) if j < labels else c.rjust(w)
            for j, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def rate_cells(result: LoadResult) -> list[str]:
    """requests/s, p50 ms, p99 ms, errors."""
    return [
        f"{result.rate:,.0f}",
        f"{result.p50_ms:.2f}",
        f"{result.p99_ms:.2f}",
        str(result.errors),
    ]


RATE_HEADER = ["requests/s", "p50 ms", "p99 ms", "errors"]


def table(rows: list[Row]) -> str:
    header = ["target", "generator", *RATE_HEADER, "% of bare (lean)"]
    lines = []
    for row in rows:
        share = share_of_bare(rows, row)
        shown = f"{share * 100:.0f}%" if share is not None else "-"
        lines.append([row.label, row.generator, *rate_cells(row.result), shown])
    return format_table(header, lines)


def verdicts(rows: list[Row]) -> dict[str, dict[str, float]]:
    """Per generator: mock/bare share and the lean-over-mitmdump speed-up."""
    rate = {(r.target, r.generator): r.result.rate for r in rows}
    found: dict[str, dict[str, float]] = {}
    for generator in dict.fromkeys(r.generator for r in rows):
        v = found.setdefault(generator, {})
        if rate.get((BARE, generator)) and (MOCK, generator) in rate:
            v["mock_over_bare"] = rate[MOCK, generator] / rate[BARE, generator]
        if rate.get((BARE_O, generator)) and (MOCK_O, generator) in rate:
            v["mock_o_over_bare_o"] = rate[MOCK_O, generator] / rate[BARE_O, generator]
        if rate.get((MOCK_DUMP, generator)) and (MOCK, generator) in rate:
            v["lean_over_mitmdump"] = rate[MOCK, generator] / rate[MOCK_DUMP, generator]
    return found


def verdict_lines(found: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    for generator, v in found.items():
        suffix = f"  [{generator}]" if len(found) > 1 else ""
        if "mock_over_bare" in v:
            share = v["mock_over_bare"]
            met = "met" if share >= TARGET_SHARE else "NOT met"
            lines.append(
                f"mock/bare = {share * 100:.0f}% (target >= {TARGET_SHARE:.0%}): {met}{suffix}"
            )
        if "mock_o_over_bare_o" in v:
            share = v["mock_o_over_bare_o"]
            met = "met" if share >= 1.0 else "NOT met"
            lines.append(
                f"mock -O / bare -O = {share * 100:.0f}% (target >= 100%, the same flags): "
                f"{met}{suffix}"
            )
        if "lean_over_mitmdump" in v:
            lines.append(f"lean vs mitmdump chain: {v['lean_over_mitmdump']:.2f} x{suffix}")
    return lines


def machine() -> dict[str, Any]:
    wrk = wrk_path()
    wrk_version = None
    if wrk:
        shown = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
        wrk_version = (shown.stdout or shown.stderr).strip().splitlines()[0].split(" Copyright")[0]
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "mitmproxy": mitmproxy.version.VERSION,
        "cpus": os.cpu_count(),
        "wrk": wrk_version,
        "loadavg_at_start": os.getloadavg(),
    }


def run_context(args: argparse.Namespace, cpu_plan: str) -> dict[str, Any]:
    """What every benchmark records about how it ran: load at the end, options, CPUs."""
    return {
        "loadavg_at_end": os.getloadavg(),
        "config": {k: str(v) for k, v in vars(args).items()},
        "cpu_plan": cpu_plan,
    }


def report_path(name: str) -> Path:
    """Where benchmark `name` writes its JSON results by default."""
    return ROOT / "reports" / "bench" / f"{name}.json"


def write_json(path: Path, name: str, info: dict[str, Any], **sections: Any) -> None:
    """`{"benchmark": name, **info, **sections}` as indented JSON at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": name, **info, **sections}
    path.write_text(json.dumps(report, indent=2) + "\n")


def write_report(
    path: Path, rows: list[Row], found: dict[str, dict[str, float]], info: dict[str, Any]
) -> None:
    results = [
        {
            "target": r.target,
            "label": r.label,
            "rounds_rate": r.rounds,
            "rate": r.result.rate,
            **asdict(r.result),
            "share_of_bare": share_of_bare(rows, r),
        }
        for r in rows
    ]
    write_json(path, "mock_throughput", info, results=results, verdicts=found)
