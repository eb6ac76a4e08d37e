"""`harness verify`: the reference client passes; a defective adapter fails, named."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from harness.cli import main


def test_the_reference_client_passes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junit = tmp_path / "conformance.xml"
    assert main(["verify", "--scenario", "R6", "--scenario", "R15", "--junit", str(junit)]) == 0
    out = capsys.readouterr().out
    assert "PASS  R6" in out
    assert "2 passed, 0 failed" in out
    suite = ElementTree.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "0")


def test_a_defective_adapter_fails_with_evidence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    adapter = shlex.join(
        [
            "env",
            "HARNESS_REFERENCE_DEFECT=retry-post-without-key",
            sys.executable,
            "-m",
            "harness.conformance.reference_adapter",
        ]
    )
    junit = tmp_path / "conformance.xml"
    assert main(["verify", "--adapter", adapter, "--scenario", "R6", "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  R6" in out
    assert "retried without an Idempotency-Key: 2 products exist" in out
    assert "POST /v1/products -> 502" in out  # the evidence: journal lines
    failure = ElementTree.parse(junit).getroot().find("testcase/failure")
    assert failure is not None
    assert "RFC 9110" in (failure.text or "")


def test_unknown_scenarios_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--scenario", "R99"]) == 2
    assert "unknown scenario(s) R99" in capsys.readouterr().out
