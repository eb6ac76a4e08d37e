"""The contract suite on a second API that nobody shaped for it: the lending library
(examples/library: OpenAPI 3.0, /api base path, `Token` JWTs from a wrapped login,
slugs, cursor pages, its own error format), driven by its harness.yaml alone.

The correct server passes; each single-defect mutant is reported by the check
that catches it, including the three plain schemathesis cannot see (a key that
does not make a retry safe, cursor pages that repeat, a count of the page only).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contracts.config import load_config
from contracts.suite import SuiteOptions, SuiteReport, run_suite
from examples.library.testing import running_library_server

CONFIG = Path(__file__).parents[2] / "examples" / "library" / "harness.yaml"
CI = bool(os.environ.get("CI"))


def _run(defects: set[str]) -> SuiteReport:
    with running_library_server(defects=defects) as base_url:
        config = load_config(CONFIG, env={})
        options = SuiteOptions(
            base_url=base_url, config=config, max_examples=5, seed=3, deterministic=CI
        )
        return run_suite(options)


@pytest.fixture(scope="module")
def correct() -> SuiteReport:
    return _run(set())


def test_the_correct_server_passes_with_its_configuration_only(correct: SuiteReport) -> None:
    assert correct.passed, [(f.operation, f.check, f.message[:200]) for f in correct.findings]
    assert correct.base_url.endswith("/api")  # the document's base path, kept
    tested = [t for t in correct.operations.values() if t.cases and not t.only_denied]
    assert len(tested) == len(correct.operations), [t.label for t in correct.untested]
    walked = {s.what for s in correct.lifecycle if s.passed and not s.skipped}
    assert {"sign in", "books: create one", "books: read it again: 404"} <= walked
    assert "loans: replay the create with its Idempotency-Key" in walked  # a book was lent
    assert set(correct.skipped_checks) == {"problem_details", "pagination_headers"}
    assert correct.session is not None
    assert correct.session.logins >= 1


# mutant -> (where, the check that reports it)
CAUGHT = {
    "create-200": ("POST /books", "status_code_conformance"),
    "no-location": ("POST /books", "location_readable"),
    "no-retry-after": ("POST /users/login", "retry_after"),
    "ignore-idempotency-key": (
        "CreateLoan",
        "lifecycle: loans: replay the create with its Idempotency-Key",
    ),
    "cursor-repeats": (
        "ListBooks",
        "lifecycle: books: small pages neither repeat items nor miscount",
    ),
    "count-per-page": (
        "ListBooks",
        "lifecycle: books: small pages neither repeat items nor miscount",
    ),
}


@pytest.mark.parametrize("defect", sorted(CAUGHT))
def test_each_defect_is_reported_by_its_check(defect: str) -> None:
    report = _run({defect})
    found = {(f.operation, f.check) for f in report.findings}
    assert CAUGHT[defect] in found, sorted(found)
