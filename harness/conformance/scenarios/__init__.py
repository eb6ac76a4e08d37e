"""Scenarios: provoke one client rule through the mock, judge it from the journal.

Each scenario sets the mock up through the control API (faults, clock,
config), drives the client through its adapter, and draws a verdict from
what reached the server and what the client reported, never from the
client's own say-so. The rules are those of shared client-behaviours; one
module per family of rules.
"""

from __future__ import annotations

from harness.conformance.scenarios.auth import (
    R1,
    R2,
    R3,
    R4,
    no_refresh_for_a_replaced_token,
    one_refresh_per_call,
    rotated_refresh_token_kept,
    single_flight_refresh,
)
from harness.conformance.scenarios.backoff import (
    R10,
    R10_ENV,
    R10_ITEMS,
    R12,
    backoff_with_jitter,
    retry_budget,
)
from harness.conformance.scenarios.base import API_KEY, SIGNING_SECRET, Context, Scenario
from harness.conformance.scenarios.bodies import (
    R16,
    R18,
    R18_TIMEOUT_S,
    R19,
    malformed_is_one_error,
    secrets_stay_out_of_logs,
    signatures_and_nonces,
)
from harness.conformance.scenarios.pipeline import R13, whole_pipeline_per_attempt
from harness.conformance.scenarios.retries import (
    DEADLINE_S,
    R6,
    R8,
    R9,
    R11,
    R15,
    attempts_are_bounded,
    client_errors_not_retried,
    idempotency_keys,
    no_duplicate_creation,
    retry_after_honoured,
)
from harness.conformance.scenarios.roundtrip import R17, json_round_trip
from harness.conformance.scenarios.session import R5, failed_refresh
from harness.conformance.scenarios.transport import (
    R7,
    R7_ENV,
    R14,
    R14_TIMEOUT_S,
    R20,
    cancelled_not_retried,
    last_attempt_reported,
    refused_connection_retried,
)

# The roles each rule provokes (the configuration's `roles:` names the operations).
SESSION = ("login", "current_user")
REFRESHING = (*SESSION, "refresh")
SIGNING_ONLY = (
    "it signs requests with the harness's HMAC scheme (X-App-Signature), which only the "
    "demo API's mock verifies"
)
SCENARIOS: dict[str, Scenario] = {
    "R1": Scenario(R1, single_flight_refresh, roles=REFRESHING),
    "R2": Scenario(R2, no_refresh_for_a_replaced_token, roles=(*REFRESHING, "list")),
    "R3": Scenario(R3, rotated_refresh_token_kept, roles=REFRESHING),
    # Renewal by the refresh role, else by logging in again (no refresh role needed).
    "R4": Scenario(R4, one_refresh_per_call, roles=SESSION),
    "R5": Scenario(R5, failed_refresh, roles=REFRESHING),
    "R6": Scenario(R6, no_duplicate_creation, roles=("login", "create")),
    "R7": Scenario(R7, refused_connection_retried, adapter_env=R7_ENV, roles=("login",)),
    "R8": Scenario(R8, idempotency_keys, roles=("login", "create")),
    "R9": Scenario(R9, retry_after_honoured, roles=SESSION),
    "R10": Scenario(
        R10,
        backoff_with_jitter,
        adapter_env=R10_ENV,
        roles=("login", "list", "read"),
        lists_at_once=R10_ITEMS,
    ),
    "R11": Scenario(
        R11, attempts_are_bounded, adapter_env={"deadline_s": DEADLINE_S}, roles=SESSION
    ),
    "R12": Scenario(R12, retry_budget, roles=(*SESSION, "list")),
    "R13": Scenario(
        R13, whole_pipeline_per_attempt, signing=True, roles=REFRESHING, demo_only=SIGNING_ONLY
    ),
    "R14": Scenario(
        R14, last_attempt_reported, adapter_env={"timeout_s": R14_TIMEOUT_S}, roles=SESSION
    ),
    "R15": Scenario(R15, client_errors_not_retried, roles=("login", "read")),
    "R16": Scenario(R16, secrets_stay_out_of_logs, signing=True, roles=SESSION),
    "R17": Scenario(R17, json_round_trip, roles=("login", "read")),
    "R18": Scenario(
        R18,
        malformed_is_one_error,
        adapter_env={"timeout_s": R18_TIMEOUT_S},
        roles=("login", "list", "read"),
    ),
    "R19": Scenario(
        R19, signatures_and_nonces, signing=True, roles=("login", "list"), demo_only=SIGNING_ONLY
    ),
    "R20": Scenario(R20, cancelled_not_retried, roles=SESSION),
}

__all__ = ["API_KEY", "SCENARIOS", "SIGNING_SECRET", "Context", "Scenario"]
