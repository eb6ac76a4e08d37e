"""Every fault action as real clients see it over loopback (httpx and requests: the
exception types, statuses, headers, bodies and measured timing), what the journal
records of each, and the X-Harness-Fault request header.

Timing bounds: a delay must not end early (5 ms of slack for timer granularity) but may
end late on a loaded machine, so upper bounds are generous.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from mock_testkit import (
    CLIENTS,
    PRODUCTS,
    TLS_CONTEXT,
    ApiClient,
    Seen,
    Tokens,
    assert_dropped,
    assert_problem,
    fetch,
    journal_entry,
    product_input,
)

from harness.control import ControlClient
from harness.pytest_plugin import FaultsFixture
from mocks.server import MockServer

CLIENT_TIMEOUT = 0.25  # for faults that starve the client; short keeps the suite fast
EARLY = 0.005  # how much earlier than asked a timer may fire
LATE = 1.0  # how much later than asked a response may come on a loaded machine
HTTP_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
FAULT_HEADER = "X-Harness-Fault"


@dataclass(frozen=True)
class Rig:
    """The reset mock, its control API, and this test's fault rules (removed after it)."""

    mock: MockServer
    control: ControlClient
    faults: FaultsFixture

    def get(self, client: str, path: str = PRODUCTS, **kwargs: Any) -> Seen:
        return fetch(client, "GET", self.mock.base_url + path, **kwargs)

    def create(self, client: str, demo: Tokens) -> Seen:
        url = self.mock.base_url + PRODUCTS
        body = product_input(name="Applied anyway")
        return fetch(client, "POST", url, json=body, headers=demo.headers, timeout=CLIENT_TIMEOUT)

    def entry(self, **match: Any) -> dict[str, Any]:
        return journal_entry(self.control, **match)


@pytest.fixture
def rig(
    harness_mock: MockServer, harness_control: ControlClient, harness_faults: FaultsFixture
) -> Rig:
    return Rig(harness_mock, harness_control, harness_faults)


def _assert_took(seconds: float, at_least: float) -> None:
    assert at_least - EARLY <= seconds < at_least + LATE, (seconds, at_least)


# --- status --------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_status_with_retry_after_seconds_is_a_problem(rig: Rig, client: str) -> None:
    rule_id = rig.faults.add("status;status=503;retry_after=1", path=PRODUCTS)
    seen = rig.get(client)
    problem = assert_problem(seen.response(), 503, "injected_fault")
    assert problem.detail == "Injected by a fault rule."
    assert seen.headers.get_list("Retry-After") == ["1"]
    entry = rig.entry(operation="listProducts")
    assert (entry["status"], entry["code"], entry["error"]) == (503, "injected_fault", None)
    assert entry["fault"] == {"rule": rule_id, "action": "status"}


def test_status_with_retry_after_as_an_http_date(rig: Rig) -> None:
    rig.faults.add({"action": {"type": "status", "status": 429, "retry_after": HTTP_DATE}})
    seen = rig.get("requests")
    assert_problem(seen.response(), 429, "injected_fault")
    assert seen.headers["Retry-After"] == HTTP_DATE
    assert parsedate_to_datetime(seen.headers["Retry-After"]).year == 2015


def test_status_with_a_custom_json_body_and_headers(rig: Rig) -> None:
    body = {"error": "overloaded", "shards": [1, 2]}
    action = {"type": "status", "status": 409, "body": body, "headers": {"X-Custom": "yes"}}
    rig.faults.add({"action": action})
    seen = rig.get("httpx")
    assert seen.status == 409
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["X-Custom"] == "yes"
    assert "Retry-After" not in seen.headers
    assert json.loads(seen.body) == body


def test_status_with_a_text_body(rig: Rig) -> None:
    rig.faults.add({"action": {"type": "status", "status": 500, "body": "upstream blew up"}})
    seen = rig.get("requests")
    assert seen.status == 500
    assert seen.headers["content-type"] == "text/plain; charset=utf-8"
    assert seen.body == b"upstream blew up"


