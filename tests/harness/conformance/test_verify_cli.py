"""`harness verify`: the reference client passes; a defective adapter fails, named."""

from __future__ import annotations

import json
import re
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
    junit, page = tmp_path / "conformance.xml", tmp_path / "conformance.html"
    argv = ["--scenario", "R6", "--junit", str(junit), "--html", str(page)]
    assert main(["verify", "--adapter", adapter, *argv]) == 1
    out = capsys.readouterr().out
    assert "FAIL  R6" in out
    assert "retried without an Idempotency-Key: 2 products exist" in out
    assert "POST /v1/products -> 502" in out  # the evidence: journal lines
    failure = ElementTree.parse(junit).getroot().find("testcase/failure")
    assert failure is not None
    assert "RFC 9110" in (failure.text or "")
    text = page.read_text(encoding="utf-8")
    assert '<section class="rule fail" id="rule-R6">' in text
    assert "0 passed, 1 failed" in text
    assert "HARNESS_REFERENCE_DEFECT=retry-post-without-key" in text  # the client judged


def test_the_html_and_json_reports_show_the_retry_after_wait(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    html_path, json_path = tmp_path / "report" / "conformance.html", tmp_path / "c.json"
    assert (
        main(["verify", "--scenario", "R9", "--html", str(html_path), "--json", str(json_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert f"HTML report: {html_path}" in out
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["client"] == "the reference client"
    assert data["counts"] == {"pass": 1, "fail": 0, "not-applicable": 0}
    (rule,) = data["rules"]
    assert (rule["rule"], rule["outcome"]) == ("R9", "pass")
    assert rule["seconds"] > 1.9  # the time printed in the table: it includes the wait
    # The evidence is the last part's: a 503 whose Retry-After is an HTTP-date 1-2 s on.
    first, second = rule["timeline"]
    assert (first["status"], second["status"]) == (503, 200)
    wait = second["at_s"] - first["at_s"] - first["duration_s"]
    assert wait > 0.9
    page = html_path.read_text(encoding="utf-8")
    assert page.count('<rect class="bar') == 2
    gaps = re.findall(r'class="gap-label"[^>]*>\+(\d+\.\d\d) s<', page)
    assert len(gaps) == 1
    assert float(gaps[0]) == pytest.approx(wait, abs=0.011)
    assert "429 and 503 with Retry-After are honoured" in page


def test_unknown_scenarios_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--scenario", "R99"]) == 2
    assert "unknown scenario(s) R99" in capsys.readouterr().out
