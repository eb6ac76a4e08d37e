"""The lending library (examples/library) served by the spec engine from its document
and configuration: the contract suite that checks real servers passes on it, its
lifecycle and security checks included (a closed account's token is refused)."""

from __future__ import annotations

from pathlib import Path

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
