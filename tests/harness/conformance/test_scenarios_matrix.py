"""Every scenario passes the reference client and fails the variant that breaks
its rule, and only that one: a verdict that cannot fail is a defect."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.conformance.adapter import REFERENCE_ADAPTER, Adapter
from harness.conformance.defects import DEFECTS
from harness.conformance.runner import scenario_env
from harness.conformance.scenarios import SCENARIOS, Context
from harness.conformance.verdicts import Outcome
from harness.control import ControlClient
from mocks.server import MockServer

BREAKS = {
    "parallel-refresh": {"R1", "R2"},
    "retry-post-without-key": {"R6", "R8"},  # its retried POSTs carry no key at all
    "ignore-retry-after": {"R9"},
    "keeps-old-refresh-token": {"R3"},
    "new-key-per-attempt": {"R6", "R8"},  # a retried POST with a new key duplicates
    "retries-4xx": {"R4", "R15"},  # a 401 is a 4xx too
    "retries-malformed": {"R18"},
    "clock-nonce": {"R19"},
    "refresh-every-401": {"R4"},
    "unbounded-retries": {"R11"},
    "logs-secrets": {"R16"},
}


def _verdict(
    mock: MockServer, control: ControlClient, rule: str, defect: str | None, tmp_path: Path
) -> tuple[Outcome, str]:
    scenario = SCENARIOS[rule]
    env = scenario_env(scenario, control, mock.base_url, tmp_path / "client.log")
    extra = {"HARNESS_REFERENCE_DEFECT": defect} if defect else {}
    old = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        with Adapter.start(REFERENCE_ADAPTER, env) as adapter:
            verdict = scenario.run(Context(control, adapter, env.log_file))
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return verdict.outcome, verdict.summary + "\n" + "\n".join(verdict.evidence.lines)


def test_every_defect_breaks_a_judged_rule() -> None:
    assert set(BREAKS) == set(DEFECTS)
    assert set().union(*BREAKS.values()) <= set(SCENARIOS)


@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_the_reference_client_passes(
    harness_mock: MockServer, harness_control: ControlClient, rule: str, tmp_path: Path
) -> None:
    outcome, why = _verdict(harness_mock, harness_control, rule, None, tmp_path)
    assert outcome is Outcome.PASS, why


@pytest.mark.parametrize("defect", sorted(DEFECTS))
@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_a_defect_fails_exactly_the_rule_it_breaks(
    harness_mock: MockServer,
    harness_control: ControlClient,
    rule: str,
    defect: str,
    tmp_path: Path,
) -> None:
    outcome, why = _verdict(harness_mock, harness_control, rule, defect, tmp_path)
    expected = Outcome.FAIL if rule in BREAKS[defect] else Outcome.PASS
    assert outcome is expected, why
