"""Journal-only invariants (loadtests/journal_invariants.py) on hand-made journals.

Each check is shown to fail on the journal of a client that breaks it and to
pass on the journal of one that does not.
"""

from __future__ import annotations

from typing import Any

from loadtests.invariants import Thresholds
from loadtests.journal_invariants import (
    RETRY_WINDOW_S,
    duplicate_creations,
    error_rate,
    judge_journal,
    logical_calls,
    p95_latency,
    refresh_storm,
    retry_amplification,
)

_seq = iter(range(1, 10**6))


def entry(t: float, **fields: Any) -> dict[str, Any]:
    base = {
        "seq": next(_seq),
        "started_at": t,
        "duration_ms": 10.0,
        "method": "GET",
        "path": "/api/books",
        "query": "",
        "operation": "ListBooks",
        "role": "list",
        "status": 200,
        "session_id": "s1",
        "token_id": "t1",
        "client": "127.0.0.1:5000",
        "idempotency_key": None,
        "body_sha256": "e3b0",
        "fault": None,
    }
    return base | fields


def create(t: float, body: str, status: int = 201, **fields: Any) -> dict[str, Any]:
    fault = {"rule": "probe", "action": "apply_then_fail"} if status == 502 else None
    made = {"method": "POST", "operation": "CreateBook", "role": "create", "fault": fault}
    return entry(t, status=status, body_sha256=body, **(made | fields))


def test_a_retry_follows_a_failure_of_the_same_request_from_the_same_caller() -> None:
    journal = [
        entry(0.0, status=503),
        entry(0.5),  # retry of the 503
        entry(1.0),  # a new call: the previous attempt succeeded
        entry(1.1, session_id="s2", status=503),
        entry(1.2, session_id="s3"),  # another caller: not a retry of s2's
        entry(1.3, status=503),
        entry(1.4 + RETRY_WINDOW_S + 1),  # too late to be that call's retry
    ]
    calls = logical_calls(journal)
    assert [len(c.attempts) for c in calls] == [2, 1, 1, 1, 1, 1]


def test_attempts_with_one_idempotency_key_are_one_call_whatever_the_timing() -> None:
    journal = [
        create(0.0, "b1", status=502, idempotency_key="k1"),
        create(60.0, "b1", idempotency_key="k1"),
        create(61.0, "b2", idempotency_key="k2"),
    ]
    assert [len(c.attempts) for c in logical_calls(journal)] == [2, 1]


def test_duplicate_creations_fail_when_a_post_is_resent_after_an_applied_502() -> None:
    naive = [create(0.0, "b1", status=502), create(0.2, "b1"), create(1.0, "b2")]
    verdict = duplicate_creations(logical_calls(naive), max_duplicates=0)
    assert not verdict.passed
    assert verdict.facts["duplicates"] == 1
    assert "limit 0" in verdict.detail


def test_duplicate_creations_pass_when_the_client_does_not_resend_or_uses_a_key() -> None:
    careful = [create(0.0, "b1", status=502), create(1.0, "b2")]
    keyed = [
        create(2.0, "b3", status=502, idempotency_key="k"),
        # the API replays the first answer for the key: nothing new is applied
        create(2.5, "b3", status=200, idempotency_key="k", fault=None),
    ]
    assert duplicate_creations(logical_calls(careful), 0).passed
    replayed = duplicate_creations(logical_calls(keyed), 1)
    assert replayed.passed
    assert replayed.facts["logical_creates"] == 1


def test_without_roles_every_post_is_a_create() -> None:
    journal = [
        create(0.0, "b1", status=502, role=None, operation=None),
        create(0.1, "b1", role=None, operation=None),
    ]
    verdict = duplicate_creations(logical_calls(journal), 0)
    assert not verdict.passed
    assert "every POST" in verdict.detail