def test_a_success_status_without_a_body_is_empty(rig: Rig) -> None:
    rig.faults.add("status;status=204")
    seen = rig.get("httpx")
    assert (seen.status, seen.body) == (204, b"")


@pytest.mark.parametrize("status", [499, 520])
def test_any_accepted_status_code_is_answered(rig: Rig, status: int) -> None:
    rig.faults.add(f"status;status={status}", path=PRODUCTS)
    seen = rig.get("httpx")
    assert rig.control.faults()[0]["hits"] == 1  # the rule says it applied...
    assert seen.status == status  # ...but the client got the real 401


def test_a_rule_header_replaces_the_default_whatever_its_case(rig: Rig) -> None:
    action = {
        "type": "status",
        "status": 503,
        "body": "<p>down</p>",
        "headers": {"Content-Type": "text/html", "retry-after": "5"},
        "retry_after": 2,
    }
    rig.faults.add({"action": action})
    seen = rig.get("requests")
    assert seen.raw.headers["Content-Type"] == "text/html"  # requests joins duplicates
    assert seen.headers.get_list("retry-after") == ["5"]


# --- delay ---------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_a_fixed_delay_holds_the_real_response(rig: Rig, demo: Tokens, client: str) -> None:
    rule_id = rig.faults.add("delay;ms=150", path=PRODUCTS)
    seen = rig.get(client, headers=demo.headers)
    assert seen.status == 200
    assert len(json.loads(seen.body)) == 20  # the real listing
    _assert_took(seen.seconds, 0.150)
    entry = rig.entry(operation="listProducts")
    assert entry["fault"] == {"rule": rule_id, "action": "delay", "delay_ms": 150.0}
    assert entry["status"] == 200
    assert entry["duration_ms"] >= 150 - EARLY * 1000


@pytest.mark.parametrize(
    ("delay", "low_ms", "high_ms"),
    [
        ({"type": "uniform", "min_ms": 40, "max_ms": 90}, 40, 90),
        ({"type": "lognormal", "median_ms": 40, "sigma": 0.8, "cap_ms": 120}, 0, 120),
    ],
    ids=["uniform", "lognormal"],
)
def test_random_delays_are_measured_and_journaled(
    rig: Rig, delay: dict[str, Any], low_ms: float, high_ms: float
) -> None:
    rig.faults.add({"action": {"type": "delay"}, "delay": delay}, path=PRODUCTS, seed=5)
    for client in CLIENTS:
        seen = rig.get(client)
        assert seen.status == 401  # the real answer, after the delay
        delay_ms = rig.control.entries()[-1]["fault"]["delay_ms"]
        assert low_ms <= delay_ms <= high_ms
        _assert_took(seen.seconds, delay_ms / 1000)


def test_a_delay_combines_with_another_action(rig: Rig) -> None:
    rule_id = rig.faults.add("status;status=503;delay_ms=120")
    seen = rig.get("requests")
    assert_problem(seen.response(), 503, "injected_fault")
    _assert_took(seen.seconds, 0.120)
    fault = rig.entry(operation="listProducts")["fault"]
    assert fault == {"rule": rule_id, "action": "status", "delay_ms": 120.0}


# --- connections dropped: reset, close, hang ----------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize(
    ("spec", "kind"),
    [("reset", "reset"), ("close", "close"), ("hang;seconds=0.4", "hang")],
)
def test_dropped_connections_as_clients_see_them_and_as_journaled(
    rig: Rig, demo: Tokens, client: str, spec: str, kind: str
) -> None:
    rule_id = rig.faults.add(spec, path=PRODUCTS)
    seen = rig.get(client, headers=demo.headers, timeout=CLIENT_TIMEOUT)
    assert_dropped(seen, kind)
    if kind == "hang":
        _assert_took(seen.seconds, CLIENT_TIMEOUT)  # the client gave up waiting
    else:
        assert seen.seconds < CLIENT_TIMEOUT  # failed at once, not a timeout
    entry = rig.entry(operation="listProducts")
    assert entry["status"] is None
    assert entry["error"]
    assert entry["fault"] == {"rule": rule_id, "action": kind}
    if kind == "hang":
        assert entry["duration_ms"] >= 400 - EARLY * 1000  # held for `seconds`, then closed
    assert rig.control.health()["journal"]["counters"]["no_response"] == 1


