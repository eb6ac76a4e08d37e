"""`harness load --spec --config` with no locust file: users from the configuration's roles.

Over the real mock of the lending library (examples/library), the careful
role users (loadtests/roles_locustfile.py) and the DEFECTIVE ones that resend
every failed call (loadtests/defective_roles_locustfile.py) run the
duplicate-probe profile (every 2nd create applied, then answered 502): the
careful client holds duplicate_creations, the defective one breaches it.
The careful users also run token-churn (5 s tokens: they renew by logging in
again, ahead of expiry, and no call fails) and fault-mix. Each run is short
(3 users, a few seconds) and bounded; at most two run at once.

Counts, not timing, decide these verdicts; the token-churn run needs each
user to live past one token lifetime (5 s) in an 9 s run, which a busy
machine delays but does not prevent (users are spawned within the first
second; locust's run time starts after the document is compiled).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "examples" / "library"
DEFECTIVE = ROOT / "loadtests" / "defective_roles_locustfile.py"
LIMIT_S = 300


def _command(report: Path, profile: str, duration: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "harness.load_cli",
        "--spec",
        str(LIBRARY / "openapi.yaml"),
        "--config",
        str(LIBRARY / "harness.yaml"),
        "--profile",
        profile,
        "--users",
        "3",
        "--spawn-rate",
        "3",
        "--duration",
        duration,
        "--report-dir",
        str(report),
        *extra,
    ]


RUNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "careful-probe": ("duplicate-probe", "5s", ()),
    "defective-probe": ("duplicate-probe", "5s", ("--locustfile", str(DEFECTIVE))),
    "careful-churn": ("token-churn", "9s", ()),
    "careful-mix": ("fault-mix", "6s", ()),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("load-roles")
    reports = {name: base / name for name in RUNS}
    names = list(RUNS)
    for wave in (names[:2], names[2:]):  # each run compiles the document: CPU-heavy
        processes = {}
        for name in wave:
            profile, duration, extra = RUNS[name]
            processes[name] = subprocess.Popen(
                _command(reports[name], profile, duration, *extra),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
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


def _summary(report: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((report / "summary.json").read_text())
    return summary


def _verdicts(report: Path) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in _summary(report)["verdicts"]}


def test_the_role_users_run_without_a_locust_file_and_call_every_crud_role(
    runs: dict[str, Path],
) -> None:
    summary = _summary(runs["careful-probe"])
    assert summary["judged_from"] == "journal"
    assert summary["locustfile"].endswith("roles_locustfile.py")
    assert {"CreateUser", "ListBooks", "CreateBook"} <= set(summary["operations"])
    statuses = summary["operations"]["CreateBook"]["statuses"]
    assert statuses.get("502", 0) >= 1  # the probe fired
    assert statuses.get("201", 0) >= 1


def test_the_careful_role_client_holds_duplicate_creations(runs: dict[str, Path]) -> None:
    verdict = _verdicts(runs["careful-probe"])["duplicate_creations"]
    assert verdict["passed"], verdict["detail"]
    assert verdict["facts"]["logical_creates"] >= 4  # two per user up front, 502s included


def test_the_defective_role_client_breaches_duplicate_creations(runs: dict[str, Path]) -> None:
    verdict = _verdicts(runs["defective-probe"])["duplicate_creations"]
    assert not verdict["passed"], verdict["detail"]
    assert verdict["facts"]["duplicates"] >= 1
    assert "duplicate_creations" in _summary(runs["defective-probe"])["breaches"]


def test_token_churn_renews_by_logging_in_again_and_no_call_fails(
    runs: dict[str, Path],
) -> None:
    summary = _summary(runs["careful-churn"])
    operations = summary["operations"]
    assert operations["CreateUser"]["calls"] == 3  # one account per user
    assert operations.get("Login", {}).get("calls", 0) >= 1, operations  # renewed
    verdicts = _verdicts(runs["careful-churn"])
    for name in ("error_rate", "retry_amplification", "duplicate_creations"):
        assert verdicts[name]["passed"], verdicts[name]["detail"]


def test_fault_mix_runs_by_role_and_the_careful_client_creates_nothing_twice(
    runs: dict[str, Path],
) -> None:
    verdicts = _verdicts(runs["careful-mix"])
    assert verdicts["duplicate_creations"]["passed"], verdicts["duplicate_creations"]["detail"]
    assert verdicts["retry_amplification"]["passed"], verdicts["retry_amplification"]["detail"]
    assert verdicts["retry_amplification"]["limit"] == 1.25  # the profile's threshold


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["--spec", str(LIBRARY / "openapi.yaml")], "give --config harness.yaml"),
        (["--config", "NO_ROLES"], "would have nothing to call"),
    ],
)
def test_role_users_without_roles_are_refused_before_any_user_starts(
    tmp_path: Path, arguments: list[str], reason: str
) -> None:
    if "NO_ROLES" in arguments:
        config = tmp_path / "harness.yaml"
        roles = "roles: {current_user: GetCurrentUser}"
        config.write_text(f"spec: {LIBRARY / 'openapi.yaml'}\n{roles}\n")
        arguments = ["--config", str(config)]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.load_cli",
            *arguments,
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
    assert reason in done.stdout
    assert not (tmp_path / "report" / "mock.log").exists()  # nothing was started
