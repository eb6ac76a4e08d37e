"""`harness load --locustfile` with a team's own locust file, judged from the journal.

The users are a third-party-style locust file (tests/loadtests/data/
library_locustfile.py: plain locust HttpUser, nothing from the harness)
against the mock of the lending library document (examples/library), under
the duplicate-probe profile expressed by role (every 2nd `create` applied,
then answered 502). The careful variant never resends a POST without a key
and must hold duplicate_creations; the naive one (RETRY_POSTS=1) resends
after the 502 and must breach it. The naive one is also run against the
library's real server (examples/library/server.py) through the fault proxy
(`--upstream`), where it must breach the same invariant. The runs are short
(3 users, 4 s) and run at once, each in its own process tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from examples.library.testing import running_library_server

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "tests" / "loadtests" / "data" / "library_locustfile.py"
LIBRARY = ROOT / "examples" / "library"
LIMIT_S = 300  # far beyond a run: the mock may take long to start on a busy machine


def _start(
    report: Path, *, retry_posts: bool, upstream: str | None = None
) -> subprocess.Popen[str]:
    target = ["--upstream", upstream] if upstream else []
    command = [
        sys.executable,
        "-m",
        "harness.load_cli",
        "--locustfile",
        str(LOCUSTFILE),
        *target,
        "--spec",
        str(LIBRARY / "openapi.yaml"),
        "--config",
        str(LIBRARY / "harness.yaml"),
        "--profile",
        "duplicate-probe",
        "--users",
        "3",
        "--spawn-rate",
        "3",
        "--duration",
        "4s",
        "--report-dir",
        str(report),
    ]
    env = {**os.environ, "RETRY_POSTS": "1" if retry_posts else "0"}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("load-any")
    reports = {name: base / name for name in ("careful", "naive", "naive-upstream")}
    with running_library_server() as url:
        origin = url.removesuffix("/api")
        # Two waves of at most two runs: each compiles the document, CPU-heavy.
        waves = (
            {
                "careful": lambda: _start(reports["careful"], retry_posts=False),
                "naive": lambda: _start(reports["naive"], retry_posts=True),
            },
            {
                "naive-upstream": lambda: _start(
                    reports["naive-upstream"], retry_posts=True, upstream=origin
                )
            },
        )
        for wave in waves:
            processes = {name: start() for name, start in wave.items()}
            try:
                for name, process in processes.items():
                    output, _ = process.communicate(timeout=LIMIT_S)
                    assert process.returncode in (0, 1), f"{name} run failed:\n{output}"
            finally:
                for process in processes.values():
                    if process.poll() is None:
                        process.kill()
                        process.communicate(timeout=30)
    return reports


def _verdicts(report: Path) -> dict[str, dict[str, Any]]:
    summary = json.loads((report / "summary.json").read_text())
    assert summary["judged_from"] == "journal"
    return {v["name"]: v for v in summary["verdicts"]}


def test_their_own_locust_file_runs_unchanged_and_is_judged_from_the_journal(
    runs: dict[str, Path],
) -> None:
    summary = json.loads((runs["careful"] / "summary.json").read_text())
    assert {"Login", "ListBooks", "CreateBook"} <= set(summary["operations"])
    assert summary["operations"]["CreateBook"]["statuses"].get("502", 0) >= 1  # the fault fired
    verdicts = _verdicts(runs["careful"])
    assert set(verdicts) == {
        "journal_complete",
        "status_mix",
        "error_rate",
        "p95_latency",
        "retry_amplification",
        "duplicate_creations",
        "refresh_storm",
    }
    assert verdicts["retry_amplification"]["limit"] == 1.5  # the profile's threshold
    assert "not applicable" in verdicts["refresh_storm"]["detail"]  # the library has no refresh


def test_a_client_that_never_resends_posts_holds_duplicate_creations(
    runs: dict[str, Path],
) -> None:
    verdict = _verdicts(runs["careful"])["duplicate_creations"]
    assert verdict["passed"], verdict["detail"]
    assert verdict["facts"]["logical_creates"] >= 2


def test_a_client_that_resends_posts_without_keys_breaches_duplicate_creations(
    runs: dict[str, Path],
) -> None:
    verdict = _verdicts(runs["naive"])["duplicate_creations"]
    assert not verdict["passed"], verdict["detail"]
    assert verdict["facts"]["duplicates"] >= 1
    summary = json.loads((runs["naive"] / "summary.json").read_text())
    assert "duplicate_creations" in summary["breaches"]


def test_their_real_server_behind_the_fault_proxy_is_judged_the_same_way(
    runs: dict[str, Path],
) -> None:
    summary = json.loads((runs["naive-upstream"] / "summary.json").read_text())
    assert summary["upstream"]
    assert summary["operations"]["CreateBook"]["statuses"].get("201", 0) >= 1  # the real server
    verdict = _verdicts(runs["naive-upstream"])["duplicate_creations"]
    assert not verdict["passed"], verdict["detail"]


def test_a_locust_file_that_does_not_load_is_named_before_any_user_starts(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken_locustfile.py"
    broken.write_text("import no_such_module_for_load\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.load_cli",
            "--locustfile",
            str(broken),
            "--spec",
            str(LIBRARY / "openapi.yaml"),
            "--duration",
            "2s",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=LIMIT_S,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "does not load: ModuleNotFoundError: No module named 'no_such_module_for_load'" in (
        done.stdout
    )
    assert not (tmp_path / "report" / "mock.log").exists()  # nothing was started