@pytest.mark.parametrize("client", CLIENTS)
def test_a_hang_ends_in_a_close_for_a_patient_client(rig: Rig, client: str) -> None:
    rig.faults.add("hang;seconds=0.2")
    seen = rig.get(client, timeout=5)
    assert_dropped(seen, "close")
    _assert_took(seen.seconds, 0.2)


# --- bodies: empty, malformed, short, dripped -----------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_empty_is_a_200_without_a_body(rig: Rig, client: str) -> None:
    rule_id = rig.faults.add("empty", path=PRODUCTS)
    seen = rig.get(client)
    assert (seen.status, seen.body) == (200, b"")
    assert seen.headers["content-length"] == "0"
    assert seen.headers["content-type"] == "application/json"
    with pytest.raises(ValueError, match="Expecting value"):
        seen.raw.json()
    entry = rig.entry(operation="listProducts")
    assert (entry["status"], entry["fault"]) == (200, {"rule": rule_id, "action": "empty"})


@pytest.mark.parametrize("client", CLIENTS)
def test_malformed_is_a_200_with_invalid_json(rig: Rig, client: str) -> None:
    rule_id = rig.faults.add("malformed", path=PRODUCTS)
    seen = rig.get(client)
    assert seen.status == 200
    assert seen.headers["content-type"] == "application/json"
    assert seen.body == b'{"id": "prd_1", "name": "trunc'
    with pytest.raises(ValueError, match="Unterminated string"):
        seen.raw.json()
    assert rig.entry(operation="listProducts")["fault"] == {"rule": rule_id, "action": "malformed"}


def test_malformed_takes_a_status_and_body(rig: Rig) -> None:
    rig.faults.add({"action": {"type": "malformed", "status": 500, "body": "<html>oops"}})
    seen = rig.get("requests")
    assert (seen.status, seen.body) == (500, b"<html>oops")


@pytest.mark.parametrize("client", CLIENTS)
def test_a_short_body_starves_the_client(rig: Rig, demo: Tokens, client: str) -> None:
    rule_id = rig.faults.add("short_body", path=PRODUCTS)
    seen = rig.get(client, headers=demo.headers, timeout=CLIENT_TIMEOUT)
    assert_dropped(seen, "short_body")
    _assert_took(seen.seconds, CLIENT_TIMEOUT)
    entry = rig.entry(operation="listProducts")
    assert entry["fault"] == {"rule": rule_id, "action": "short_body"}
    assert entry["status"] == 200  # the real response, cut short on the wire


def _raw_get(mock: MockServer, path: str, headers: dict[str, str]) -> tuple[bytes, bytes]:
    """Head and body bytes of a GET on a plain socket, read until the mock goes quiet."""
    lines = [f"GET {path} HTTP/1.1", "Host: mock", *(f"{k}: {v}" for k, v in headers.items())]
    received = b""
    with socket.create_connection(("127.0.0.1", mock.port), timeout=CLIENT_TIMEOUT) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    return head, body


def test_a_short_body_declares_more_than_it_sends(rig: Rig, api: ApiClient, demo: Tokens) -> None:
    product_id = api.get(PRODUCTS, demo).json()[0]["id"]
    whole = api.get(f"{PRODUCTS}/{product_id}", demo).content
    rig.faults.add("short_body;missing_bytes=7", path=f"{PRODUCTS}/*")
    head, body = _raw_get(rig.mock, f"{PRODUCTS}/{product_id}", demo.headers)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"content-length: {len(whole) + 7}".encode() in head.lower()
    assert body == whole


