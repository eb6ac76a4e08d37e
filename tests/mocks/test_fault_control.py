"""The control API for faults and scenarios over HTTP: /__harness/faults and
/__harness/scenario, their 400/404/409 problems with reasons, and reset."""

from __future__ import annotations

import re
from typing import Any

import pytest
from mock_testkit import PRODUCTS, ApiClient, assert_dropped, assert_problem, fetch

from harness.control import ControlClient
from mocks.scenarios import builtin_names
from mocks.server import MockServer
from mocks.settings import MockSettings

FAULTS = "/__harness/faults"
SCENARIO = "/__harness/scenario"
CONFIG = "/__harness/config"
# A rule on a request these tests never send (a document mock refuses a path it lacks).
NEVER_SENT = {"methods": ["DELETE"], "path": "/v1/products/*"}
RESET = {"action": {"type": "reset"}}


def _ids(control: ControlClient) -> list[str]:
    return [rule["id"] for rule in control.faults()]


# --- /__harness/faults -------------------------------------------------------------------


def test_adding_a_rule_returns_201_and_its_id(
    api: ApiClient, harness_control: ControlClient
) -> None:
    response = api.post(FAULTS, json={"id": "mine", **RESET})
    assert response.status_code == 201
    assert response.json() == {"id": "mine"}
    generated = api.post(FAULTS, json=RESET)
    assert generated.status_code == 201
    assert re.fullmatch(r"f\d+", generated.json()["id"])
    assert _ids(harness_control) == ["mine", generated.json()["id"]]


def test_listing_shows_each_rule_with_match_and_hit_counts(
    api: ApiClient, harness_control: ControlClient
) -> None:
    rule = {
        "id": "twice",
        "description": "two 503s on listings",
        "match": {"methods": ["get"], "path": PRODUCTS},
        "action": {"type": "status", "status": 503, "retry_after": 1},
        "select": {"times": 2},
    }
    assert api.post(FAULTS, json=rule).status_code == 201
    never_rule = {"id": "never", "match": NEVER_SENT, **RESET}
    assert api.post(FAULTS, json=never_rule).status_code == 201
    statuses = [api.get(PRODUCTS).status_code for _ in range(3)]
    assert statuses == [503, 503, 401]
    listing = api.get(FAULTS)
    assert listing.status_code == 200
    assert listing.headers["cache-control"] == "no-store"
    twice, never = listing.json()["faults"]
    assert (twice["id"], twice["matches"], twice["hits"]) == ("twice", 3, 2)
    assert twice["rule"] == {
        "id": "twice",
        "description": "two 503s on listings",
        "match": {"methods": ["GET"], "path": PRODUCTS, "headers": {}},
        "action": {"type": "status", "status": 503, "headers": {}, "retry_after": 1},
        "select": {"after": 0, "times": 2},
    }
    assert (never["id"], never["matches"], never["hits"]) == ("never", 0, 0)


def test_deleting_one_rule_and_all_rules(api: ApiClient, harness_control: ControlClient) -> None:
    for rule_id in ("a", "b", "c"):
        harness_control.add_fault({"id": rule_id, "match": NEVER_SENT, **RESET})
    response = api.delete(f"{FAULTS}/b")
    assert (response.status_code, response.content) == (204, b"")
    assert _ids(harness_control) == ["a", "c"]
    missing = assert_problem(api.delete(f"{FAULTS}/b"), 404, "fault_rule_not_found")
    assert "'b'" in missing.detail
    assert _ids(harness_control) == ["a", "c"]
    response = api.delete(FAULTS)
    assert (response.status_code, response.content) == (204, b"")
    assert harness_control.faults() == []
    assert api.delete(FAULTS).status_code == 204  # clearing nothing is fine


def test_a_duplicate_id_is_a_409(api: ApiClient, harness_control: ControlClient) -> None:
    harness_control.add_fault({"id": "dup", **RESET})
    problem = assert_problem(api.post(FAULTS, json={"id": "dup", **RESET}), 409)
    assert problem.code == "fault_rule_exists"
    assert "'dup' exists already" in problem.detail
    assert _ids(harness_control) == ["dup"]


