"""The pytest plugin, run in an inner pytest session (pytester): its fixtures, and
that each test starts from the mock's reset state whatever the previous one did."""

from __future__ import annotations

import pytest

CHANGE_THEN_CHECK = """
import httpx

from mocks.settings import MockSettings

SERVERS = []


def test_1_changes_config_data_and_clock(harness_mock, harness_control):
    SERVERS.append(harness_mock)
    harness_control.configure(api_key="k", access_ttl_s=5)
    headers = {"X-API-Key": "k"}
    login = httpx.post(
        harness_mock.base_url + "/v1/auth/register",
        json={"email": "left@example.com", "password": "left-behind", "name": "Left"},
        headers=headers,
    )
    assert login.status_code == 201
    token = login.json()["access_token"]
    created = httpx.post(
        harness_mock.base_url + "/v1/products",
        json={"name": "Left", "price": 1, "category_id": "home"},
        headers=headers | {"Authorization": "Bearer " + token},
    )
    assert created.status_code == 201
    harness_control.advance_clock(1000)
    assert harness_control.health()["api"]["resources"]["products"] == 301


def test_2_sees_the_reset_state(harness_mock, harness_control):
    assert harness_mock is SERVERS[0]  # one server for the session
    assert harness_control.base_url == harness_mock.base_url
    assert harness_control.config() == MockSettings().public()
    health = harness_control.health()
    assert health["api"]["resources"]["products"] == 300
    assert health["journal"]["counters"] == {}
    assert harness_control.entries() == []
    assert httpx.get(harness_mock.control_url + "/clock").json()["offset_s"] == 0
    login = httpx.post(
        harness_mock.base_url + "/v1/auth/login",
        json={"email": "left@example.com", "password": "left-behind"},
    )
    assert login.status_code == 401
"""

OVERRIDDEN_SETTINGS = """
import httpx
import pytest

from mocks.settings import MockSettings


@pytest.fixture(scope="session")
def harness_mock_settings():
    return MockSettings(api_key="suite-key", access_ttl_s=30)


def test_1_starts_with_the_overridden_settings(harness_mock, harness_control):
    assert harness_control.config()["api_key_set"] is True
    harness_control.configure(api_key=None)


def test_2_reset_returns_to_the_overridden_settings(harness_mock, harness_control):
    config = harness_control.config()
    assert (config["api_key_set"], config["access_ttl_s"]) == (True, 30)
    response = httpx.get(harness_mock.base_url + "/v1/products")
    assert response.json()["code"] == "missing_api_key"
"""


@pytest.mark.parametrize(
    "source", [CHANGE_THEN_CHECK, OVERRIDDEN_SETTINGS], ids=["reset", "settings"]
)
def test_every_test_starts_from_the_reset_mock(pytester: pytest.Pytester, source: str) -> None:
    pytester.makepyfile(test_inner=source)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_failing_inner_test_is_reported(pytester: pytest.Pytester) -> None:
    # The inner runs above could pass vacuously if the fixtures never ran; this one must fail.
    pytester.makepyfile(
        test_inner="""
        def test_config_is_not_what_it_is(harness_control):
            assert harness_control.config()["access_ttl_s"] == 1
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert 300 == 1*"])


REQUIRED_TOKEN = """
import httpx
import pytest


@pytest.fixture(scope="session")
def harness_control_token():
    return True


def test_the_fixtures_send_the_token(harness_mock, harness_control):
    assert harness_mock.control_token
    assert harness_control.health()["status"] == "ok"
    assert httpx.get(harness_mock.control_url + "/health").status_code == 401
"""


def test_a_suite_can_require_the_control_token(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=REQUIRED_TOKEN)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