def _stream(url: str, headers: dict[str, str]) -> tuple[int, bytes, list[float], float]:
    """Status, body, the arrival time of each piece of body, and the total time."""
    start = time.perf_counter()
    arrivals: list[float] = []
    body = b""
    with httpx.stream("GET", url, headers=headers, timeout=10, verify=TLS_CONTEXT) as response:
        for piece in response.iter_raw():
            arrivals.append(time.perf_counter() - start)
            body += piece
    return response.status_code, body, arrivals, time.perf_counter() - start


def test_drip_sends_the_whole_body_in_pieces_over_the_duration(
    rig: Rig, api: ApiClient, demo: Tokens
) -> None:
    whole = api.get(PRODUCTS, demo).content
    rule_id = rig.faults.add("drip;duration_ms=400;chunks=4", path=PRODUCTS)
    status, body, arrivals, seconds = _stream(rig.mock.base_url + PRODUCTS, demo.headers)
    assert status == 200
    assert body == whole  # intact, every byte
    _assert_took(seconds, 0.400)
    assert len(arrivals) >= 2
    assert arrivals[-1] - arrivals[0] >= 0.2  # pieces spread over time, not one burst
    entry = rig.entry(fault={"rule": rule_id, "action": "drip"})
    assert (entry["operation"], entry["status"]) == ("listProducts", 200)


def test_drip_works_for_requests_too(rig: Rig, demo: Tokens) -> None:
    rig.faults.add("drip;duration_ms=200;chunks=5", path=PRODUCTS)
    seen = rig.get("requests", headers=demo.headers)
    assert seen.status == 200
    assert len(seen.raw.json()) == 20
    _assert_took(seen.seconds, 0.200)


def test_drip_lasts_its_duration_whatever_the_chunk_count(
    rig: Rig, api: ApiClient, demo: Tokens
) -> None:
    path = f"{PRODUCTS}/prd_missing"
    size = len(api.get(path, demo).content)  # a 404 problem of some 150 bytes
    rig.faults.add(f"drip;duration_ms=1000;chunks={size - 1}", path=path)
    status, body, _, seconds = _stream(rig.mock.base_url + path, demo.headers)
    assert (status, len(body)) == (404, size)
    assert seconds >= 1.0 - EARLY


def test_a_dripped_response_is_journaled_without_an_error(rig: Rig, demo: Tokens) -> None:
    rig.faults.add("drip;duration_ms=50;chunks=2", path=PRODUCTS)
    assert rig.get("httpx", headers=demo.headers).status == 200
    entry = rig.entry(operation="listProducts")
    assert (entry["status"], entry["error"]) == (200, None)


# --- apply_then_fail --------------------------------------------------------------------


def _apply_then_fail(rig: Rig, then: str, **fields: Any) -> str:
    action = {"type": "apply_then_fail", "then": then, **fields}
    return rig.faults.add({"action": action}, methods=["POST"], path=PRODUCTS)


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("then", ["status", "hang", "close", "reset"])
def test_apply_then_fail_creates_the_product_though_the_client_sees_a_failure(
    rig: Rig, api: ApiClient, demo: Tokens, client: str, then: str
) -> None:
    before = api.total(demo)
    rule_id = _apply_then_fail(rig, then, hang_s=0.4)
    seen = rig.create(client, demo)
    if then == "status":
        problem = assert_problem(seen.response(), 502, "injected_fault")
        assert "after the request took effect" in problem.detail
    else:
        assert_dropped(seen, then)
    entry = rig.entry(operation="createProduct")
    assert entry["fault"] == {"rule": rule_id, "action": "apply_then_fail"}
    assert entry["effect"]["kind"] == "product_created"
    assert api.total(demo) == before + 1
    created = api.get(f"{PRODUCTS}/{entry['effect']['id']}", demo)
    assert created.json()["name"] == "Applied anyway"
    if then == "status":
        assert (entry["status"], entry["code"]) == (502, "injected_fault")


def test_apply_then_fail_takes_a_status(rig: Rig, demo: Tokens) -> None:
    _apply_then_fail(rig, "status", status=504)
    assert_problem(rig.create("requests", demo).response(), 504, "injected_fault")


