"""The reference client through adapter protocol v2 (harness/conformance/reference_adapter_v2.py),
judged as any API's client is: the demo's document and configuration copied elsewhere
(so they are not recognised as the demo), served by the spec engine, the rules bound to
its roles and called by operationId. The correct client fails no rule (R13 and R19 are
the demo mock's signing, not applicable); a defective variant fails the rule it breaks,
on this path too: refresh-every-401 fails R4, lossy-prices (prices read as cents) R17."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[3]
ADAPTER = shlex.join([sys.executable, "-m", "harness.conformance.reference_adapter_v2"])
IDENTITY = "  identities:\n    - {email: demo@example.com, password: demo-password}\n"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo-as-any-api")
    shutil.copy(ROOT / "contracts" / "openapi.yaml", folder / "openapi.yaml")
    text = (ROOT / "contracts" / "harness.yaml").read_text(encoding="utf-8")
    anchor = "  logout: {}\n"
    assert anchor in text
    (folder / "harness.yaml").write_text(text.replace(anchor, anchor + IDENTITY))
    return folder / "harness.yaml"


def verify(config: Path, report: Path, *rules: str) -> tuple[int, dict[str, dict[str, Any]]]:
    only = [part for rule in rules for part in ("--scenario", rule)]
    argv = ["verify", "--config", str(config), "--adapter", ADAPTER, "--json", str(report)]
    code = main([*argv, *only])
    verdicts = json.loads(report.read_text(encoding="utf-8"))["rules"]
    return code, {v["rule"]: v for v in verdicts}


def test_the_reference_client_through_v2_fails_no_rule(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, verdicts = verify(config, tmp_path / "v.json")
    out = capsys.readouterr().out
    assert "adapter protocol v2" in out
    failed = {r: v["summary"] for r, v in verdicts.items() if v["outcome"] != "pass"}
    assert {r for r, v in verdicts.items() if v["outcome"] == "fail"} == set(), failed
    assert verdicts["R13"]["outcome"] == verdicts["R19"]["outcome"] == "not-applicable"
    for rule in ("R1", "R2", "R3", "R4", "R5", "R6", "R17"):  # refresh, keys, round trip
        assert verdicts[rule]["outcome"] == "pass", verdicts[rule]["summary"]
    assert code == 0
    assert "not compared: category_id, variants" in " ".join(verdicts["R17"]["evidence"])


@pytest.mark.parametrize(
    ("defect", "rule", "reason"),
    [
        ("refresh-every-401", "R4", "refreshes and"),
        ("lossy-prices", "R17", "answer.price was 3.14159265358979, reported 3.14"),
    ],
)
def test_a_defective_reference_client_through_v2_fails_the_rule_it_breaks(
    config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    defect: str,
    rule: str,
    reason: str,
) -> None:
    monkeypatch.setenv("HARNESS_REFERENCE_DEFECT", defect)
    code, verdicts = verify(config, tmp_path / "v.json", rule, "R15")
    assert code == 1
    assert verdicts[rule]["outcome"] == "fail"
    assert reason in verdicts[rule]["summary"]
    assert verdicts["R15"]["outcome"] == "pass"  # the rest holds
