"""MockServer: starting, addresses, stopping, failing to start, and more than one per
process."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import httpx
import pytest
from mitmproxy.test import tflow
from mock_testkit import assert_problem

from harness.control import ControlClient
from mocks.server import Fallback, MockServer
from mocks.state import MockState


def _seeded(control_url: str) -> int:
    """The products the mock holds, as /health counts each resource of the API served."""
    count: int = httpx.get(control_url + "/health").json()["api"]["resources"]["products"]
    return count


def test_a_started_server_has_a_port_and_urls() -> None:
    with MockServer(MockState(product_count=3)) as mock:
        assert mock.port
        assert mock.base_url == f"http://127.0.0.1:{mock.port}"
        assert mock.control_url == mock.base_url + "/__harness"
        assert _seeded(mock.control_url) == 3


def test_a_stopped_server_refuses_connections() -> None:
    with MockServer(MockState(product_count=1)) as mock:
        assert httpx.get(mock.control_url + "/health").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(mock.control_url + "/health", timeout=0.5)


def test_an_ipv6_host_is_bracketed_in_the_url() -> None:
    mock = MockServer(host="::1", port=8080)
    mock.port = 8080  # not started: only the URL is under test
    assert mock.base_url == "http://[::1]:8080"


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_taken_port_fails_the_start(busy_port: int) -> None:
    with pytest.raises(RuntimeError, match="the mock failed to start"):
        MockServer(MockState(product_count=1), port=busy_port).start(timeout=10)


def test_a_failed_start_names_the_cause(busy_port: int) -> None:
    with pytest.raises(RuntimeError, match=rf"{busy_port}|in use"):
        MockServer(MockState(product_count=1), port=busy_port).start(timeout=10)


def test_a_failed_start_leaves_logging_working(busy_port: int) -> None:
    with pytest.raises(RuntimeError, match="the mock failed to start"):
        MockServer(MockState(product_count=1), port=busy_port).start(timeout=10)
    logging.getLogger("an.application").warning("logging still works")


def test_the_fallback_answers_what_no_addon_did() -> None:
    flow = tflow.tflow()
    Fallback().request(flow)
    assert flow.response is not None
    assert flow.response.status_code == 500
    assert flow.response.headers["content-type"] == "application/problem+json"
    assert b"mock_internal_error" in flow.response.content


def test_the_fallback_leaves_answered_flows_alone() -> None:
    flow = tflow.tflow(resp=True)
    Fallback().request(flow)
    assert flow.response is not None
    assert flow.response.status_code == 200


def test_a_second_mock_leaves_the_first_alone(
    harness_mock: MockServer, harness_control: ControlClient
) -> None:
    with MockServer(MockState(product_count=5)) as second:
        assert _seeded(second.control_url) == 5
        first = httpx.get(harness_mock.control_url + "/health")  # a new connection
        assert first.json()["api"]["resources"]["products"] == 300
    after = httpx.get(f"{harness_mock.base_url}/v1/products/prd_nope")
    assert_problem(after, 401, "token_missing")
    assert _seeded(harness_mock.control_url) == 300