@pytest.mark.parametrize(
    ("rule", "field", "reason"),
    [
        ({}, "(body)", "a delay action needs a delay"),
        ({"action": {"type": "explode"}}, "action", "does not match any of the expected tags"),
        ({"action": {"type": "status", "status": 700}}, "action.status.status", "599"),
        (
            {"action": {"type": "status", "retry_after": "soon"}},
            "action.status.retry_after",
            "whole seconds or an HTTP-date",
        ),
        ({"action": {"type": "hang", "seconds": 0}}, "action.hang.seconds", "greater than 0"),
        ({"match": {"path": "v1/products"}, **RESET}, "match.path", "must start with /"),
        ({"match": {"methods": ["G E T"]}, **RESET}, "match.methods", "HTTP method names"),
        ({"select": {"every": 0}, **RESET}, "select.every", "greater than or equal to 1"),
        ({"select": {"probability": 2}, **RESET}, "select.probability", "less than or equal"),
        ({"select": {"expires_after_s": 0}, **RESET}, "select.expires_after_s", "greater"),
        (
            {"action": {"type": "delay"}, "delay": {"type": "uniform", "min_ms": 9, "max_ms": 1}},
            "delay.uniform",
            "max_ms must not be below min_ms",
        ),
        ({"id": "no spaces", **RESET}, "id", "should match pattern"),
        ({"extra": True, **RESET}, "extra", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_rule_is_a_400_naming_the_field_and_reason(
    api: ApiClient, harness_control: ControlClient, rule: dict[str, Any], field: str, reason: str
) -> None:
    problem = assert_problem(api.post(FAULTS, json=rule), 400, "invalid_fault_rule")
    assert problem.detail.startswith("Invalid fault rule: ")
    assert f"{field}: " in problem.detail
    assert reason in problem.detail
    errors = problem.model_extra["errors"]  # type: ignore[index]
    assert any(error.startswith(f"{field}: ") and reason in error for error in errors)
    assert harness_control.faults() == []


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"{nope", "malformed_json"), (b"[1]", "invalid_body"), (b'"reset"', "invalid_body")],
)
def test_a_body_that_is_not_a_json_object_is_a_400(
    api: ApiClient, harness_control: ControlClient, raw: bytes, code: str
) -> None:
    assert_problem(
        api.post(FAULTS, content=raw, headers={"content-type": "application/json"}), 400, code
    )
    assert harness_control.faults() == []


def test_a_rule_without_an_id_never_collides(
    api: ApiClient, harness_control: ControlClient
) -> None:
    counter = int(harness_control.add_fault(RESET)[1:])
    harness_control.add_fault({"id": f"f{counter + 2}", **RESET})
    assert api.post(FAULTS, json=RESET).status_code == 201


