"""Fault rules cannot break HTTP framing: header names and values are RFC 9110 tokens and
field values (no CR, LF or NUL to inject a header), framing headers are the mock's, and
statuses that cannot carry what the rule asks (1xx at all, 204/304 with a body) are refused
with the field and the reason. Each attack is also replayed over a raw socket, so what a
client would have received is checked, not only the validator."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from mock_testkit import PRODUCTS, ApiClient, assert_problem
from pydantic import ValidationError

from harness.control import ControlClient
from mocks.fault_rules import FaultRule, parse_header_fault
from mocks.server import MockServer

FAULTS = "/__harness/faults"


def _status_rule(**action: Any) -> dict[str, Any]:
    return {"match": {"path": PRODUCTS}, "action": {"type": "status", **action}}


@pytest.mark.parametrize(
    ("action", "field", "reason"),
    [
        ({"headers": {"X-Ok": "a\r\nSet-Cookie: evil=1"}}, "action.status.headers", "CR, LF"),
        ({"headers": {"X-Ok": "a\nb"}}, "action.status.headers", "CR, LF"),
        ({"headers": {"X-Ok": "a\x00b"}}, "action.status.headers", "NUL"),
        ({"headers": {"Set-Cookie: evil=1\r\nX-A": "1"}}, "action.status.headers", "token"),
        ({"headers": {"X A": "1"}}, "action.status.headers", "token"),
        ({"headers": {"": "1"}}, "action.status.headers", "token"),
        ({"headers": {"X-Ok": " padded"}}, "action.status.headers", "whitespace"),
        ({"headers": {"Content-Length": "5"}}, "action.status.headers", "framing"),
        ({"headers": {"transfer-encoding": "chunked"}}, "action.status.headers", "framing"),
        ({"headers": {"Connection": "close"}}, "action.status.headers", "framing"),
        (
            {"retry_after": "Wed, 21 Oct 2015 07:28:00 GMT\r\nX-Evil: 1"},
            "action.status.retry_after",
            "CR, LF",
        ),
        ({"status": 101}, "action.status.status", "1xx"),
        ({"status": 100}, "action.status.status", "1xx"),
        ({"status": 204, "body": "x"}, "action.status", "204"),
        ({"status": 304, "body": {"a": 1}}, "action.status", "304"),
    ],
)
def test_a_status_rule_that_would_break_framing_is_refused_with_field_and_reason(
    action: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        FaultRule.model_validate(_status_rule(**action))
    messages = [
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
        for e in raised.value.errors(include_url=False)
    ]
    assert any(m.startswith(field) and reason in m for m in messages), messages


@pytest.mark.parametrize(
    ("rule", "field", "reason"),
    [
        ({"action": {"type": "malformed", "status": 204}}, "action.malformed", "204"),
        ({"action": {"type": "malformed", "status": 304}}, "action.malformed", "304"),
        ({"action": {"type": "malformed", "status": 101}}, "action.malformed.status", "1xx"),
        ({"action": {"type": "empty", "status": 199}}, "action.empty.status", "200"),
        ({"match": {"headers": {"X-A\r\nB": "1"}}, "action": {"type": "reset"}}, "match", "token"),
        ({"match": {"headers": {"X-A": "1\r\n"}}, "action": {"type": "reset"}}, "match", "CR, LF"),
    ],
)
def test_other_actions_and_matches_are_held_to_the_same_rules(
    rule: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        FaultRule.model_validate(rule)
    messages = [
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
        for e in raised.value.errors(include_url=False)
    ]
    assert any(m.startswith(field) and reason in m for m in messages), messages


@pytest.mark.parametrize(
    "action",
    [
        {"status": 204},
        {"status": 304},
        {"status": 200, "headers": {"X-Trace": "a\tb ~!#$%&'*+-.^_`|", "Cache-Control": "x"}},
        {"status": 503, "headers": {"X-Obs": "caf\u00e9"}},  # obs-text is a field value
        {"status": 200, "body": "fine"},
        {"status": 204, "body": ""},  # an empty body is no body
    ],
)
def test_rules_that_keep_framing_intact_are_accepted(action: dict[str, Any]) -> None:
    FaultRule.model_validate(_status_rule(**action))


def test_the_header_fault_syntax_is_held_to_the_same_rules() -> None:
    with pytest.raises(ValueError, match="1xx"):
        parse_header_fault("status;status=101")


def test_the_control_api_names_the_field_and_reason(api: ApiClient) -> None:
    body = _status_rule(headers={"X-Ok": "a\r\nSet-Cookie: evil=1"})
    problem = assert_problem(api.post(FAULTS, json=body), 400, "invalid_fault_rule")
    assert "action.status.headers" in problem.detail
    assert "CR, LF" in problem.detail
    assert api.get(FAULTS).json()["faults"] == []


def _raw_get(mock: MockServer, path: str) -> bytes:
    assert mock.port is not None
    with socket.create_connection(("127.0.0.1", mock.port), timeout=5) as sock:
        head = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{mock.port}\r\nConnection: close\r\n\r\n"
        sock.sendall(head.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "action",
    [
        {"headers": {"X-Ok": "a\r\nSet-Cookie: evil=1"}},
        {"status": 101},
        {"status": 204, "body": "smuggled"},
        {"headers": {"Content-Length": "0"}},
    ],
)
def test_no_such_rule_reaches_the_wire(
    harness_mock: MockServer, harness_control: ControlClient, action: dict[str, Any]
) -> None:
    # The attack as the issue ran it: install the rule, read the raw answer.
    response = harness_control._http.post("/faults", json=_status_rule(**action))
    assert response.status_code == 400, response.text
    raw = _raw_get(harness_mock, PRODUCTS)
    head = raw.partition(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 401 "), raw[:200]
    assert b"set-cookie" not in head.lower()
