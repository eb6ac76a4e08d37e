"""The CI examples in examples/ci/ lint clean and run real harness commands.

GitHub Actions: the workflow schema (SchemaStore's, shipped with check-jsonschema)
and zizmor's offline audits (pinned actions, no credential persistence, no
template injection). GitLab CI: GitLab's own .gitlab-ci.yml schema, shipped the
same way. Every `harness` command they run parses with the real parser, and the
JUnit files they publish are the ones those commands write.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import parse_args

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples" / "ci" / "github" / "api-contract.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab" / ".gitlab-ci.yml"
BIN = Path(sys.executable).parent


def _tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=120, check=False
    )


def _schema_check(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return _tool("check-jsonschema", "--builtin-schema", schema, str(path))


def _harness_commands(lines: list[str]) -> list[list[str]]:
    commands = []
    for line in lines:
        for command in line.split("\n"):
            words = shlex.split(command.strip(), comments=True)
            if words[:1] == ["harness"]:
                commands.append(words[1:])
    return commands


def _workflow_runs() -> list[str]:
    workflow: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]


def _gitlab_job() -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load(GITLAB.read_text())["api-contract"]
    return job


def test_the_workflow_matches_the_github_workflow_schema() -> None:
    done = _schema_check("vendor.github-workflows", WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_workflow_passes_zizmor() -> None:
    done = _tool("zizmor", "--offline", "--no-progress", str(WORKFLOW))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_gitlab_job_matches_gitlabs_schema() -> None:
    done = _schema_check("vendor.gitlab-ci", GITLAB)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_linters_reject_a_broken_example(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        WORKFLOW.read_text()
        .replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest")
        .replace("@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", "@v4")
    )
    assert _schema_check("vendor.github-workflows", broken).returncode != 0
    assert _tool("zizmor", "--offline", "--no-progress", str(broken)).returncode != 0
    gitlab = tmp_path / ".gitlab-ci.yml"
    gitlab.write_text(GITLAB.read_text().replace("when: always", "when: sometimes"))
    assert _schema_check("vendor.gitlab-ci", gitlab).returncode != 0


@pytest.mark.parametrize("source", ["github", "gitlab"])
def test_the_examples_run_harness_contract_and_verify_with_junit(source: str) -> None:
    if source == "github":
        lines = _workflow_runs()
    else:
        job = _gitlab_job()
        lines = [*job["before_script"], *job["script"]]
    commands = _harness_commands(lines)
    assert [c[0] for c in commands] == ["contract", "verify"]
    junit = []
    for argv in commands:
        args = parse_args(argv)  # the real parser: a wrong flag fails here
        junit.append(str(args.junit))
    assert junit == ["reports/contract.xml", "reports/conformance.xml"]
    if source == "gitlab":
        assert _gitlab_job()["artifacts"]["reports"]["junit"] == junit
