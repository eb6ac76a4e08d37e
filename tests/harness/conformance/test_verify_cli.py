"""`harness verify`: the reference client passes; a defective adapter fails, named."""

from __future__ import annotations

import html
import json
import re
import shlex
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from harness.cli import main


def test_the_reference_client_passes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junit = tmp_path / "conformance.xml"
    assert main(["verify", "--scenario", "R6", "--scenario", "R15", "--junit", str(junit)]) == 0
    out = capsys.readouterr().out
    assert "PASS  R6" in out
    assert "2 passed, 0 failed, 0 not applicable, 0 could not be judged" in out
    root = ElementTree.parse(junit).getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    for element in (root, suite):
        assert [element.get(k) for k in ("tests", "failures", "errors", "skipped")] == [
            "2",
            "0",
            "0",
            "0",
        ]
        assert float(element.get("time") or 0) > 0
    assert all(float(case.get("time") or 0) > 0 for case in suite.iter("testcase"))


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
    failure = ElementTree.parse(junit).getroot().find("testsuite/testcase/failure")
    assert failure is not None
    assert "RFC 9110" in (failure.text or "")
    text = page.read_text(encoding="utf-8")
    assert '<section class="rule fail" id="rule-R6">' in text
    assert "0 passed, 1 failed" in text
    assert "HARNESS_REFERENCE_DEFECT=retry-post-without-key" in text  # the client judged
    # How to judge it again, quoted for a shell.
    assert (
        html.escape(shlex.join(["harness", "verify", "--scenario", "R6", "--adapter", adapter]))
        in text
    )


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
    assert data["counts"] == {"pass": 1, "fail": 0, "not-applicable": 0, "could-not-be-judged": 0}
    (rule,) = data["rules"]
    assert (rule["rule"], rule["outcome"]) == ("R9", "pass")
    assert rule["seconds"] > 2.9  # the time printed in the table: it includes both waits
    # Two parts, each with its evidence: a 429 asking for 2 s, a 503 for an HTTP-date.
    seconds, date = rule["parts"]
    assert seconds["title"] == "429 with Retry-After: 2"
    assert date["title"].startswith("503 with Retry-After: ")
    waits = []
    for part, status in ((seconds, 429), (date, 503)):
        first, second = part["timeline"]
        assert (first["status"], second["status"]) == (status, 200)
        waits.append(second["at_s"] - first["at_s"] - first["duration_s"])
    assert waits[0] > 1.95
    assert waits[1] > 0.9
    page = html_path.read_text(encoding="utf-8")
    assert page.count('<rect class="bar') == 4
    gaps = re.findall(r'class="gap-label"[^>]*>\+(\d+\.\d\d) s<', page)
    assert [float(g) for g in gaps] == pytest.approx(waits, abs=0.011)
    assert "429 and 503 with Retry-After are honoured" in page


def test_unknown_scenarios_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--scenario", "R99"]) == 2
    assert "unknown scenario(s) R99" in capsys.readouterr().out


SILENT_ADAPTER = "import sys, time\nsys.stdin.readline()\ntime.sleep(600)\n"


def test_a_silent_adapter_could_not_be_judged_and_costs_seconds_not_minutes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = tmp_path / "silent.py"
    script.write_text(SILENT_ADAPTER, encoding="utf-8")
    junit = tmp_path / "conformance.xml"
    rules = ["R1", "R2", "R3", "R4", "R5", "R6"]
    argv = ["verify", "--adapter", shlex.join([sys.executable, str(script)]), "--junit", str(junit)]
    started = time.monotonic()
    assert main([*argv, *(a for r in rules for a in ("--scenario", r))]) == 1
    took = time.monotonic() - started
    out = capsys.readouterr().out
    assert "0 passed, 0 failed, 0 not applicable, 6 could not be judged" in out
    assert "the adapter has been silent for 3 s" in out
    assert "not run: the adapter never answered its first request in R1, R2, R3" in out
    assert took < 30  # three silent starts of ~3 s each, then no more
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("errors"), suite.get("failures")) == ("6", "0")
    assert all(case.find("error") is not None for case in suite.iter("testcase"))


def test_the_run_has_a_time_bound(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    started = time.monotonic()
    argv = ["verify", "--max-time", "3", "--scenario", "R9", "--scenario", "R1"]
    assert main(argv) == 1
    assert time.monotonic() - started < 15
    out = capsys.readouterr().out
    assert "ERR   R9" in out
    assert "cut short: the run's time bound was reached" in out
    assert "not run: the run's time bound (3 s, --max-time) was reached" in out


def test_a_bad_time_bound_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--max-time", "0"]) == 2
    assert "--max-time must be a positive number" in capsys.readouterr().out
