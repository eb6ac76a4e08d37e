"""Scenario files: built-ins load, bad files say the line and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from mocks.scenarios import (
    ScenarioError,
    builtin_names,
    load_builtin,
    load_scenario,
    parse_scenario,
    scenario_from_data,
)
from mocks.settings import MockSettings

REQUIRED_BUILTINS = {"flaky", "rate-limited", "slow", "timeouts", "token-churn", "chaos"}


def test_every_required_builtin_exists_and_loads() -> None:
    assert set(builtin_names()) >= REQUIRED_BUILTINS
    for name in builtin_names():
        scenario = load_builtin(name)
        assert scenario.name == name
        assert scenario.description
        assert scenario.faults or scenario.config


def test_token_churn_shortens_access_tokens() -> None:
    assert load_builtin("token-churn").settings(MockSettings()).access_ttl_s == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name: x\nfaults:\n  - match: {path: /v1}\n    action: {type: status, status: 999}\n",
            "line 4: faults.0.action.status.status: Input should be less than or equal to 599",
        ),
        ("name: x\nconfig: {access_ttl_s: -1}\n", "line 2: config.access_ttl_s"),
        ("name: x\nconfig: {nonsense: 1}\n", "line 2: config.nonsense: Extra inputs"),
        ("name: x\nfaults: [\n", "line 3: invalid YAML"),
        ("name: x\nfaults:\n  - action: {type: nope}\n", "line 3: faults.0.action"),
        ("description: no name\n", "line 1: name: Field required"),
    ],
)
def test_bad_files_name_the_line_and_reason(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError, match="^f.yaml: " + expected.replace(".", r"\.")[:60]):
        parse_scenario(text, source="f.yaml")


def test_unknown_names_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no built-in scenario 'nope'; built-ins: chaos"):
        load_scenario("nope")
    with pytest.raises(ScenarioError, match="No such file"):
        load_scenario(str(tmp_path / "missing.yaml"))


def test_a_user_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nfaults:\n  - action: {type: reset}\n", encoding="utf-8")
    assert load_scenario(str(path)).faults[0].action.type == "reset"


def test_inline_data_is_validated_too() -> None:
    with pytest.raises(ScenarioError, match=r"inline scenario: faults\.0\.select\.every"):
        scenario_from_data({"name": "x", "faults": [{"select": {"every": 0}}]})