def test_control_calls_are_never_faulted(
    harness_mock: MockServer, api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.add_fault({"match": {"path": "*"}, **RESET})
    assert_dropped(fetch("httpx", "GET", harness_mock.base_url + PRODUCTS), "reset")
    assert api.get("/__harness/health").status_code == 200
    assert api.get(FAULTS).json()["faults"][0]["hits"] == 1


# --- /__harness/scenario ------------------------------------------------------------------


def test_a_builtin_scenario_replaces_the_rules(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.add_fault({"id": "earlier", **RESET})
    response = api.post(SCENARIO, json={"name": "flaky"})
    assert response.status_code == 200
    body = response.json()
    assert body["scenario"] == "flaky"
    assert body["config"] == MockSettings().public()
    assert [rule["id"] for rule in body["faults"]] == ["flaky-503", "flaky-slow"]
    assert harness_control.faults() == body["faults"]
    flaky = body["faults"][0]["rule"]
    assert flaky["action"] == {"type": "status", "status": 503, "headers": {}, "retry_after": 1}
    assert flaky["select"]["probability"] == 0.03


def test_token_churn_shortens_tokens_in_config_and_at_login(
    api: ApiClient, harness_control: ControlClient
) -> None:
    body = api.post(SCENARIO, json={"name": "token-churn"}).json()
    assert (body["faults"], body["config"]["access_ttl_s"]) == ([], 5)
    config = harness_control.config()
    assert (config["access_ttl_s"], config["rotate_refresh_tokens"]) == (5, True)
    assert api.login().expires_in == 5


def test_a_scenario_config_applies_on_top_of_the_startup_config(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.configure(fault_header=True, access_ttl_s=42)
    api.post(SCENARIO, json={"name": "chaos"})
    assert harness_control.config() == MockSettings(access_ttl_s=60).public()
    assert len(harness_control.faults()) == 9


def test_an_inline_scenario_applies_rules_and_config(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.add_fault({"id": "earlier", **RESET})
    inline = {
        "name": "mine",
        "config": {"access_ttl_s": 7},
        "faults": [{"id": "teapot", "action": {"type": "status", "status": 418}}],
    }
    body = api.post(SCENARIO, json={"inline": inline}).json()
    assert body["scenario"] == "mine"
    assert _ids(harness_control) == ["teapot"]
    assert harness_control.config()["access_ttl_s"] == 7
    assert_problem(api.get(PRODUCTS), 418, "injected_fault")


def test_an_unknown_builtin_is_a_400_listing_the_builtins(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.add_fault({"id": "kept", **RESET})
    problem = assert_problem(api.post(SCENARIO, json={"name": "nope"}), 400, "invalid_scenario")
    assert problem.detail == (
        f"no built-in scenario 'nope'; built-ins: {', '.join(builtin_names())}"
    )
    for name in ("chaos", "flaky", "rate-limited", "slow", "timeouts", "token-churn"):
        assert name in problem.detail
    assert _ids(harness_control) == ["kept"]  # nothing changed


@pytest.mark.parametrize(
    ("inline", "reason"),
    [
        (
            {"name": "x", "faults": [{"select": {"every": 0}, **RESET}]},
            "inline scenario: faults.0.select.every: Input should be greater than or equal to 1",
        ),
        ({"name": "x", "config": {"access_ttl_s": 0}}, "config.access_ttl_s"),
        ({"name": "x", "config": {"nonsense": 1}}, "config.nonsense: Extra inputs"),
        ({"faults": []}, "name: Field required"),
        (
            {"name": "x", "faults": [{"id": "a", **RESET}, {"id": "a", **RESET}]},
            "fault rule ids must be unique: a",
        ),
        ("flaky", "Input should be a valid dictionary"),
    ],
)
def test_a_bad_inline_scenario_is_a_400_with_the_reason(
    api: ApiClient, harness_control: ControlClient, inline: Any, reason: str
) -> None:
    harness_control.add_fault({"id": "kept", **RESET})
    response = api.post(SCENARIO, json={"inline": inline})
    problem = assert_problem(response, 400, "invalid_scenario")
    assert reason in problem.detail
    assert _ids(harness_control) == ["kept"]
    assert harness_control.config() == MockSettings().public()


@pytest.mark.parametrize(
    "body",
    [{}, {"name": "flaky", "inline": {"name": "x"}}, {"nam": "flaky"}, ["flaky"]],
)
def test_other_scenario_bodies_are_a_400(api: ApiClient, body: Any) -> None:
    problem = assert_problem(api.post(SCENARIO, json=body), 400, "invalid_body")
    assert "name" in problem.detail or "JSON object" in problem.detail


def test_a_scenario_is_applied_whole_or_not_at_all(
    api: ApiClient, harness_control: ControlClient
) -> None:
    counter = int(harness_control.add_fault({"match": NEVER_SENT, **RESET})[1:])
    inline = {
        "name": "clash",
        "config": {"access_ttl_s": 9},
        "faults": [{"id": f"f{counter + 2}", **RESET}, RESET],
    }
    response = api.post(SCENARIO, json={"inline": inline})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert harness_control.config()["access_ttl_s"] == 300
    else:
        assert len(harness_control.faults()) == 2


def test_reset_removes_rules_and_restores_the_config(
    api: ApiClient, harness_control: ControlClient
) -> None:
    api.post(SCENARIO, json={"name": "token-churn"})
    api.post(SCENARIO, json={"name": "rate-limited"})  # keeps the startup TTL
    assert harness_control.config()["access_ttl_s"] == 300
    api.post(SCENARIO, json={"name": "token-churn"})
    harness_control.add_fault(RESET)
    assert api.post("/__harness/reset").status_code == 200
    assert harness_control.faults() == []
    assert harness_control.config() == MockSettings().public()
    assert api.get(PRODUCTS).status_code == 401
