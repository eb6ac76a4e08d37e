"""The /v1/auth endpoints one call at a time: register, login, refresh, logout.

The token lifecycle across calls (expiry, rotation, reuse, revocation) is in
test_auth_lifecycle.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from mock_testkit import PROFILE, ApiClient, Tokens, assert_problem, tokens_from

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from harness.control import ControlClient

REALM = 'Bearer realm="api"'  # every 401's challenge names the demo's realm

REGISTER = "/v1/auth/register"
LOGIN = "/v1/auth/login"


def _register_body(**overrides: Any) -> dict[str, Any]:
    return {"email": "ada@example.com", "password": "analytical", "name": "Ada"} | overrides


# --- register ---------------------------------------------------------------------


def test_register_creates_an_account_and_a_session(api: ApiClient) -> None:
    response = api.post(REGISTER, json=_register_body())
    tokens = tokens_from(response, 201)
    assert response.headers["cache-control"] == "no-store"
    profile = api.get(PROFILE, tokens).json()
    assert (profile["email"], profile["name"]) == ("ada@example.com", "Ada")
    api.login("ada@example.com", "analytical")


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@Example.com"])
def test_register_with_a_taken_email_is_a_409(api: ApiClient, email: str) -> None:
    api.post(REGISTER, json=_register_body())
    response = api.post(REGISTER, json=_register_body(email=email, password="different-1"))
    assert_problem(response, 409, "email_taken")
    api.login("ada@example.com", "analytical")  # the first account is untouched


def test_register_with_the_demo_email_is_a_409(api: ApiClient) -> None:
    assert_problem(api.post(REGISTER, json=_register_body(email=DEMO_EMAIL)), 409, "email_taken")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_register_body(email="ada.example.com"), "email"),
        (_register_body(email="ada @example.com"), "email"),
        (_register_body(password="short12"), "password"),
        (_register_body(name=""), "name"),
        (_register_body(admin=True), "admin"),
        ({"email": "ada@example.com", "password": "analytical"}, "name"),
    ],
)
def test_register_rejects_bad_input_with_a_422(
    api: ApiClient, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(api.post(REGISTER, json=body), 422, "validation_failed")
    assert field in {e["field"] for e in problem.model_extra["errors"]}  # type: ignore[index]
    assert api.post(LOGIN, json={"email": body["email"], "password": "analytical"}).is_error


def test_a_password_of_exactly_eight_characters_is_enough(api: ApiClient) -> None:
    api.register("eight@example.com", password="12345678")


# --- login --------------------------------------------------------------------------


def test_login_returns_a_bearer_token_pair(api: ApiClient) -> None:
    response = api.post(LOGIN, json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    tokens = tokens_from(response)
    assert response.headers["cache-control"] == "no-store"
    assert tokens.expires_in == 300
    assert tokens.access_token.count(".") == 2  # a JWT
    assert tokens.refresh_token != tokens.access_token
    assert api.profile_status(tokens) == 200


def test_every_login_starts_a_new_session(api: ApiClient) -> None:
    first, second = api.login(), api.login()
    assert first.access_token != second.access_token
    assert first.refresh_token != second.refresh_token


def test_login_email_is_case_insensitive(api: ApiClient) -> None:
    api.login(DEMO_EMAIL.upper())


def test_expires_in_follows_the_configured_access_ttl(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.configure(access_ttl_s=60)
    assert api.login().expires_in == 60


@pytest.mark.parametrize(
    ("email", "password"),
    [(DEMO_EMAIL, "wrong-password"), ("nobody@example.com", DEMO_PASSWORD), (DEMO_EMAIL, "x")],
)
def test_wrong_credentials_are_a_401(api: ApiClient, email: str, password: str) -> None:
    response = api.post(LOGIN, json={"email": email, "password": password})
    assert_problem(response, 401, "invalid_credentials")
    assert response.headers["WWW-Authenticate"] == REALM


def test_login_with_an_empty_password_is_a_422(api: ApiClient) -> None:
    response = api.post(LOGIN, json={"email": DEMO_EMAIL, "password": ""})
    assert_problem(response, 422, "validation_failed")


# --- refresh and logout -----------------------------------------------------------


def test_refresh_returns_a_new_working_pair(api: ApiClient, demo: Tokens) -> None:
    refreshed = tokens_from(api.refresh(demo.refresh_token))
    assert refreshed.access_token != demo.access_token
    assert refreshed.expires_in == 300
    assert api.profile_status(refreshed) == 200


@pytest.mark.parametrize("token", ["rt-1.not-the-real-one", "garbage", "x" * 512])
def test_refresh_with_an_unknown_token_is_invalid_grant(api: ApiClient, token: str) -> None:
    response = api.refresh(token)
    assert_problem(response, 401, "invalid_grant")
    assert response.headers["WWW-Authenticate"] == REALM


@pytest.mark.parametrize("body", [{"refresh_token": ""}, {}, {"refresh_token": 5}])
def test_refresh_with_a_bad_body_is_a_422(api: ApiClient, body: dict[str, Any]) -> None:
    assert_problem(api.post("/v1/auth/refresh", json=body), 422, "validation_failed")


def test_logout_answers_204_without_a_body(api: ApiClient, demo: Tokens) -> None:
    response = api.post("/v1/auth/logout", demo)
    assert response.status_code == 204
    assert response.content == b""


def test_logout_needs_a_token(api: ApiClient) -> None:
    assert_problem(api.post("/v1/auth/logout"), 401, "token_missing")
