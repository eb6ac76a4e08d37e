"""The suite's checks and session on real mock responses: each check passes on
what the mock answers and fails, with a message naming the rule, on a broken
answer."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from schemathesis import Response

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from contracts.suite import checks
from contracts.suite.active import activate
from contracts.suite.session import Credentials, SessionKeeper
from contracts.suite.setup import demo_config, prepare
from harness.control import ControlClient
from mocks.server import MockServer


@pytest.fixture
def keeper(harness_mock: MockServer) -> Iterator[SessionKeeper]:
    prepared = prepare(
        demo_config(),
        harness_mock.base_url,
        credentials=Credentials(DEMO_EMAIL, DEMO_PASSWORD),
        check_server=False,
    )
    with activate(prepared.keeper) as keeper:  # the checks read the document through it
        yield keeper
    keeper.close()


def _case(operation_id: str, query: dict[str, Any] | None = None) -> Any:
    document = demo_config()
    from contracts.document import load_document

    op = load_document(str(document.spec_location)).operation(operation_id)
    definition = SimpleNamespace(raw={"operationId": operation_id})
    operation = SimpleNamespace(definition=definition, method=op.method, path=op.path)
    return SimpleNamespace(operation=operation, query=query or {})


def _response(got: requests.Response) -> Any:
    """The response as schemathesis hands it to checks: headers as lists."""
    seen = Response.from_any(got)
    return SimpleNamespace(
        status_code=seen.status_code,
        headers={name: list(values) for name, values in seen.headers.items()},
        content=seen.content,
        request=seen.request,
    )


def test_retry_after_passes_seconds_and_dates_and_fails_without(
    keeper: SessionKeeper, harness_faults: Any
) -> None:
    case, token = _case("getProfile"), keeper.access_token()
    for value in ("2", "Wed, 21 Oct 2026 07:28:00 GMT"):
        harness_faults.add(
            f"status;status=429;retry_after={value}", path="/v1/users/profile", times=1
        )
        got = _response(keeper.send("GET", "/v1/users/profile", token=token))
        assert got.status_code == 429
        checks.retry_after(None, got, case)
        checks.problem_details(None, got, case)
    got.headers = {k: v for k, v in got.headers.items() if k.lower() != "retry-after"}
    with pytest.raises(checks.ContractViolation, match="429 without Retry-After"):
        checks.retry_after(None, got, case)
    got.headers["Retry-After"] = ["soon"]
    with pytest.raises(checks.ContractViolation, match="neither delay-seconds nor an HTTP-date"):
        checks.retry_after(None, got, case)


@pytest.mark.parametrize("query", [{}, {"page": "15", "page_size": "20"}, {"page": "99"}])
def test_pagination_agrees_on_every_page_and_catches_a_lie(
    keeper: SessionKeeper, query: dict[str, str]
) -> None:
    got = _response(keeper.send("GET", "/v1/products", token=keeper.access_token(), params=query))
    case = _case("listProducts", query)
    checks.pagination_headers(None, got, case)
    got.headers["x-total-count"] = [str(int(got.headers["x-total-count"][0]) + 40)]
    with pytest.raises(checks.ContractViolation, match="X-Total-Count"):
        checks.pagination_headers(None, got, case)


def test_a_problem_must_be_problem_json(keeper: SessionKeeper) -> None:
    got = _response(keeper.send("GET", "/v1/products/nope", token=keeper.access_token()))
    checks.problem_details(None, got, _case("getProduct"))
    got.headers["content-type"] = ["application/json"]
    with pytest.raises(checks.ContractViolation, match="declares application/problem"):
        checks.problem_details(None, got, _case("getProduct"))


def test_the_keeper_refreshes_an_expired_token_and_logs_in_after_logout(
    keeper: SessionKeeper, harness_control: ControlClient
) -> None:
    first = keeper.access_token()
    harness_control.expire_tokens()
    assert keeper.send("GET", "/v1/users/profile", token=first).status_code == 401
    second = keeper.renew(first)
    assert keeper.renew(first) == second  # a second worker's 401 for the old token: no new renewal
    assert keeper.send("GET", "/v1/users/profile", token=second).status_code == 200
    assert keeper.stats.refreshes == 1
    assert keeper.send("POST", "/v1/auth/logout", token=second).status_code == 204
    third = keeper.renew(second)
    assert keeper.send("GET", "/v1/users/profile", token=third).status_code == 200
    assert (keeper.stats.rejected_refreshes, keeper.stats.logins) == (1, 2)


def test_the_keeper_follows_an_email_change_and_restores_the_profile(
    keeper: SessionKeeper,
) -> None:
    token = keeper.access_token()
    body = {"email": "moved@example.com", "name": "Moved"}
    changed = keeper.send("PUT", "/v1/users/update", token=token, json=body)
    assert changed.status_code == 200
    keeper.follow_update(token, body)
    keeper.send("POST", "/v1/auth/logout", token=token)
    assert keeper.renew(token)  # logs in again, as moved@example.com
    assert keeper.stats.logins == 2
    assert keeper.restore_profile(keeper.plan_update)
    profile = keeper.send("GET", "/v1/users/profile", token=keeper.access_token()).json()
    assert profile["email"] == DEMO_EMAIL
    assert profile["name"] != "Moved"
