"""The control API under /__harness/: what each call does, and 400s with a reason for
bad input."""

from __future__ import annotations

import time
from typing import Any

import pytest
from mock_testkit import PRODUCTS, ApiClient, Tokens, assert_problem

from contracts.demo import DEFAULT_SEED
from harness.control import ControlClient
from mocks.settings import MockSettings

CLOCK = "/__harness/clock"
CONFIG = "/__harness/config"


def test_health_reports_the_mock(harness_control: ControlClient) -> None:
    health = harness_control.health()
    assert health["status"] == "ok"
    assert health["version"]
    assert health["seed"] == DEFAULT_SEED
    assert health["api"]["title"] == "Shop API"  # the API served, as its document names it
    assert health["api"]["operations"] == 11
    assert health["api"]["resources"]["products"] == 300
    assert health["uptime_s"] >= 0
    assert health["journal"]["capacity"] > 0


def test_reset_restores_data_sessions_clock_and_config(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    api.create_product(demo)
    api.register("gone@example.com")
    harness_control.advance_clock(100)
    harness_control.configure(access_ttl_s=5, rotate_refresh_tokens=False)
    response = api.post("/__harness/reset")
    assert response.status_code == 200
    assert response.json() == {"status": "reset", "config": MockSettings().public()}
    assert harness_control.config() == MockSettings().public()
    assert harness_control.health()["api"]["resources"]["products"] == 300
    assert api.get(CLOCK).json()["offset_s"] == 0
    assert harness_control.entries() == []
    failed = api.post("/v1/auth/login", json={"email": "gone@example.com", "password": "x"})
    assert_problem(failed, 401, "invalid_credentials")


def test_clock_advances_and_reports(api: ApiClient, harness_control: ControlClient) -> None:
    before = api.get(CLOCK).json()
    assert before["offset_s"] == 0
    assert abs(before["now"] - time.time()) < 5
    now = harness_control.advance_clock(3600.5)
    after = api.get(CLOCK).json()
    assert after["offset_s"] == 3600.5
    assert after["now"] >= now >= before["now"] + 3600.5
    harness_control.advance_clock(0)
    assert api.get(CLOCK).json()["offset_s"] == 3600.5


def test_expire_tokens_reports_how_far_it_reached(
    api: ApiClient, harness_control: ControlClient
) -> None:
    api.login()
    api.login()
    response = api.post("/__harness/tokens/expire")
    assert response.status_code == 200
    assert response.json() == {"expired_through": 2}


def test_get_and_put_config(api: ApiClient, harness_control: ControlClient) -> None:
    assert harness_control.config() == MockSettings().public()
    updated = harness_control.configure(access_ttl_s=42, api_key="k")
    assert updated == MockSettings(access_ttl_s=42, api_key="k").public()
    assert harness_control.config() == updated
    assert harness_control.configure() == updated  # an empty change changes nothing
    assert api.put(CONFIG, content=b"").json() == updated


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"advance_s": -1}, "between 0 and ten years"),
        ({"advance_s": 11 * 365 * 86400}, "between 0 and ten years"),
        ({"advance_s": "60"}, "advance_s"),
        ({"advance_s": True}, "advance_s"),
        ({"advance_s": None}, "advance_s"),
        ({"advance_s": 1, "extra": 1}, "nothing else"),
        ({}, "advance_s"),
        ([60], "JSON object"),
    ],
)
def test_bad_clock_advances_are_a_400_with_a_reason(api: ApiClient, body: Any, reason: str) -> None:
    problem = assert_problem(api.post(CLOCK, json=body), 400)
    assert reason in problem.detail
    assert api.get(CLOCK).json()["offset_s"] == 0


@pytest.mark.parametrize("raw", [b"{nope", b"advance_s=1", b"NaN", b'{"advance_s": NaN}'])
def test_non_json_clock_bodies_are_a_400(api: ApiClient, raw: bytes) -> None:
    response = api.post(CLOCK, content=raw, headers={"content-type": "application/json"})
    assert_problem(response, 400)
    assert api.get(CLOCK).json()["offset_s"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"nope": 1}, "nope"),
        ({"access_ttl_s": "60"}, "access_ttl_s"),
        ({"access_ttl_s": 1.5}, "access_ttl_s"),
        ({"access_ttl_s": 0}, "access_ttl_s"),
        ({"refresh_ttl_s": -1}, "refresh_ttl_s"),
        ({"reuse_detection": "yes"}, "reuse_detection"),
        ({"api_key": ""}, "api_key"),
        ({"signing_secret": ""}, "signing_secret"),
    ],
)
def test_bad_config_is_a_400_naming_the_field(
    api: ApiClient, harness_control: ControlClient, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(api.put(CONFIG, json={"api_key": "ok"} | body), 400, "invalid_config")
    assert field in problem.detail
    assert any(field in reason for reason in problem.model_extra["errors"])  # type: ignore[index]
    assert harness_control.config() == MockSettings().public()  # nothing applied


@pytest.mark.parametrize("raw", [b"{nope", b"[1]", b'"text"'])
def test_non_object_config_bodies_are_a_400(
    api: ApiClient, harness_control: ControlClient, raw: bytes
) -> None:
    assert_problem(api.put(CONFIG, content=raw, headers={"content-type": "application/json"}), 400)
    assert harness_control.config() == MockSettings().public()


@pytest.mark.parametrize(
    "path",
    ["/__harness", "/__harness/", "/__harness/nope", "/__harness/health/", "/__harness/tokens"],
)
def test_unknown_control_paths_are_a_404(api: ApiClient, path: str) -> None:
    assert_problem(api.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/__harness/health", "GET"),
        ("GET", "/__harness/reset", "POST"),
        ("PUT", "/__harness/journal", "DELETE, GET"),
        ("DELETE", "/__harness/clock", "GET, POST"),
        ("GET", "/__harness/tokens/expire", "POST"),
        ("POST", CONFIG, "GET, PUT"),
        ("PUT", "/__harness/faults", "DELETE, GET, POST"),
        ("GET", "/__harness/faults/f1", "DELETE"),
        ("GET", "/__harness/scenario", "POST"),
    ],
)
def test_wrong_control_methods_are_a_405_with_allow(
    api: ApiClient, method: str, path: str, allow: str
) -> None:
    response = api.request(method, path)
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allow


def test_control_responses_are_not_cached(api: ApiClient) -> None:
    for path in ("/__harness/health", CONFIG, CLOCK, "/__harness/journal"):
        assert api.get(path).headers["cache-control"] == "no-store"


def test_the_control_api_is_not_part_of_the_api(api: ApiClient, demo: Tokens) -> None:
    assert_problem(api.get("/v1/__harness/health", demo), 404, "not_found")
    assert api.get(PRODUCTS, demo).status_code == 200
