"""Ctrl-C (SIGINT) or SIGTERM during a real `harness verify` process: the reports
hold the rules judged so far, the exit code is 130 and one line says so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

FIRST_VERDICT_TIMEOUT_S = 120.0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_writes_what_was_judged(tmp_path: Path, sig: signal.Signals) -> None:
    junit, page = tmp_path / "conformance.xml", tmp_path / "conformance.html"
    # R6 is judged in a second or two; R10 (backoff) then runs for several seconds.
    rules = ["--scenario", "R6", "--scenario", "R10", "--scenario", "R15"]
    reports = ["--junit", str(junit), "--html", str(page)]
    out = tmp_path / "stdout.txt"
    with out.open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "verify", *rules, *reports],
            stdout=stdout,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # A test runner may start us with SIGINT ignored; a terminal's job has it default.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        deadline = time.monotonic() + FIRST_VERDICT_TIMEOUT_S
        while "R6" not in out.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, out.read_text()
            time.sleep(0.05)
        assert "PASS  R6" in out.read_text()
        process.send_signal(sig)  # while R10 runs
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    lines = stderr.decode().strip().splitlines()
    assert lines == [
        "harness verify: interrupted after 1 of 3 rules; the reports hold those judged"
    ]
    root = ElementTree.parse(junit).getroot()
    assert root.tag == "testsuites"
    assert [c.get("name", "").split()[0] for c in root.iter("testcase")] == ["R6"]
    assert root.get("failures") == "0"
    assert "R6" in page.read_text()
    assert "R10" not in out.read_text()