def test_retry_amplification_counts_attempts_per_logical_call() -> None:
    storm = [entry(i * 0.1, status=503) for i in range(5)] + [entry(0.6)]
    calm = [entry(float(i)) for i in range(6)]
    assert not retry_amplification(logical_calls(storm), 1.5).passed
    verdict = retry_amplification(logical_calls(calm), 1.5)
    assert verdict.passed
    assert verdict.observed == 1.0


def test_error_rate_is_judged_on_the_last_attempt_of_each_call() -> None:
    recovered = [entry(0.0, status=503), entry(0.1)]
    left_failing = [entry(0.0, status=503), entry(0.1, status=503), entry(20.0, status=404)]
    assert error_rate(logical_calls(recovered), 0.01).passed
    verdict = error_rate(logical_calls(left_failing), 0.01)
    assert not verdict.passed
    assert verdict.facts["failed"] == 2


def test_p95_is_judged_per_operation() -> None:
    fast_lists = [entry(float(i), duration_ms=5.0) for i in range(20)]
    slow_creates = [create(100.0 + i, f"b{i}", duration_ms=900.0) for i in range(3)]
    verdict = p95_latency(logical_calls(fast_lists + slow_creates), 500.0)
    assert not verdict.passed
    assert "CreateBook" in verdict.detail
    assert p95_latency(logical_calls(fast_lists), 500.0).passed


def test_refresh_storm_by_the_refresh_role_or_not_applicable() -> None:
    assert "not applicable" in refresh_storm([entry(0.0)], 60.0, 1.5).detail
    storm = [entry(i * 0.01, role="refresh", operation="Refresh") for i in range(10)]
    assert not refresh_storm(storm, 60.0, 1.5).passed
    assert refresh_storm(storm[:1], 60.0, 1.5).passed


def test_judge_journal_reports_every_verdict_with_its_threshold() -> None:
    verdicts = judge_journal([entry(0.0), create(1.0, "b")], Thresholds(), access_ttl_s=60.0)
    names = [v.name for v in verdicts]
    assert names == [
        "journal_complete",
        "status_mix",
        "error_rate",
        "p95_latency",
        "retry_amplification",
        "duplicate_creations",
        "refresh_storm",
    ]
    assert all(v.passed for v in verdicts)
    assert {v.name: v.limit for v in verdicts}["error_rate"] == Thresholds().max_error_rate


def _expired(t: float, **fields: Any) -> dict[str, Any]:
    """A request whose token had expired: the mock knows the token, not its account."""
    return entry(
        t,
        status=401,
        token_id="t1",
        token_state="expired",
        user_id=None,
        session_id=None,
        **fields,
    )


def test_a_401_replayed_once_with_a_renewed_token_is_one_call_and_no_retry() -> None:
    journal = [
        entry(0.0, user_id="u1"),  # t1 belongs to u1
        _expired(5.0),
        entry(
            5.1,
            method="POST",
            path="/api/users/login",
            operation="Login",
            role="login",
            user_id="u1",
            session_id="s2",
            token_id=None,
        ),
        entry(5.2, user_id="u1", session_id="s2", token_id="t2"),  # the replay
    ]
    calls = logical_calls(journal)
    assert [(len(c.attempts), c.replays) for c in calls] == [(1, 0), (2, 1), (1, 0)]
    assert error_rate(calls, 0.0).passed
    verdict = retry_amplification(calls, 1.0)
    assert verdict.passed, verdict.detail
    assert verdict.facts["replays"] == 1


def test_a_401_never_replayed_or_replayed_by_another_account_stays_a_failed_call() -> None:
    journal = [
        entry(0.0, user_id="u1"),
        entry(0.1, user_id="u2", session_id="s9", token_id="t9"),
        _expired(5.0),
        entry(5.2, user_id="u2", session_id="s9", token_id="t9"),  # u2's own call
        _expired(6.0),
        entry(6.1 + RETRY_WINDOW_S + 1, user_id="u1", session_id="s2", token_id="t2"),  # late
    ]
    calls = logical_calls(journal)
    assert all(c.replays == 0 for c in calls)
    assert not error_rate(calls, 0.0).passed
