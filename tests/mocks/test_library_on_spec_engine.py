"""The lending library (examples/library) served by the spec engine from its document
and configuration: the contract suite that checks real servers passes on it, its
lifecycle and security checks included (a closed account's token is refused)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.config import load_config
from contracts.suite import SuiteOptions, run_suite
from mocks.server import MockServer

LIBRARY = Path(__file__).parents[2] / "examples" / "library"


def test_the_contract_suite_passes_on_the_library_served_from_its_document() -> None:
    config = load_config(LIBRARY / "harness.yaml", env={})
    with MockServer(spec=config.spec_location, config=config) as mock:
        options = SuiteOptions(
            base_url=mock.base_url, config=config, max_examples=5, seed=3, deterministic=True
        )
        report = run_suite(options)
    assert report.passed, [(f.operation, f.check, f.message[:200]) for f in report.findings]
    judged = {s.what for s in report.security if s.passed and not s.skipped}
    assert "stale token: after the account is deleted" in judged  # judged, and passed


@pytest.mark.parametrize(
    ("flaw", "operation", "check"),
    [
        ("wrong_type", "GET /api/books/{slug}", "response_schema_conformance"),
        ("bad_location", "POST /books", "location_readable"),
    ],
)
def test_the_broken_profile_breaks_the_library_too_and_the_suite_says_where(
    flaw: str, operation: str, check: str
) -> None:
    """`harness_breakage` finds its operations by role: on the library, the read's
    first number becomes a string, the create's Location points nowhere; each is
    caught by its own check, or by the books chain that reads the book back."""
    from mocks.settings import MockSettings

    config = load_config(LIBRARY / "harness.yaml", env={})
    settings = MockSettings(breakage=flaw)
    with MockServer(spec=config.spec_location, config=config, settings=settings) as mock:
        options = SuiteOptions(
            base_url=mock.base_url, config=config, max_examples=5, seed=3, deterministic=True
        )
        report = run_suite(options)
    found = {(f.operation, f.check) for f in report.findings}
    chain = [s for s in report.lifecycle if s.what.startswith("books") and not s.passed]
    assert (operation, check) in found or (flaw == "wrong_type" and chain), sorted(found)
    assert not report.passed


def test_anonymous_access_on_the_library_is_caught_by_the_security_checks() -> None:
    from mocks.settings import MockSettings

    config = load_config(LIBRARY / "harness.yaml", env={})
    settings = MockSettings(breakage="anonymous_access")
    with MockServer(spec=config.spec_location, config=config, settings=settings) as mock:
        # Only the security checks: fuzzing without a token would act as the reader and
        # could close the reader's own account (DeleteCurrentUser) before they run.
        options = SuiteOptions(
            base_url=mock.base_url,
            config=config,
            max_examples=3,
            seed=3,
            deterministic=True,
            phases=(),
            lifecycle=False,
        )
        report = run_suite(options)
    refused = [s for s in report.security if not s.passed and not s.skipped]
    assert any("without credentials" in s.what for s in refused), report.security
