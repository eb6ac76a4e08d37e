"""Choosing faults: order, selection counters, seeded probability, expiry."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocks.fault_engine import RequestView, RuleSet
from mocks.fault_rules import FaultRule

GET_PRODUCT = RequestView("GET", "/v1/products/p1", "getProduct", {})
POST_PRODUCTS = RequestView("POST", "/v1/products", "createProduct", {"X-Tenant": "a"})


def rule(**fields: Any) -> FaultRule:
    fields.setdefault("action", {"type": "status", "status": 503})
    return FaultRule.model_validate(fields)


def pattern(rules: RuleSet, request: RequestView, n: int) -> list[str | None]:
    chosen = [rules.choose(request) for _ in range(n)]
    return [c.id if c else None for c in chosen]


def test_match_criteria() -> None:
    rules = RuleSet()
    rules.add(rule(id="posts", match={"methods": ["POST"]}))
    rules.add(rule(id="tenant-b", match={"headers": {"X-Tenant": "b"}}))
    rules.add(rule(id="by-op", match={"operation": "getProduct"}))
    assert pattern(rules, POST_PRODUCTS, 1) == ["posts"]
    assert pattern(rules, GET_PRODUCT, 1) == ["by-op"]


def test_globs_match_across_slashes() -> None:
    rules = RuleSet()
    rules.add(rule(id="all-v1", match={"path": "/v1/*"}))
    assert pattern(rules, GET_PRODUCT, 1) == ["all-v1"]
    assert rules.choose(RequestView("GET", "/v2/x", None, {})) is None


def test_first_selected_rule_wins_and_declining_rules_fall_through() -> None:
    rules = RuleSet()
    rules.add(rule(id="first-two", select={"times": 2}))
    rules.add(rule(id="then-always"))
    expected = ["first-two", "first-two", "then-always", "then-always"]
    assert pattern(rules, GET_PRODUCT, 4) == expected


def test_after_and_every() -> None:
    rules = RuleSet()
    rules.add(rule(id="r", select={"after": 2, "every": 3}))
    assert pattern(rules, GET_PRODUCT, 9) == [None, None, None, None, "r", None, None, "r", None]


def test_counts_are_reported() -> None:
    rules = RuleSet()
    rules.add(rule(id="r", select={"times": 1}))
    pattern(rules, GET_PRODUCT, 3)
    (described,) = rules.describe()
    assert (described["id"], described["matches"], described["hits"]) == ("r", 3, 1)


def test_expiry_uses_the_clock() -> None:
    now = [100.0]
    rules = RuleSet(clock=lambda: now[0])
    rules.add(rule(id="r", select={"expires_after_s": 5}))
    assert pattern(rules, GET_PRODUCT, 1) == ["r"]
    now[0] = 106.0
    assert pattern(rules, GET_PRODUCT, 1) == [None]


def test_ids_are_generated_and_must_be_unique() -> None:
    rules = RuleSet()
    assert rules.add(rule()) == "f1"
    rules.add(rule(id="mine"))
    with pytest.raises(ValueError, match="exists already"):
        rules.add(rule(id="mine"))
    assert rules.remove("mine")
    assert not rules.remove("mine")


@given(seed=st.integers(), probability=st.floats(0.05, 0.95))
def test_a_seeded_probability_gives_the_same_run_twice(seed: int, probability: float) -> None:
    runs = []
    for _ in range(2):
        rules = RuleSet()
        rules.add(rule(id="p", select={"probability": probability, "seed": seed}))
        runs.append(pattern(rules, GET_PRODUCT, 50))
    assert runs[0] == runs[1]


def test_probability_hits_roughly_its_rate() -> None:
    rules = RuleSet()
    rules.add(rule(id="p", select={"probability": 0.2, "seed": 1}))
    hits = sum(1 for r in pattern(rules, GET_PRODUCT, 2000) if r)
    assert 320 <= hits <= 480
