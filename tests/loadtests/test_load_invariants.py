"""The load invariants on hand-made records: each fails on a defect and passes without it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from harness import load_cli
from loadtests.invariants import (
    Thresholds,
    breaches,
    duplicate_creations,
    error_rate,
    journal_complete,
    judge,
    p95_latency,
    percentile,
    refresh_storm,
    retry_amplification,
)
from loadtests.profiles import PROFILES, get_profile
from loadtests.records import CallRecord, read_records, write_records
from mocks.scenarios import Scenario

T0 = 1_700_000_000.0


def entry(seq: int, operation: str, t: float, effect: dict[str, Any] | None = None, **kw: Any):
    return {"seq": seq, "operation": operation, "started_at": T0 + t, "effect": effect, **kw}


def sessions(users: int) -> list[dict[str, Any]]:
    return [
        entry(i, "register", 0.0, {"kind": "session_started", "session": f"s{i}"})
        for i in range(users)
    ]


def call(op: str = "getProduct", ok: bool = True, ms: float = 10.0, **kw: Any) -> CallRecord:
    return CallRecord(operation=op, method="GET", ok=ok, duration_ms=ms, **kw)


# --- refresh storms ----------------------------------------------------------------


def test_one_refresh_per_user_and_expiry_passes() -> None:
    # 10 users, 5 s tokens, a 20 s run: 4 expiries each, one refresh per expiry.
    journal = sessions(10) + [
        entry(100 + n, "refresh", t, {"kind": "refresh"})
        for t in (5, 10, 15, 20)
        for n in range(10)
    ]
    verdict = refresh_storm(journal, access_ttl_s=5, max_refreshes_per_expiry=1.5)
    assert verdict.passed, verdict.detail
    assert verdict.facts["refreshes"] == 40
    assert verdict.facts["sessions"] == 10


def test_a_refresh_per_waiting_request_is_a_storm() -> None:
    # The same run, but every concurrent request that saw a 401 refreshed on its own.
    journal = sessions(10) + [
        entry(100 + i, "refresh", t, {"kind": "refresh"})
        for t in (5, 10, 15, 20)
        for i in range(10 * 8)
    ]
    verdict = refresh_storm(journal, access_ttl_s=5, max_refreshes_per_expiry=1.5)
    assert not verdict.passed
    assert "320 refreshes for 10 sessions" in verdict.detail


def test_reuse_rejections_are_reported() -> None:
    rejected = {"kind": "refresh_rejected", "reason": "reused", "refresh_token": "r1"}
    journal = [*sessions(1), entry(5, "refresh", 1.0, rejected)]
    verdict = refresh_storm(journal, access_ttl_s=300, max_refreshes_per_expiry=1.5)
    assert verdict.facts["reuse_rejections"] == 1
    assert "rejected as reuse" in verdict.detail


# --- duplicate creations ----------------------------------------------------------


def created(seq: int, body: str, key: str | None = None, user: str = "u1") -> dict[str, Any]:
    return entry(
        seq,
        "createProduct",
        seq / 10,
        {"kind": "product_created", "id": f"prd_{seq}"},
        body_sha256=body,
        idempotency_key=key,
        user_id=user,
    )


def test_one_product_per_logical_create_passes() -> None:
    # Retries of one call (same key, same body) replayed without creating again.
    journal = [
        created(1, "b1", "k1"),
        entry(2, "createProduct", 0.2, None, body_sha256="b1", idempotency_key="k1"),
        created(3, "b2", "k2"),
    ]
    creates = [call("createProduct", body_sha256="b1"), call("createProduct", body_sha256="b2")]
    verdict = duplicate_creations(journal, creates, max_duplicates=0)
    assert verdict.passed, verdict.detail
    assert verdict.facts["products_created"] == 2


def test_a_retried_post_that_created_twice_fails() -> None:
    # No idempotency key: each retry of the same call created another product.
    journal = [created(1, "b1"), created(2, "b1"), created(3, "b1"), created(4, "b2")]
    creates = [call("createProduct", body_sha256="b1"), call("createProduct", body_sha256="b2")]
    verdict = duplicate_creations(journal, creates, max_duplicates=0)
    assert not verdict.passed
    assert verdict.observed == 2
    assert verdict.facts["duplicates_with_same_idempotency_key"] == 0


def test_same_body_from_two_users_is_not_a_duplicate() -> None:
    journal = [created(1, "b1", user="u1"), created(2, "b1", user="u2")]
    assert duplicate_creations(journal, [], max_duplicates=0).passed


# --- retry amplification, errors, latency -----------------------------------------


def test_few_retries_pass_amplification() -> None:
    records = [call() for _ in range(95)] + [call(attempts=2, retry_delays_s=(0.1,))] * 5
    verdict = retry_amplification(records, max_attempts_per_call=1.25)
    assert verdict.passed
    assert verdict.observed == pytest.approx(1.05)


def test_retrying_everything_many_times_fails_amplification() -> None:
    # A brown-out answered with 4 attempts per call: load x4 on a failing backend.
    records = [call(attempts=4, retry_delays_s=(0.2, 0.2, 0.2)) for _ in range(50)]
    verdict = retry_amplification(records, max_attempts_per_call=1.25)
    assert not verdict.passed
    assert verdict.facts["worst_call_attempts"] == 4
    assert verdict.facts["distinct_retry_delays"] == 1  # no jitter: synchronized retries


def test_error_rate_bounds_user_visible_failures() -> None:
    good = [call() for _ in range(99)] + [call(ok=False, kind="serverError")]
    bad = [call() for _ in range(90)] + [call(ok=False, kind="serverError")] * 10
    assert error_rate(good, max_error_rate=0.02).passed
    verdict = error_rate(bad, max_error_rate=0.02)
    assert not verdict.passed
    assert verdict.facts["by_kind"] == {"serverError": 10}
    assert not error_rate([], max_error_rate=0.02).passed  # no calls: nothing was shown


def test_p95_latency() -> None:
    fast = [call(ms=float(ms)) for ms in range(1, 101)]
    assert percentile([r.duration_ms for r in fast], 95) == 95.0
    assert p95_latency(fast, max_p95_ms=100).passed
    slow = fast[:90] + [call(ms=3000.0)] * 10
    assert not p95_latency(slow, max_p95_ms=100).passed


def test_lost_journal_entries_fail_the_run() -> None:
    assert journal_complete(0).passed
    assert not journal_complete(12).passed


def test_judge_names_every_breach() -> None:
    journal = [*sessions(1), created(1, "b1"), created(2, "b1")]
    records = [call("createProduct", ok=False, kind="serverError", attempts=4, ms=900.0)]
    verdicts = judge(
        records,
        Thresholds(max_error_rate=0.5, max_p95_ms=500),
        journal=journal,
        missed=0,
        access_ttl_s=300,
    )
    assert breaches(verdicts) == [
        "duplicate_creations",
        "retry_amplification",
        "error_rate",
        "p95_latency",
    ]
    without_journal = judge(records, Thresholds(), journal=None)
    assert {v.name for v in without_journal} == {"retry_amplification", "error_rate", "p95_latency"}


def test_thresholds_overrides_keep_unset_values() -> None:
    base = Thresholds(max_error_rate=0.05)
    changed = base.with_overrides(max_p95_ms=900.0, max_error_rate=None)
    assert changed.max_p95_ms == 900.0
    assert changed.max_error_rate == 0.05


# --- records, profiles, command line -----------------------------------------------


def test_records_round_trip(tmp_path: Path) -> None:
    records = [call(attempts=2, retry_delays_s=(0.5,), body_sha256="ab"), call(ok=False)]
    path = tmp_path / "records.jsonl"
    assert write_records(path, (r.to_json() for r in records)) == 2
    assert list(read_records(path)) == records


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_is_a_valid_mock_scenario(name: str) -> None:
    profile = get_profile(name)
    scenario = Scenario.model_validate(profile.scenario())
    assert scenario.config["access_ttl_s"] == profile.access_ttl_s


def test_the_cli_knows_every_profile() -> None:
    assert set(load_cli.PROFILE_NAMES) == set(PROFILES)
    with pytest.raises(ValueError, match="unknown profile"):
        get_profile("nope")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("8s", 8.0), ("2m", 120.0), ("1h30m", 5400.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert load_cli.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0s", "5x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        load_cli.parse_duration(text)


def test_cli_options_are_handed_on_intact() -> None:
    parser = load_cli.build_parser()
    argv = ["--profile", "fault-mix", "--users", "5", "--duration", "2m", "--processes", "2"]
    argv += ["--max-error-rate", "0.1", "--base-url", "http://127.0.0.1:9/v1"]
    args = parser.parse_args(argv)
    again = parser.parse_args(load_cli.to_argv(args))
    assert vars(again) == vars(args)


def test_harness_load_subcommand_parses() -> None:
    parser = argparse.ArgumentParser(prog="harness")
    commands = parser.add_subparsers(dest="command")
    load_cli.add_parser(commands)
    args = parser.parse_args(["load", "--profile", "spike", "--users", "3"])
    assert args.command == "load"
    assert args.profile == "spike"
    assert args.users == 3
