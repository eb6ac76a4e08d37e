"""Every scenario passes the reference client and fails the variant that breaks
its rule, and only that one: a verdict that cannot fail is a defect, and so is
one that fails a client for the wrong reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.conformance.adapter import REFERENCE_ADAPTER
from harness.conformance.defects import DEFECTS
from harness.conformance.runner import run_scenarios
from harness.conformance.scenarios import SCENARIOS
from harness.conformance.verdicts import Outcome, Verdict
from mocks.server import MockServer

# Hundreds of adapter runs: `make test` runs this module on its own, in parallel.
pytestmark = pytest.mark.matrix

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
    "unbounded-retries": {"R11", "R12", "R18"},  # no budget either; truncations storm
    "logs-secrets": {"R16"},
    "clears-session-on-503": {"R5"},
    "keeps-dead-session": {"R5"},
    "no-retry-on-refused": {"R7"},
    "no-jitter": {"R10"},
    "no-backoff": {"R10"},
    "no-retry-budget": {"R12"},
    "signs-once-per-call": {"R13"},
    "reports-first-error": {"R14"},
    "lossy-prices": {"R17"},
    "retries-after-cancel": {"R20"},
}

# Rules a defect breaks only when the timing falls so: judged neither way.
BREAKS_BY_CHANCE = {
    # Its nonce changes every 10 ms: a refresh within 10 ms of the 401 reuses it.
    "clock-nonce": {"R13"},
    # Its retries of a refused connection come within the ms before the port reopens.
    "no-backoff": {"R7"},
    # Its backoff is capped at the base delay: later retries wait no longer, or do.
    "unbounded-retries": {"R10"},
}


def _judge(
    mock: MockServer,
    rules: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    defect: str | None,
) -> list[Verdict]:
    if defect:
        monkeypatch.setenv("HARNESS_REFERENCE_DEFECT", defect)
    return run_scenarios(mock.base_url, REFERENCE_ADAPTER, rules, log_dir=tmp_path)


def _explain(verdicts: list[Verdict]) -> str:
    return "\n".join(
        f"{v.rule.id} {v.outcome}: {v.summary}\n  " + "\n  ".join(v.evidence.lines[:10])
        for v in verdicts
    )


def test_every_defect_breaks_a_judged_rule() -> None:
    assert set(BREAKS) == set(DEFECTS)
    assert set().union(*BREAKS.values()) <= set(SCENARIOS)


def test_every_rule_has_a_defect_that_breaks_it() -> None:
    assert set().union(*BREAKS.values()) == set(SCENARIOS)


@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_the_reference_client_passes(
    harness_mock: MockServer, rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verdicts = _judge(harness_mock, [rule], tmp_path, monkeypatch, None)
    assert [v.outcome for v in verdicts] == [Outcome.PASS], _explain(verdicts)


@pytest.mark.parametrize(
    ("defect", "rule"), sorted((d, r) for d, rules in BREAKS.items() for r in rules)
)
def test_a_defect_fails_the_rule_it_breaks(
    harness_mock: MockServer,
    defect: str,
    rule: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verdicts = _judge(harness_mock, [rule], tmp_path, monkeypatch, defect)
    assert [v.outcome for v in verdicts] == [Outcome.FAIL], _explain(verdicts)


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_a_defect_passes_every_other_rule(
    harness_mock: MockServer, defect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unsure = BREAKS_BY_CHANCE.get(defect, set())
    others = [rule for rule in SCENARIOS if rule not in BREAKS[defect] | unsure]
    verdicts = _judge(harness_mock, others, tmp_path, monkeypatch, defect)
    wrong = [v for v in verdicts if v.outcome is not Outcome.PASS]
    assert not wrong, _explain(wrong)
