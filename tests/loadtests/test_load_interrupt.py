"""Ctrl-C or SIGTERM during `harness load` writes the report of what ran and exits 130
with one line: a real run (mock, locust, the reference client) stopped mid-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Long enough that only the signal can end the run within the test's limits.
DURATION = "90s"


def _start(report: Path) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "harness",
        "load",
        "--users",
        "2",
        "--duration",
        DURATION,
        "--progress-s",
        "1",
        "--report-dir",
        str(report),
    ]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
        # A test runner may start us with SIGINT ignored; a terminal's job has it default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for(process: subprocess.Popen[str], marker: str) -> None:
    assert process.stdout is not None
    for line in process.stdout:  # ends by itself: the run is bounded in time
        if marker in line:
            return
    raise AssertionError(f"the run ended before {marker!r}")


@pytest.mark.parametrize(
    ("how", "journal_read"),
    [
        # SIGTERM to `harness load` alone (a CI timeout): the mock lives on, the
        # journal is read and judged.
        ("sigterm", True),
        # Ctrl-C in a terminal: SIGINT to the whole foreground group, the mock included.
        ("ctrl-c", False),
    ],
)
def test_an_interrupted_load_run_reports_what_ran_and_exits_130(
    tmp_path: Path, how: str, journal_read: bool
) -> None:
    report = tmp_path / "report"
    process = _start(report)
    try:
        _wait_for(process, "progress:    2 s")  # users are making calls
        if how == "sigterm":
            process.send_signal(signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
    assert process.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("harness load: interrupted after")
    assert str(report) in lines[0]
    for name in ("locust.html", "locust_stats.csv", "records.jsonl", "summary.txt"):
        assert (report / name).stat().st_size > 0, name
    summary = json.loads((report / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert summary["calls"] > 0
    assert summary["wall_s"] < 60
    assert {v["name"] for v in summary["verdicts"]} >= {"error_rate", "p95_latency"}
    if journal_read:
        assert summary["journal_requests"] >= summary["calls"]
    assert (report / "locust.html").read_text().rstrip().endswith("</html>")
