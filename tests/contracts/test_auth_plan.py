"""Binding a configuration to a document: roles, the token's scheme and prefix,
bodies built from schemas, and a clear error for each wrong setting."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.auth_plan import plan_auth
from contracts.config import ConfigError, HarnessConfig
from contracts.document import Document
from contracts.templates import fields_in, find_pointer, get_pointer, render, set_pointer


def _doc(scheme: dict[str, Any]) -> Document:
    wrapped = {
        "type": "object",
        "required": ["user"],
        "properties": {
            "user": {
                "type": "object",
                "properties": {"email": {"type": "string"}, "password": {"type": "string"}},
            }
        },
    }
    return Document(
        {
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "servers": [{"url": "/api"}],
            "security": [{"S": []}],
            "components": {"securitySchemes": {"S": scheme}},
            "paths": {
                "/users/login": {
                    "post": {
                        "operationId": "Login",
                        "security": [],
                        "requestBody": {"content": {"application/json": {"schema": wrapped}}},
                        "responses": {"200": {"description": "ok"}},
                    }
                },
                "/user": {
                    "get": {"operationId": "Me", "responses": {"200": {"description": "ok"}}}
                },
            },
        }
    )


APIKEY = {"type": "apiKey", "in": "header", "name": "Authorization"}
IDENTITY = {"email": "a@example.com", "password": "pw"}


def _config(**auth: Any) -> HarnessConfig:
    return HarnessConfig.model_validate(
        {
            "roles": {"login": "Login", "current_user": "Me"},
            "auth": {"identities": [IDENTITY], **auth},
        }
    )


def test_a_wrapped_login_body_is_built_from_the_schema_and_the_prefix_configured() -> None:
    plan = plan_auth(_config(prefix="Token"), _doc(APIKEY))
    assert plan.login is not None
    assert plan.login.body == {"user": {"email": "{email}", "password": "{password}"}}
    assert plan.placement is not None
    assert (plan.placement.name, plan.placement.value("t0k")) == ("Authorization", "Token t0k")
    assert plan.carries_session(plan.current_user) if plan.current_user else False
    assert not plan.carries_session(plan.login.operation)  # security: [] is public


@pytest.mark.parametrize(
    ("scheme", "value"),
    [
        ({"type": "http", "scheme": "bearer"}, "Bearer t"),
        (
            {"type": "oauth2", "flows": {"password": {"tokenUrl": "/token", "scopes": {}}}},
            "Bearer t",
        ),
        ({"type": "apiKey", "in": "header", "name": "X-Token"}, "t"),
    ],
)
def test_the_prefix_follows_the_scheme(scheme: dict[str, Any], value: str) -> None:
    plan = plan_auth(_config(), _doc(scheme))
    assert plan.placement is not None
    assert plan.placement.value("t") == value


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            HarnessConfig.model_validate({"roles": {"login": "LogIn"}}),
            "roles.login: the document has no operation 'LogIn'",
        ),
        (
            _config(scheme="Bearer"),
            "auth.scheme: the document declares no security scheme 'Bearer'",
        ),
        (HarnessConfig.model_validate({"roles": {"login": "Login"}}), "auth.identities"),
        (
            _config(login={"body": {"login": "{username}", "password": "{password}"}}),
            "the login body names username",
        ),
        (
            _config(credentials={"Nope": {"token": "x"}}),
            "auth.credentials.Nope: no such security scheme",
        ),
    ],
)
def test_each_wrong_setting_is_named(config: HarnessConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_auth(config, _doc(APIKEY))


def test_templates_render_read_back_and_pointers_find_tokens() -> None:
    template = {"user": {"email": "{email}", "password": "{password}"}, "n": "id-{email}"}
    body = render(template, IDENTITY)
    assert body == {"user": IDENTITY, "n": "id-a@example.com"}
    assert fields_in(template, body) == IDENTITY
    answer = {"user": {"email": "a", "token": "jwt"}}
    assert find_pointer(answer, ("access_token", "token")) == "/user/token"
    assert get_pointer(answer, "/user/token") == "jwt"
    with pytest.raises(KeyError):
        get_pointer(answer, "/user/jwt")
    assert set_pointer({}, "/data/access_token", "t") == {"data": {"access_token": "t"}}
