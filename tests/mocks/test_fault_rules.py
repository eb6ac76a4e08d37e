"""Fault rules: parsing, validation reasons, the X-Harness-Fault syntax."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mocks.fault_rules import (
    ACTION_TYPES,
    FaultRule,
    LognormalDelay,
    StatusAction,
    UniformDelay,
    parse_header_fault,
)


def test_a_full_rule_parses() -> None:
    rule = FaultRule.model_validate(
        {
            "id": "r1",
            "match": {"methods": ["post"], "path": "/v1/products", "headers": {"X-A": "1"}},
            "action": {"type": "status", "status": 429, "retry_after": 2},
            "delay": {"type": "uniform", "min_ms": 10, "max_ms": 20},
            "select": {"times": 3, "after": 1, "every": 2, "probability": 0.5, "seed": 9},
        }
    )
    assert rule.match.methods == ["POST"]
    assert isinstance(rule.action, StatusAction)
    assert rule.action.retry_after == 2
    assert isinstance(rule.delay, UniformDelay)


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ({"action": {"type": "explode"}}, "does not match any of the expected tags"),
        ({"action": {"type": "status", "status": 700}}, "less than or equal to 599"),
        ({"action": {"type": "status", "retry_after": "soon"}}, "seconds or an HTTP-date"),
        ({"action": {"type": "status", "retry_after": -1}}, "must not be negative"),
        ({"action": {"type": "delay"}}, "a delay action needs a delay"),
        ({"match": {"path": "v1/products"}}, "path must start with /"),
        ({"match": {"methods": []}}, "non-empty list"),
        ({"select": {"probability": 1.5}}, "less than or equal to 1"),
        ({"select": {"times": 0}}, "greater than or equal to 1"),
        ({"delay": {"type": "uniform", "min_ms": 5, "max_ms": 1}}, "max_ms must not be below"),
        ({"action": {"type": "reset"}, "unknown": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_rules_are_rejected_with_the_reason(rule: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        FaultRule.model_validate(rule)


def test_retry_after_accepts_an_http_date() -> None:
    action = StatusAction(retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    assert action.retry_after == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_header_syntax_covers_every_action_type() -> None:
    for kind in ACTION_TYPES:
        spec = "delay;ms=5" if kind == "delay" else kind
        assert parse_header_fault(spec).action.type == kind


def test_header_syntax_with_values_and_delay() -> None:
    rule = parse_header_fault("status; status=503; retry_after=2; delay_ms=40")
    assert isinstance(rule.action, StatusAction)
    assert (rule.action.status, rule.action.retry_after) == (503, 2)
    assert rule.delay is not None
    assert rule.delay.sample(random.Random()) == pytest.approx(0.04)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [("", "unknown fault"), ("boom", "unknown fault"), ("status;503", "key=value")],
)
def test_bad_header_specs_say_why(spec: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_header_fault(spec)


@given(
    median=st.floats(min_value=1, max_value=5000),
    sigma=st.floats(min_value=0, max_value=3),
    cap=st.floats(min_value=1, max_value=10_000),
    seed=st.integers(),
)
def test_lognormal_delays_never_exceed_the_cap(
    median: float, sigma: float, cap: float, seed: int
) -> None:
    delay = LognormalDelay(median_ms=median, sigma=sigma, cap_ms=cap)
    rng = random.Random(seed)
    assert all(0 < delay.sample(rng) <= cap / 1000 for _ in range(20))


@given(low=st.floats(0, 1000), span=st.floats(0, 1000), seed=st.integers())
def test_uniform_delays_stay_in_range(low: float, span: float, seed: int) -> None:
    delay = UniformDelay(min_ms=low, max_ms=low + span)
    sample = delay.sample(random.Random(seed)) * 1000
    assert low - 1e-6 <= sample <= low + span + 1e-6
