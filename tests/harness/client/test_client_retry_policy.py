"""The retry policy and throttle: pure logic, property-tested."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.client.retry import (
    PLAUSIBLE_RETRY_AFTER_S,
    Attempt,
    GiveUp,
    Phase,
    Retry,
    RetryPolicy,
    RetryThrottle,
    parse_retry_after,
)

POLICY = RetryPolicy(max_attempts=5, base_delay_s=0.1, max_delay_s=2.0, deadline_s=60)


def attempt(number: int = 1, method: str = "GET", **kw: object) -> Attempt:
    kw.setdefault("phase", Phase.RESPONSE)
    kw.setdefault("status", 503)
    return Attempt(number, method, **kw)  # type: ignore[arg-type]


@given(
    base=st.floats(0.001, 5),
    cap=st.floats(0.001, 60),
    n=st.integers(1, 200),
    seed=st.integers(),
)
def test_backoff_stays_within_full_jitter_bounds(
    base: float, cap: float, n: int, seed: int
) -> None:
    policy = RetryPolicy(base_delay_s=min(base, cap), max_delay_s=cap)
    delay = policy.backoff(n, random.Random(seed))
    assert 0 <= delay <= min(cap, min(base, cap) * 2 ** (n - 1)) + 1e-12


def test_backoff_caps_grow_then_flatten() -> None:
    caps = [POLICY.backoff_cap(n) for n in range(1, 8)]
    assert caps == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


def test_jitter_varies_between_trials() -> None:
    delays = {round(POLICY.backoff(3, random.Random(seed)), 9) for seed in range(50)}
    assert len(delays) > 40


@given(
    status=st.sampled_from([408, 429, 500, 502, 503, 504]),
    method=st.sampled_from(["GET", "PUT", "DELETE"]),
)
def test_retryable_statuses_are_retried_for_idempotent_methods(status: int, method: str) -> None:
    decision = POLICY.decide(
        attempt(method=method, status=status), elapsed_s=0, rng=random.Random(1)
    )
    assert isinstance(decision, Retry)


@given(status=st.sampled_from([400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 501]))
def test_other_statuses_are_never_retried(status: int) -> None:
    decision = POLICY.decide(attempt(status=status), elapsed_s=0, rng=random.Random(1))
    assert isinstance(decision, GiveUp)


@pytest.mark.parametrize("phase", [Phase.RESPONSE, Phase.SEND, Phase.RECEIVE])
def test_a_post_that_may_have_reached_the_server_is_not_retried(phase: Phase) -> None:
    decision = POLICY.decide(attempt(method="POST", phase=phase), elapsed_s=0, rng=random.Random(1))
    assert isinstance(decision, GiveUp)


@pytest.mark.parametrize("phase", [Phase.RESPONSE, Phase.SEND, Phase.RECEIVE])
def test_a_post_with_an_idempotency_key_is_retried(phase: Phase) -> None:
    post = attempt(method="POST", phase=phase, has_idempotency_key=True)
    assert isinstance(POLICY.decide(post, elapsed_s=0, rng=random.Random(1)), Retry)


def test_a_failure_before_sending_is_retried_for_any_method() -> None:
    post = attempt(method="POST", phase=Phase.CONNECT, status=None)
    assert isinstance(POLICY.decide(post, elapsed_s=0, rng=random.Random(1)), Retry)


def test_malformed_bodies_are_not_retried() -> None:
    broken = attempt(status=200, malformed=True)
    assert isinstance(POLICY.decide(broken, elapsed_s=0, rng=random.Random(1)), GiveUp)


@given(n=st.integers(1, 50))
def test_attempts_are_bounded(n: int) -> None:
    decision = POLICY.decide(attempt(number=n), elapsed_s=0, rng=random.Random(1))
    assert isinstance(decision, Retry) == (n < POLICY.max_attempts)


def test_the_deadline_stops_retries() -> None:
    late = POLICY.decide(attempt(), elapsed_s=59.99, rng=random.Random(1))
    assert isinstance(late, GiveUp)
    assert "deadline" in late.reason


@given(seconds=st.integers(0, 30))
def test_retry_after_is_honoured_exactly(seconds: int) -> None:
    decision = POLICY.decide(
        attempt(status=429, retry_after=float(seconds)), elapsed_s=0, rng=random.Random(1)
    )
    assert isinstance(decision, Retry)
    assert decision.delay_s == seconds


def test_retry_after_over_the_cap_gives_up_at_once() -> None:
    policy = RetryPolicy(max_retry_after_s=10)
    decision = policy.decide(attempt(retry_after=11.0), elapsed_s=0, rng=random.Random(1))
    assert isinstance(decision, GiveUp)
    assert "over the cap" in decision.reason


@given(seconds=st.integers(0, int(PLAUSIBLE_RETRY_AFTER_S)), zeros=st.integers(0, 30))
def test_retry_after_seconds_parse(seconds: int, zeros: int) -> None:
    assert parse_retry_after(str(seconds)) == seconds
    assert parse_retry_after("0" * zeros + str(seconds)) == seconds


@given(ahead=st.integers(0, 86400))
def test_retry_after_http_dates_parse(ahead: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=ahead), usegmt=True)
    assert parse_retry_after(header, now=now) == ahead


@pytest.mark.parametrize(
    "value",
    [None, "", "soon", "-5", "+5", "1.5", "1e3", "0x10", "\u0661\u0662", "Thu, 99 Foo 2015"],
)
def test_unusable_retry_after_values_are_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_a_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0


@pytest.mark.parametrize(
    "value",
    [
        "9" * 5000,  # int() alone raises ValueError past 4,300 digits
        "1" + "0" * 400,  # float() alone raises OverflowError
        str(int(PLAUSIBLE_RETRY_AFTER_S) + 1),
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Sun, 06 Nov 1994 08:49:37 -9999",  # an offset no clock has
    ],
)
def test_absurd_retry_after_values_are_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


@given(digits=st.text("0123456789", min_size=1, max_size=6000))
def test_any_run_of_digits_parses_or_is_ignored(digits: str) -> None:
    significant = digits.lstrip("0") or "0"
    seconds = parse_retry_after(digits)
    if len(significant) <= 6 and int(significant) <= PLAUSIBLE_RETRY_AFTER_S:
        assert seconds == int(significant)
    else:
        assert seconds is None


@given(
    ahead=st.one_of(
        st.integers(-(10**11), 10**11),
        st.integers(int(PLAUSIBLE_RETRY_AFTER_S) + 1, 10**11),
    )
)
def test_http_dates_far_ahead_are_ignored_and_past_ones_mean_now(ahead: int) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        moment = now + timedelta(seconds=ahead)
    except OverflowError:
        return  # beyond datetime's years: not a date anyone can write
    seconds = parse_retry_after(format_datetime(moment, usegmt=True), now=now)
    if ahead > PLAUSIBLE_RETRY_AFTER_S:
        assert seconds is None
    else:
        assert seconds == max(0, ahead)


RETRY_AFTER_ALPHABET = st.characters(min_codepoint=0, max_codepoint=0x10FFFF)


@given(
    value=st.one_of(
        st.text(RETRY_AFTER_ALPHABET, max_size=200),
        st.text("0123456789 ,:+-GMTSunMonJanDec", max_size=200),
        st.from_regex(
            r"\A[A-Z][a-z]{2}, \d{1,3} [A-Z][a-z]{2} \d{1,6} \d\d:\d\d:\d\d [A-Z+\-\d]{1,6}\Z"
        ),
    )
)
def test_the_parser_never_raises_and_stays_plausible(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or 0 <= seconds <= PLAUSIBLE_RETRY_AFTER_S


def test_the_throttle_stops_retries_when_most_calls_fail() -> None:
    throttle = RetryThrottle(max_tokens=10, token_ratio=0.1)
    allowed = []
    for _ in range(10):
        throttle.record_failure()
        allowed.append(throttle.allows_retry())
    assert allowed[:4] == [True] * 4
    assert not any(allowed[5:])


def test_the_throttle_recovers_with_successes() -> None:
    throttle = RetryThrottle(max_tokens=10, token_ratio=0.5)
    for _ in range(10):
        throttle.record_failure()
    assert not throttle.allows_retry()
    for _ in range(12):
        throttle.record_success()
    assert throttle.allows_retry()


@pytest.mark.parametrize(
    "kwargs",
    [{"max_attempts": 0}, {"base_delay_s": 3, "max_delay_s": 1}, {"deadline_s": 0}],
)
def test_bad_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
