"""harness.smoke: the end-to-end smoke passes on a healthy mock and reports, without
stopping, the steps that fail on a mock configured to refuse them."""

from __future__ import annotations

from harness.control import ControlClient
from harness.smoke import run_smoke
from mocks.server import MockServer


def test_every_step_passes_on_the_mock(harness_mock: MockServer) -> None:
    results = run_smoke(harness_mock.base_url)
    failed = [(r.name, r.detail) for r in results if not r.passed]
    assert failed == []
    assert len(results) == 11
    assert results[0].name == "control API health"
    assert all(r.seconds >= 0 and r.detail for r in results)


def test_failing_steps_are_reported_not_raised(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    harness_control.configure(api_key="smoke-blocker")
    results = {r.name: r for r in run_smoke(harness_mock.base_url, reset=False)}
    assert results["control API health"].passed
    assert results["journal"].passed  # the refused requests are journaled too
    assert not results["login"].passed
    assert "expected 200, got 403" in results["login"].detail
    assert not results["register"].passed


def test_smoke_resets_the_mock_first(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    harness_control.configure(api_key="smoke-blocker")
    results = run_smoke(harness_mock.base_url)
    assert all(r.passed for r in results)
