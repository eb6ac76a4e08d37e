"""The harness condemns a client built like the seed: every scenario, run against
the faithful port of the seed's Dio client (harness/conformance/seed_port.py),
gives the verdict written down here, for the reason written next to it."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from harness.conformance.runner import run_scenarios
from harness.conformance.scenarios import SCENARIOS
from harness.conformance.seed_port import AppSignatureService, parse_date_time, to_iso8601_string
from harness.conformance.verdicts import Outcome
from mocks.server import MockServer

SEED_ADAPTER = (sys.executable, "-m", "harness.conformance.seed_adapter")
FAIL, PASS, UNJUDGED = Outcome.FAIL, Outcome.PASS, Outcome.UNJUDGED
# Signing scenarios log in under signing first; the seed's signature never verifies.
NO_LOGIN = "could not be judged: the client could not log in"

# Per rule: the verdict, why the seed earns it, and what the summary must say.
EXPECTED: dict[str, tuple[Outcome, str, str]] = {
    "R1": (
        FAIL,
        "each concurrent 401 refreshes with the same refresh token: no lock",
        "12 refreshes for 12 concurrent 401s",
    ),
    "R2": (
        FAIL,
        "a 401 arriving after a refresh refreshes again: the sent token is not compared",
        "2 refreshes",
    ),
    "R3": (PASS, "both rotated tokens are saved after a refresh", ""),
    "R4": (PASS, "one refresh, one replay; the replay's 401 deletes the tokens and ends it", ""),
    "R5": (
        FAIL,
        "a refresh answered 503 deletes the tokens like a rejected one",
        r"503\): .*dropped its session",
    ),
    "R6": (
        FAIL,
        "a POST answered 502 after taking effect is retried, without a key",
        "retried without an Idempotency-Key: 2 products exist",
    ),
    "R7": (
        FAIL,
        "a refused connection is a connectionError, not in the retry conditions",
        "reported noInternetConnection",
    ),
    "R8": (FAIL, "retried POSTs carry no Idempotency-Key at all", "carried no key"),
    "R9": (
        FAIL,
        "429 is not retried and maps to serverError; Retry-After is never read",
        r"429 .*reported serverError, not tooManyRequests.*Retried 0\.\d+ s after a 503",
    ),
    "R10": (
        FAIL,
        "base * 2^n exactly, no jitter at any retry, and no cap",
        "No jitter at retries 1, 2 and 3.*No cap",
    ),
    "R11": (
        FAIL,
        "no overall deadline: four attempts of 1.5 s each, whatever the deadline",
        "No overall deadline",
    ),
    "R12": (
        FAIL,
        "no retry budget: every call against a failing server makes four attempts",
        "kept retrying: 3.0 retries per call",
    ),
    "R13": (UNJUDGED, "signing is on and the seed's login is rejected 403", NO_LOGIN),
    "R14": (
        FAIL,
        "a failed retry continues with the original error: the first timeout",
        "reported receiveTimeout; expected serverError",
    ),
    "R15": (
        FAIL,
        "422 has no variant of its own in _handleError: serverError, not badRequest",
        "422: reported serverError, expected badRequest",
    ),
    "R16": (UNJUDGED, "signing is on and the seed's login is rejected 403", NO_LOGIN),
    "R17": (PASS, "doubles and UTC 'Z' dates keep every value and instant the contract allows", ""),
    "R18": (PASS, "broken JSON is an unknown DioException: not retried, reported unexpected", ""),
    "R19": (
        FAIL,
        "its signature (package:device, own secret) is rejected at login",
        r"1 of 1 signed requests were rejected \(invalid\)",
    ),
    "R20": (PASS, "a Dio CancelToken aborts the request and the retry wait alike", ""),
}


def test_every_scenario_has_an_expectation() -> None:
    assert set(SCENARIOS) <= set(EXPECTED)


@pytest.mark.matrix
@pytest.mark.parametrize("rule", sorted(SCENARIOS, key=lambda r: int(r[1:])))
def test_the_seed_port_gets_the_expected_verdict(
    harness_mock: MockServer, rule: str, tmp_path: Path
) -> None:
    # The same path `harness verify` takes, "could not be judged" included.
    [verdict] = run_scenarios(harness_mock.base_url, SEED_ADAPTER, [rule], log_dir=tmp_path)
    expected, reason, said = EXPECTED[rule]
    why = f"expected {expected} ({reason}), got: {verdict.summary}\n" + "\n".join(
        verdict.evidence.lines[:20]
    )
    assert verdict.outcome is expected, why
    assert re.search(said, verdict.summary, re.DOTALL), why


def test_the_seed_nonce_repeats_within_ten_milliseconds() -> None:
    # R19 stops at the login's invalid signature; the nonce is another flaw: the first
    # 12 digits of the clock in milliseconds, base64'd.
    async def sign(times: int) -> list[dict[str, str]]:
        return [await AppSignatureService.get_api_signature_headers() for _ in range(times)]

    nonces = [headers["X-App-Nonce"] for headers in asyncio.run(sign(50))]
    assert len(set(nonces)) < len(nonces)


@pytest.mark.parametrize(
    ("served", "reported"),
    [
        ("2026-03-01T12:00:00.250+05:30", "2026-03-01T06:30:00.250Z"),  # same instant, in UTC
        ("2026-03-01T12:00:00.123456789Z", "2026-03-01T12:00:00.123456Z"),  # microseconds kept
        ("2026-03-01T12:00:00Z", "2026-03-01T12:00:00.000Z"),
        ("2026-03-01 12:00", "2026-03-01T12:00:00.000"),  # no offset: a local DateTime
    ],
)
def test_dates_read_and_write_as_darts_do(served: str, reported: str) -> None:
    assert to_iso8601_string(parse_date_time(served)) == reported
