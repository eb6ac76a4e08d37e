"""GET /v1/users/profile and PUT /v1/users/update over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from mock_testkit import PROFILE, ApiClient, Tokens, assert_problem

from contracts import models
from contracts.demo import DEMO_EMAIL, DEMO_NAME, DEMO_PASSWORD

UPDATE = "/v1/users/update"


def _profile(api: ApiClient, auth: Tokens) -> models.User:
    response = api.get(PROFILE, auth)
    assert response.status_code == 200, response.text
    return models.User.model_validate_json(response.content)


def test_profile_is_the_signed_in_user(api: ApiClient, demo: Tokens) -> None:
    user = _profile(api, demo)
    assert (user.id, user.email, user.name) == ("usr_demo", DEMO_EMAIL, DEMO_NAME)
    assert user.created_at.utcoffset() is not None


def test_profile_of_a_registered_user(api: ApiClient) -> None:
    tokens = api.register("new.user@example.com", name="New User")
    user = _profile(api, tokens)
    assert (user.email, user.name) == ("new.user@example.com", "New User")
    assert user.id != "usr_demo"


def test_update_name_only(api: ApiClient, demo: Tokens) -> None:
    response = api.put(UPDATE, demo, json={"name": "Renamed"})
    assert response.status_code == 200, response.text
    updated = models.User.model_validate_json(response.content)
    assert (updated.name, updated.email) == ("Renamed", DEMO_EMAIL)
    assert _profile(api, demo) == updated


def test_an_empty_update_changes_nothing(api: ApiClient, demo: Tokens) -> None:
    before = _profile(api, demo)
    response = api.put(UPDATE, demo, json={})
    assert response.status_code == 200
    assert models.User.model_validate_json(response.content) == before


def test_update_email_moves_the_login(api: ApiClient, demo: Tokens) -> None:
    response = api.put(UPDATE, demo, json={"email": "moved@example.com", "name": "Moved"})
    assert response.status_code == 200, response.text
    assert _profile(api, demo).email == "moved@example.com"
    api.login("moved@example.com", DEMO_PASSWORD)
    old = api.post("/v1/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert_problem(old, 401, "invalid_credentials")
    api.register(DEMO_EMAIL)  # the old address is free again


@pytest.mark.parametrize("taken", ["taken@example.com", "TAKEN@Example.COM"])
def test_update_to_a_taken_email_is_a_409(api: ApiClient, demo: Tokens, taken: str) -> None:
    api.register("taken@example.com")
    assert_problem(api.put(UPDATE, demo, json={"email": taken}), 409, "email_taken")
    assert _profile(api, demo).email == DEMO_EMAIL


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email"},
        {"name": ""},
        {"name": "x" * 201},
        {"name": 5},
        {"nickname": "Dee"},
    ],
)
def test_invalid_updates_are_a_422(api: ApiClient, demo: Tokens, body: dict[str, Any]) -> None:
    assert_problem(api.put(UPDATE, demo, json=body), 422, "validation_failed")
    assert _profile(api, demo).name == DEMO_NAME


@pytest.mark.parametrize(("method", "path"), [("GET", PROFILE), ("PUT", UPDATE)])
def test_users_endpoints_need_a_token(api: ApiClient, method: str, path: str) -> None:
    assert_problem(api.request(method, path, json={}), 401, "token_missing")
