"""Fault rules that can never fire are refused, on the demo API as on any document
(the demo is one): an unknown operationId or role, methods the named operation
lacks, or a path none of its operations serves."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from mock_testkit import harness_mock_process

from mocks.server import MockServer

BOOKS = Path(__file__).parents[1] / "data" / "books"


@pytest.mark.parametrize(
    ("match", "reason"),
    [
        ({"operation": "Login"}, "no operation 'Login'"),  # the RealWorld name, not the demo's
        ({"role": "refreshing"}, "unknown role"),
        ({"operation": "getProduct", "methods": ["POST"]}, "match no operation"),
        ({"path": "/v1/nowhere"}, "match no operation"),
        ({"path": "/products/*"}, "match no operation"),  # the base path left out
    ],
)
def test_the_demo_refuses_rules_that_match_none_of_its_operations(
    harness_mock: MockServer, match: dict[str, object], reason: str
) -> None:
    refused = httpx.post(
        harness_mock.control_url + "/faults", json={"match": match, "action": {"type": "reset"}}
    )
    assert refused.status_code == 400
    assert reason in refused.json()["detail"]


@pytest.mark.parametrize(
    "match",
    [
        {"operation": "login"},
        {"role": ["read", "list"]},
        {"operation": "*"},
        {"path": "/v1/products/*"},
    ],
)
def test_the_demo_accepts_rules_that_can_fire(
    harness_mock: MockServer, match: dict[str, object]
) -> None:
    added = httpx.post(
        harness_mock.control_url + "/faults", json={"match": match, "action": {"type": "reset"}}
    )
    assert added.status_code == 201, added.text


def test_a_role_rule_fires_on_the_demo_and_the_journal_names_the_role(
    harness_mock: MockServer,
) -> None:
    rule = {"match": {"role": "login"}, "action": {"type": "status", "status": 503}}
    assert httpx.post(harness_mock.control_url + "/faults", json=rule).status_code == 201
    answer = httpx.post(
        harness_mock.base_url + "/v1/auth/login", json={"email": "a@b.c", "password": "x"}
    )
    assert answer.status_code == 503
    entry = httpx.get(harness_mock.control_url + "/journal").json()["entries"][-1]
    assert (entry["operation"], entry["role"], entry["status"]) == ("login", "login", 503)


def test_a_scenario_with_rules_the_document_cannot_fire_is_warned_about(tmp_path: Path) -> None:
    scenario = tmp_path / "refreshes.yaml"
    scenario.write_text(
        "name: refreshes\nfaults:\n"
        "  - {id: refresh-503, match: {role: refresh}, action: {type: status, status: 503}}\n"
        "  - {id: reads-slow, match: {role: read}, action: {type: delay},"
        " delay: {type: fixed, ms: 1}}\n"
    )
    stderr = tmp_path / "stderr.txt"
    args = ("--config", str(BOOKS / "harness.yaml"), "--scenario", str(scenario))
    with harness_mock_process(*args, stderr_path=stderr) as mock:
        assert "Books: 7 operations" in mock.banner
    warnings = stderr.read_text()
    assert "refresh-503: no operation has role refresh" in warnings
    assert "reads-slow" not in warnings


def test_a_rule_on_one_concrete_item_path_of_a_document_is_accepted() -> None:
    """`/api/books/7` is a path `/api/books/{bookId}` serves: the rule can fire; a path
    one segment longer is none of the document's and is refused."""
    from contracts.config import load_config

    config = load_config(BOOKS / "harness.yaml")
    with MockServer(spec=config.spec_location, config=config) as mock:
        rule = {"match": {"path": "/api/books/7"}, "action": {"type": "reset"}}
        accepted = httpx.post(mock.control_url + "/faults", json=rule)
        deeper = rule | {"match": {"path": "/api/books/7/pages/2"}}
        refused = httpx.post(mock.control_url + "/faults", json=deeper)
    assert accepted.status_code == 201, accepted.text
    assert refused.status_code == 400, refused.text
