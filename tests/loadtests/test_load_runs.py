"""Bounded end-to-end load runs: real locust users, the real client, a real mock.

Two runs at once, each in its own process tree (locust must own its process:
it monkey-patches with gevent): the reference client under fault-mix must
hold every invariant; the DEFECTIVE client (no idempotency keys, POSTs
retried anyway) under duplicate-probe must breach duplicate_creations.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMIT_S = 120


@dataclass
class Run:
    process: subprocess.Popen[str]
    report: Path
    output: str = ""

    def finish(self) -> int:
        if self.process.returncode is None:
            self.output, _ = self.process.communicate(timeout=LIMIT_S)
        return self.process.returncode

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report / "summary.json").read_text())
        return data


def _start(report: Path, *options: str) -> Run:
    command = [sys.executable, "-m", "harness.load_cli", "--report-dir", str(report), *options]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return Run(process, report)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    base = tmp_path_factory.mktemp("load")
    started = {
        # Progress every 2 s: locust's run-time timer counts from gevent's loop time,
        # which a slow start on a busy machine leaves seconds behind (runs end early).
        "reference": _start(
            base / "reference",
            *("--profile", "fault-mix", "--users", "5", "--duration", "8s", "--progress-s", "2"),
        ),
        "defective": _start(
            base / "defective",
            "--profile",
            "duplicate-probe",
            "--users",
            "4",
            "--spawn-rate",
            "4",
            "--duration",
            "6s",
            "--locustfile",
            str(ROOT / "loadtests" / "defective_locustfile.py"),
        ),
    }
    try:
        yield started
    finally:
        for run in started.values():
            if run.process.poll() is None:
                run.process.kill()
                run.process.communicate(timeout=30)


def test_reference_client_holds_every_invariant_under_fault_mix(runs: dict[str, Run]) -> None:
    run = runs["reference"]
    assert run.finish() == 0, run.output
    summary = run.summary()
    assert summary["passed"]
    assert summary["breaches"] == []
    names = {v["name"] for v in summary["verdicts"]}
    assert names == {
        "journal_complete",
        "refresh_storm",
        "duplicate_creations",
        "retry_amplification",
        "error_rate",
        "p95_latency",
    }
    assert summary["calls"] >= 20
    assert summary["journal_requests"] >= summary["calls"]
    assert {"register", "listProducts", "getProduct"} <= set(summary["operations"])
    for name in ("locust.html", "locust_stats.csv", "records.jsonl", "journal.jsonl"):
        assert (run.report / name).is_file(), name
    assert "progress:" in run.output
    assert "All invariants held." in run.output


def test_defective_client_breaches_duplicate_creations(runs: dict[str, Run]) -> None:
    run = runs["defective"]
    assert run.finish() == 1, run.output
    summary = run.summary()
    assert "duplicate_creations" in summary["breaches"]
    duplicates = next(v for v in summary["verdicts"] if v["name"] == "duplicate_creations")
    assert duplicates["observed"] >= 1
    assert "BREACHED: duplicate_creations" in run.output
