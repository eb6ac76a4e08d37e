"""The verdicts as JUnit XML, for CI test tabs.

    <testsuites name="conformance" tests="20" failures="1" errors="1" skipped="1" time="41.2">
      <testsuite name="conformance" ... timestamp="2026-12-01T09:00:00+00:00">
        <testcase classname="conformance" name="R10 Capped exponential backoff with jitter"
                  time="9.1"><failure message="...">authority, evidence</failure></testcase>

The four outcomes map to JUnit's own: fail is a `failure`, could-not-be-judged
an `error` (the client could not be tested, a different thing from failing),
not-applicable is `skipped`, pass is a bare testcase.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

from harness.conformance.verdicts import Outcome, Verdict


def write_junit(
    verdicts: Sequence[Verdict],
    path: Path,
    *,
    suite: str = "conformance",
    seconds: Mapping[str, float] | None = None,
    started_at: datetime | None = None,
) -> None:
    seconds = seconds or {}
    counts = {o: sum(v.outcome is o for v in verdicts) for o in Outcome}
    totals = {
        "tests": str(len(verdicts)),
        "failures": str(counts[Outcome.FAIL]),
        "errors": str(counts[Outcome.UNJUDGED]),
        "skipped": str(counts[Outcome.NOT_APPLICABLE]),
        "time": f"{sum(seconds.get(v.rule.id, 0.0) for v in verdicts):.3f}",
    }
    root = ElementTree.Element("testsuites", {"name": suite, **totals})
    when = (started_at or datetime.now().astimezone()).isoformat(timespec="seconds")
    testsuite = ElementTree.SubElement(
        root, "testsuite", {"name": suite, "timestamp": when, **totals}
    )
    for verdict in verdicts:
        case = ElementTree.SubElement(
            testsuite,
            "testcase",
            classname=suite,
            name=f"{verdict.rule.id} {verdict.rule.title}",
            time=f"{seconds.get(verdict.rule.id, 0.0):.3f}",
        )
        detail = "\n".join((f"Authority: {verdict.rule.authority}", *verdict.evidence.lines))
        if verdict.outcome is Outcome.FAIL:
            ElementTree.SubElement(case, "failure", message=verdict.summary).text = detail
        elif verdict.outcome is Outcome.UNJUDGED:
            ElementTree.SubElement(case, "error", message=verdict.summary).text = detail
        elif verdict.outcome is Outcome.NOT_APPLICABLE:
            ElementTree.SubElement(case, "skipped", message=verdict.summary)
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
