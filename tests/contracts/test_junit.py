"""The shared JUnit writer (contracts/junit.py): the `<testsuites>` root with totals,
one timestamped `<testsuite>`, case times, and failure, error and skipped apart."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

from contracts.junit import Case, Result, write_junit

CASES = [
    Case("passes", "demo", seconds=0.5, output="3 generated cases"),
    Case("fails", "demo", Result.FAILURE, 1.25, "found a fault", "the evidence", kind="contract"),
    Case("errs", "demo", Result.ERROR, 0.25, "could not be judged", "a traceback"),
    Case("skips", "demo", Result.SKIPPED, message="does not apply"),
]


def test_the_shape_ci_tabs_read(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "report.xml"
    started = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    write_junit(path, "demo", CASES, started_at=started)
    root = ElementTree.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root
    assert suite.tag == "testsuite"
    assert suite.get("timestamp") == "2026-12-01T09:00:00+00:00"
    for element in (root, suite):
        totals = [element.get(k) for k in ("tests", "failures", "errors", "skipped", "time")]
        assert totals == ["4", "1", "1", "1", "2.000"]
    passes, fails, errs, skips = suite.findall("testcase")
    assert [c.get("time") for c in (passes, fails, errs, skips)] == [
        "0.500",
        "1.250",
        "0.250",
        None,
    ]
    assert [child.tag for child in passes] == ["system-out"]
    failure = fails.find("failure")
    assert failure is not None
    assert (failure.get("message"), failure.get("type"), failure.text) == (
        "found a fault",
        "contract",
        "the evidence",
    )
    error = errs.find("error")
    assert error is not None
    assert (error.get("message"), error.text) == ("could not be judged", "a traceback")
    skipped = skips.find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "does not apply"
    assert skipped.get("type") is None


def test_a_measured_wall_time_wins_over_the_sum(tmp_path: Path) -> None:
    path = tmp_path / "report.xml"
    write_junit(path, "demo", CASES[:1], seconds=7.0)
    root = ElementTree.parse(path).getroot()
    assert root.get("time") == "7.000"
    assert root.get("failures") == "0"
