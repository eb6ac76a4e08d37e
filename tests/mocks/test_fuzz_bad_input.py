"""A schemathesis negative run against the live mock: input that breaks the
contract must get a 4xx RFC 9457 problem, never a 5xx, and never kill the mock."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, status_code_conformance

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from contracts.openapi import DOCUMENT_PATH
from mocks.server import MockServer

schema = schemathesis.openapi.from_path(DOCUMENT_PATH)
# Random exploration locally; a fixed sequence in CI so a green main stays green.
schema.config.generation.update(
    modes=[GenerationMode.NEGATIVE], max_examples=25, deterministic=bool(os.environ.get("CI"))
)


def _is_problem(response: Any) -> None:
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]  # schemathesis: lists
    assert content_type.startswith("application/problem+json"), response.text
    body = response.json()
    assert body["status"] == response.status_code
    for member in ("type", "title", "detail", "code"):
        assert body[member], f"problem without {member}: {body}"


@pytest.fixture(scope="module")
def fresh_bearer(harness_mock_session: MockServer) -> Iterator[Callable[[], dict[str, str]]]:
    # A fresh mock and session per case: the run logs out and edits the demo user too.
    with httpx.Client(base_url=harness_mock_session.base_url) as client:

        def login() -> dict[str, str]:
            client.post("/__harness/reset").raise_for_status()
            body = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
            response = client.post("/v1/auth/login", json=body)
            response.raise_for_status()
            return {"Authorization": f"Bearer {response.json()['access_token']}"}

        yield login


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_bad_input_gets_a_4xx_problem(
    case: Any, harness_mock_session: MockServer, fresh_bearer: Callable[[], dict[str, str]]
) -> None:
    # Our bearer undoes a case whose mutation was to drop Authorization; when that is
    # all that made it invalid (its other mutation can serialize to nothing, e.g. an
    # empty extra query name), it is valid as sent, so acceptance proves nothing.
    dropped_auth = "Authorization" not in (case.headers or {})
    response = case.call(base_url=harness_mock_session.base_url, headers=fresh_bearer())
    assert response.status_code < 500, response.text
    _is_problem(response)
    checks: list[Any] = [not_a_server_error, status_code_conformance]
    if not dropped_auth:
        checks.append(negative_data_rejection)
    case.validate_response(response, checks=checks)


def test_the_mock_survives_the_run(harness_mock_session: MockServer) -> None:
    health = httpx.get(harness_mock_session.control_url + "/health")
    assert health.status_code == 200