@pytest.mark.parametrize("then", ["close", "reset", "hang"])
def test_a_dropped_apply_then_fail_is_journaled_without_a_status(
    rig: Rig, demo: Tokens, then: str
) -> None:
    _apply_then_fail(rig, then, hang_s=0.3)
    assert rig.create("httpx", demo).error is not None
    entry = rig.entry(operation="createProduct")
    assert entry["effect"]["kind"] == "product_created"
    assert entry["error"]
    assert entry["status"] is None


def test_apply_then_fail_answers_any_accepted_status(rig: Rig, demo: Tokens) -> None:
    _apply_then_fail(rig, "status", status=599)
    assert rig.create("httpx", demo).status == 599


# --- the X-Harness-Fault header -----------------------------------------------------------


def test_the_fault_header_is_ignored_unless_enabled(rig: Rig) -> None:
    assert rig.control.config()["fault_header"] is False
    assert rig.get("httpx", headers={FAULT_HEADER: "status;status=418"}).status == 401
    assert rig.entry(operation="listProducts")["fault"] is None
    assert rig.get("httpx", headers={FAULT_HEADER: "nonsense"}).status == 401  # not parsed


@pytest.mark.parametrize("client", CLIENTS)
def test_the_fault_header_when_enabled(rig: Rig, client: str) -> None:
    rig.control.configure(fault_header=True)
    seen = rig.get(client, headers={FAULT_HEADER: "status;status=418"})
    assert_problem(seen.response(), 418, "injected_fault")
    seen = rig.get(client, headers={FAULT_HEADER: "delay;ms=100"})
    assert seen.status == 401
    _assert_took(seen.seconds, 0.100)
    seen = rig.get(client, headers={FAULT_HEADER: "reset"}, timeout=CLIENT_TIMEOUT)
    assert_dropped(seen, "reset")
    seen = rig.get(client, headers={FAULT_HEADER: "status;status=503;retry_after=3"})
    assert seen.headers["Retry-After"] == "3"
    assert rig.get(client).status == 401  # only requests that ask get a fault
    rig.entry(status=None)  # the reset, once it is journaled
    assert [e["fault"] for e in rig.control.entries()] == [
        {"rule": "header", "action": "status"},
        {"rule": "header", "action": "delay", "delay_ms": 100.0},
        {"rule": "header", "action": "reset"},
        {"rule": "header", "action": "status"},
        None,
    ]
    assert rig.control.faults() == []  # header faults are not rules


def test_the_fault_header_wins_over_rules(rig: Rig) -> None:
    rig.control.configure(fault_header=True)
    rig.faults.add("status;status=503")
    assert rig.get("httpx", headers={FAULT_HEADER: "empty"}).status == 200
    assert rig.get("httpx").status == 503
    assert rig.control.faults()[0]["hits"] == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("boom", "unknown fault 'boom'; one of: status, delay, hang"),
        ("", "unknown fault ''"),
        ("status;503", "expected key=value, got '503'"),
        ("status;status=999", "less than or equal to 599"),
        ("delay", "a delay action needs a delay"),
        ("hang;seconds=soon", "action.hang.seconds"),
    ],
)
def test_a_malformed_fault_header_is_a_400_naming_the_reason(
    rig: Rig, value: str, reason: str
) -> None:
    rig.control.configure(fault_header=True)
    seen = rig.get("httpx", headers={FAULT_HEADER: value})
    problem = assert_problem(seen.response(), 400, "invalid_fault_header")
    assert problem.detail.startswith(f"{FAULT_HEADER}: ")
    assert reason in problem.detail
    assert "\n" not in problem.detail


# --- afterwards ----------------------------------------------------------------------------


def test_the_mock_survives_all_of_it(rig: Rig, api: ApiClient) -> None:
    # Last in this module: after resets, closes, hangs, drips and short bodies.
    assert rig.control.health()["status"] == "ok"
    assert rig.control.faults() == []
    tokens = api.login()
    assert api.get(PRODUCTS, tokens).status_code == 200
    assert rig.get("requests").status == 401
