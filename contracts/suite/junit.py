"""A suite report as JUnit XML, the format CI systems read: one test case per
operation (failed with every finding on it), one per lifecycle step and per
security probe, one error case per run error."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from contracts.junit import Case, Result, to_tree
from contracts.junit import write_junit as write_cases
from contracts.suite.runner import SuiteReport

SUITE_NAME = "contract"


def cases(report: SuiteReport) -> list[Case]:
    found: list[Case] = []
    for tally in report.operations.values():
        checks = sorted({f.check for f in tally.findings})
        found.append(
            Case(
                name=f"{tally.label} ({tally.operation_id})",
                classname=f"{SUITE_NAME}.operations",
                result=Result.FAILURE if tally.findings else Result.PASSED,
                message=f"{tally.label}: {', '.join(checks)}" if tally.findings else "",
                detail="\n\n".join(
                    f"[{f.check}] {f.message}"
                    + (f"\n\nReproduce with:\n    {f.reproduce}" if f.reproduce else "")
                    for f in tally.findings
                )
                or None,
                kind="contract",
                output=f"{tally.cases} generated cases",
            )
        )
    for step in report.lifecycle:
        found.append(
            Case(
                name=f"{step.what} ({step.operation})",
                classname=f"{SUITE_NAME}.lifecycle",
                result=Result.PASSED if step.passed else Result.FAILURE,
                message="" if step.passed else step.detail[:200],
                detail=None if step.passed else step.detail,
                kind="lifecycle",
            )
        )
    for step in report.security:  # one test case per probe; skipped ones are marked so
        result = (
            Result.SKIPPED if step.skipped else Result.PASSED if step.passed else Result.FAILURE
        )
        text = step.detail + (f"\n\nReproduce with:\n{step.reproduce}" if step.reproduce else "")
        found.append(
            Case(
                name=f"{step.what} ({step.operation})",
                classname=f"{SUITE_NAME}.security",
                result=result,
                message="" if result is Result.PASSED else step.detail[:200],
                detail=text if result is Result.FAILURE else None,
                kind="security",
            )
        )
    for error in report.errors:
        found.append(
            Case(
                name=error.operation,
                classname=f"{SUITE_NAME}.errors",
                result=Result.ERROR,
                message=error.check,
                detail=error.message,
            )
        )
    return found


def to_junit(report: SuiteReport) -> ET.ElementTree:
    return to_tree(SUITE_NAME, cases(report), seconds=report.seconds)


def write_junit(report: SuiteReport, path: Path) -> None:
    write_cases(path, SUITE_NAME, cases(report), seconds=report.seconds)
