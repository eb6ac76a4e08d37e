"""A suite report as JUnit XML, the format CI systems read: one test case per
operation (failed with every finding on it), one per lifecycle step and per
security probe, one error case per run error."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from contracts.suite.runner import SuiteReport

SUITE_NAME = "contract"


def to_junit(report: SuiteReport) -> ET.ElementTree:
    suite = ET.Element("testsuite", name=SUITE_NAME, time=f"{report.seconds:.3f}")
    tests = failures = errors = 0
    for tally in report.operations.values():
        tests += 1
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{SUITE_NAME}.operations",
            name=f"{tally.label} ({tally.operation_id})",
        )
        ET.SubElement(case, "system-out").text = f"{tally.cases} generated cases"
        if tally.findings:
            failures += 1
            checks = sorted({f.check for f in tally.findings})
            failure = ET.SubElement(
                case, "failure", type="contract", message=f"{tally.label}: {', '.join(checks)}"
            )
            failure.text = "\n\n".join(
                f"[{f.check}] {f.message}"
                + (f"\n\nReproduce with:\n    {f.reproduce}" if f.reproduce else "")
                for f in tally.findings
            )
    for step in report.lifecycle:
        tests += 1
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{SUITE_NAME}.lifecycle",
            name=f"{step.what} ({step.operation})",
        )
        if not step.passed:
            failures += 1
            ET.SubElement(
                case, "failure", type="lifecycle", message=step.detail[:200]
            ).text = step.detail
    for step in report.security:  # one test case per probe; skipped ones are marked so
        tests += 1
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{SUITE_NAME}.security",
            name=f"{step.what} ({step.operation})",
        )
        if step.skipped:
            ET.SubElement(case, "skipped", message=step.detail[:200])
        elif not step.passed:
            failures += 1
            text = step.detail + (
                f"\n\nReproduce with:\n{step.reproduce}" if step.reproduce else ""
            )
            ET.SubElement(case, "failure", type="security", message=step.detail[:200]).text = text
    for error in report.errors:
        tests += 1
        errors += 1
        case = ET.SubElement(
            suite, "testcase", classname=f"{SUITE_NAME}.errors", name=error.operation
        )
        ET.SubElement(case, "error", message=error.check).text = error.message
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_junit(report: SuiteReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    to_junit(report).write(path, encoding="utf-8", xml_declaration=True)
