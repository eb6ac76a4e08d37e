"""The verdicts as JUnit XML, for CI test tabs.

    <testsuites name="conformance" tests="20" failures="1" errors="1" skipped="1" time="41.2">
      <testsuite name="conformance" ... timestamp="2026-12-01T09:00:00+00:00">
        <testcase classname="conformance" name="R10 Capped exponential backoff with jitter"
                  time="9.1"><failure message="...">authority, evidence</failure></testcase>

The four outcomes map to JUnit's own: fail is a `failure`, could-not-be-judged
an `error` (the client could not be tested, a different thing from failing),
not-applicable is `skipped`, pass is a bare testcase. The XML is written by
`contracts/junit.py`, the writer every command shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from contracts.junit import Case, Result
from contracts.junit import write_junit as write_cases
from harness.conformance.verdicts import Outcome, Verdict

RESULTS = {
    Outcome.PASS: Result.PASSED,
    Outcome.FAIL: Result.FAILURE,
    Outcome.UNJUDGED: Result.ERROR,
    Outcome.NOT_APPLICABLE: Result.SKIPPED,
}


def write_junit(
    verdicts: Sequence[Verdict],
    path: Path,
    *,
    suite: str = "conformance",
    seconds: Mapping[str, float] | None = None,
    started_at: datetime | None = None,
) -> None:
    seconds = seconds or {}
    cases = []
    for verdict in verdicts:
        result = RESULTS[verdict.outcome]
        detail = "\n".join((f"Authority: {verdict.rule.authority}", *verdict.evidence.lines))
        cases.append(
            Case(
                name=f"{verdict.rule.id} {verdict.rule.title}",
                classname=suite,
                result=result,
                seconds=seconds.get(verdict.rule.id, 0.0),
                message=verdict.summary if result is not Result.PASSED else "",
                detail=detail if result in (Result.FAILURE, Result.ERROR) else None,
            )
        )
    write_cases(path, suite, cases, started_at=started_at)
