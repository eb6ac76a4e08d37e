"""Every scenario passes the reference client and fails the variant that breaks
its rule, for the reason that variant breaks it, and only that one: a verdict
that cannot fail is a defect, and so is one that fails a client for the wrong
reason, or is not applicable when the client simply does not do the thing."""

from __future__ import annotations

import re
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

# For each defect, the rules it breaks and what the verdict's summary must say
# (a regular expression): the defect, named.
BREAKS: dict[str, dict[str, str]] = {
    "parallel-refresh": {
        # Any count from 2 up (10-12 when the machine is busy).
        "R1": r"\b([2-9]|[1-9]\d+) refreshes for 12 concurrent 401s",
        "R2": r"\d+ refreshes; a 401 that arrived after the refresh",
    },
    # Its retried POSTs carry no key at all.
    "retry-post-without-key": {"R6": "without an Idempotency-Key", "R8": "carried no key"},
    "ignore-retry-after": {"R9": r"Retried 0\.\d+ s after a 429.*Retried 0\.\d+ s after a 503"},
    "keeps-old-refresh-token": {"R3": "did not present the refresh token the first one issued"},
    # A retried POST with a new key duplicates.
    "new-key-per-attempt": {
        "R6": "with a new key each time",
        "R8": "changed its key between attempts",
    },
    # A 401 is a 4xx too.
    "retries-4xx": {"R4": r"[3-9] attempts for a resource", "R15": r"400: [2-9] attempts"},
    "retries-malformed": {"R18": r"[2-9] attempts for a product answered 200 with broken JSON"},
    "clock-nonce": {"R19": "nonces were sent again"},
    "refresh-every-401": {"R4": r"[2-9] refreshes and"},
    # No attempt cap worth the name, no budget, a 120 s deadline, backoff capped at 50 ms.
    "unbounded-retries": {
        "R10": "No backoff|No exponential growth",
        "R11": "No overall deadline.*more than 10",
        "R12": "kept retrying",
        "R18": r"(\d+ attempts for|the call for) a product whose body is shorter",
    },
    "logs-secrets": {"R16": "log contains the .*access token"},
    "clears-session-on-503": {"R5": r"503\).*dropped its session"},
    "keeps-dead-session": {"R5": r"401\).*still holds the dead session's tokens"},
    "no-retry-on-refused": {"R7": "no retry reached the server"},
    "no-jitter": {"R10": r"No jitter at retries 1, 2 and 3:"},
    "no-backoff": {"R10": "No backoff: four in five of retry 3's waits were under"},
    "no-retry-budget": {"R12": "kept retrying"},
    "signs-once-per-call": {"R13": r"timestamp reused|signature state replayed"},
    "reports-first-error": {"R14": "expected serverError"},
    "lossy-prices": {"R17": r"did not survive the round trip: .*price"},
    "retries-after-cancel": {"R20": r"more attempt\(s\) after the cancel"},
    "jitter-first-retry-only": {
        "R10": r"No jitter at retries 2 and 3 \(the other retries are jittered\)"
    },
    "small-jitter": {"R10": "Too little jitter at retries 1, 2 and 3"},
    "constant-backoff": {"R10": "No exponential growth: retry 3 may wait up to 1000 ms"},
    "no-cap": {"R10": r"No cap: with its cap set to 400 ms"},
    "budget-never-refills": {
        "R10": "retry budget (never refills|does not refill)",
        "R12": "Retries never came back",
    },
    # Both R5 problems, each named.
    "swapped-refresh-failures": {
        "R5": r"401\): the client still holds the dead session's tokens.*"
        r"503\): .*dropped its session"
    },
    "retry-after-seconds-only": {"R9": r"Retried 0\.\d+ s after a 503 with Retry-After: \w+, "},
    "retries-422": {"R15": r"422: [2-9] attempts"},
    "no-overall-deadline": {"R11": "No overall deadline: given 1 s for the call"},
    "nonce-repeats": {"R19": "the first repeat came at request 301 "},
}

# A client that never retries 429/503 has nothing for these rules to judge.
NOT_APPLICABLE = {"never-retries-429-503": {"R8", "R9", "R10", "R12", "R13"}}

# Rules a defect breaks only when the timing falls so: judged neither way.
BREAKS_BY_CHANCE = {
    # Its nonce changes every 10 ms: a refresh within 10 ms of the 401 reuses it.
    "clock-nonce": {"R13"},
    # Its retries of a refused connection come within the ms before the port reopens.
    "no-backoff": {"R7"},
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
        f"{v.rule.id} {v.outcome}: {v.summary}\n  " + "\n  ".join(v.evidence.lines[:12])
        for v in verdicts
    )


def test_every_defect_breaks_a_judged_rule() -> None:
    assert set(BREAKS) | set(NOT_APPLICABLE) == set(DEFECTS)
    judged = {rule for rules in BREAKS.values() for rule in rules}
    assert judged | set().union(*NOT_APPLICABLE.values()) <= set(SCENARIOS)


def test_every_rule_has_a_defect_that_breaks_it() -> None:
    assert {rule for rules in BREAKS.values() for rule in rules} == set(SCENARIOS)


@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_the_reference_client_passes(
    harness_mock: MockServer, rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verdicts = _judge(harness_mock, [rule], tmp_path, monkeypatch, None)
    assert [v.outcome for v in verdicts] == [Outcome.PASS], _explain(verdicts)


@pytest.mark.parametrize(
    ("defect", "rule"), sorted((d, r) for d, rules in BREAKS.items() for r in rules)
)
def test_a_defect_fails_the_rule_it_breaks_naming_it(
    harness_mock: MockServer,
    defect: str,
    rule: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [verdict] = _judge(harness_mock, [rule], tmp_path, monkeypatch, defect)
    assert verdict.outcome is Outcome.FAIL, _explain([verdict])
    assert re.search(BREAKS[defect][rule], verdict.summary, re.DOTALL), _explain([verdict])


@pytest.mark.parametrize(
    ("defect", "rule"), sorted((d, r) for d, rules in NOT_APPLICABLE.items() for r in rules)
)
def test_a_rule_with_nothing_to_judge_says_not_applicable(
    harness_mock: MockServer,
    defect: str,
    rule: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [verdict] = _judge(harness_mock, [rule], tmp_path, monkeypatch, defect)
    assert verdict.outcome is Outcome.NOT_APPLICABLE, _explain([verdict])
    assert verdict.summary.startswith("Not applicable: "), _explain([verdict])


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_a_defect_passes_every_other_rule(
    harness_mock: MockServer, defect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip = set(BREAKS.get(defect, {})) | NOT_APPLICABLE.get(defect, set())
    others = [r for r in SCENARIOS if r not in skip | BREAKS_BY_CHANCE.get(defect, set())]
    verdicts = _judge(harness_mock, others, tmp_path, monkeypatch, defect)
    wrong = [v for v in verdicts if v.outcome is not Outcome.PASS]
    assert not wrong, _explain(wrong)
