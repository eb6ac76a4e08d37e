"""Loading the pytest plugin costs a project that never uses its fixtures nothing:
`python -X importtime -m pytest` imports none of the heavy libraries and shows no
warning; the first test that asks for `harness_mock` imports the mock's stack, and
still reports no warning of our dependencies'."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HEAVY = ("mitmproxy", "schemathesis", "locust")
PLAIN_TEST = """
import sys


def test_plain():
    assert "harness.pytest_plugin" in sys.modules  # the plugin did load
    print("MODULES", " ".join(sorted(sys.modules)))
"""
MOCK_TEST = (
    "import httpx\n\n\ndef test_mock(harness_mock):\n"
    "    assert httpx.get(harness_mock.control_url + '/health').status_code == 200\n"
)


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Only pytest and our plugin: other installed plugins (schemathesis ships one)
    would import what they import, which is not what this test judges."""
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "pytest",
            "-p",
            "harness.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-s",  # pytest captures fd 2 otherwise, where -X importtime writes
            "-rA",
            *args,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


def _imported(importtime: str) -> set[str]:
    """The modules `-X importtime` reports (one `import time: ... | name` line each)."""
    return {m.group(1) for m in re.finditer(r"^import time:.*\|\s+(\S+)$", importtime, re.M)}


def _warned(report: str) -> bool:
    """pytest's summary says "N warnings" and lists them under "warnings summary"."""
    return "warnings summary" in report or re.search(r"\b\d+ warnings?\b", report) is not None


def test_a_run_without_its_fixtures_imports_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(PLAIN_TEST)
    run = _pytest(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    (loaded,) = [
        line.partition("MODULES ")[2] for line in run.stdout.splitlines() if "MODULES" in line
    ]
    imported = _imported(run.stderr) | set(loaded.split())
    assert {"pytest", "harness.pytest_plugin"} <= imported
    assert not {m for m in imported if m.split(".")[0] in HEAVY}
    assert not _warned(run.stdout), run.stdout


def test_a_run_with_its_fixtures_imports_the_mock_without_warnings(tmp_path: Path) -> None:
    (tmp_path / "test_mock.py").write_text(MOCK_TEST)
    run = _pytest(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "mitmproxy" in _imported(run.stderr)  # the check above can see an import
    assert not _warned(run.stdout), run.stdout
