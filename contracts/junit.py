"""The one JUnit XML writer of every command (`harness contract`, `harness verify`);
here, in the package everything may import, so that the contract suite uses it too.

    <testsuites name="conformance" tests="20" failures="1" errors="1" skipped="1" time="41.2">
      <testsuite name="conformance" tests="20" ... timestamp="2026-12-01T09:00:00+01:00">
        <testcase classname="conformance" name="R10 ..." time="9.100">
          <failure message="..." type="...">the evidence</failure>
        </testcase>

The shape CI test tabs read (GitHub, GitLab, Jenkins): a `<testsuites>` root with the
totals, one `<testsuite>` with its timestamp, and each case's time. The outcomes keep
JUnit's meanings: a `failure` is a check that found a fault, an `error` is a case that
could not be judged at all, `skipped` is one that did not apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from xml.etree import ElementTree


class Result(StrEnum):
    PASSED = "passed"
    FAILURE = "failure"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Case:
    name: str
    classname: str
    result: Result = Result.PASSED
    seconds: float | None = None  # None: not measured (the attribute is left out)
    message: str = ""  # one line: the failure's, error's or skip's reason
    detail: str | None = None  # the element's text: evidence, reproduce commands
    kind: str | None = None  # the failure's or error's `type` attribute
    output: str | None = None  # <system-out>


def to_tree(
    suite: str,
    cases: Sequence[Case],
    *,
    seconds: float | None = None,
    started_at: datetime | None = None,
) -> ElementTree.ElementTree:
    """`seconds` is the suite's wall time; by default the sum of its cases'."""
    total = seconds if seconds is not None else sum(c.seconds or 0.0 for c in cases)
    totals = {
        "tests": str(len(cases)),
        "failures": str(sum(c.result is Result.FAILURE for c in cases)),
        "errors": str(sum(c.result is Result.ERROR for c in cases)),
        "skipped": str(sum(c.result is Result.SKIPPED for c in cases)),
        "time": f"{total:.3f}",
    }
    root = ElementTree.Element("testsuites", {"name": suite, **totals})
    when = (started_at or datetime.now().astimezone()).isoformat(timespec="seconds")
    testsuite = ElementTree.SubElement(
        root, "testsuite", {"name": suite, **totals, "timestamp": when}
    )
    for case in cases:
        attributes = {"classname": case.classname, "name": case.name}
        if case.seconds is not None:
            attributes["time"] = f"{case.seconds:.3f}"
        element = ElementTree.SubElement(testsuite, "testcase", attributes)
        if case.result is not Result.PASSED:
            outcome = {"message": case.message}
            if case.kind is not None and case.result is not Result.SKIPPED:
                outcome["type"] = case.kind
            ElementTree.SubElement(element, case.result.value, outcome).text = case.detail
        if case.output is not None:
            ElementTree.SubElement(element, "system-out").text = case.output
    tree = ElementTree.ElementTree(root)
    ElementTree.indent(tree)
    return tree


def write_junit(
    path: Path,
    suite: str,
    cases: Sequence[Case],
    *,
    seconds: float | None = None,
    started_at: datetime | None = None,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = to_tree(suite, cases, seconds=seconds, started_at=started_at)
    tree.write(path, encoding="utf-8", xml_declaration=True)
