"""A hostile client on a raw socket: header floods, slowloris, bodies the HTTP layer cannot
read, and what the mock answers when the HTTP layer, not the API, refuses a request. Every
refusal is an RFC 9457 problem, never mitmproxy's HTML page, and the mock keeps serving."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from mock_testkit import TLS_CONTEXT
from raw_http import Answer, exchange, request

from mocks.limits import DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_HEADERS
from mocks.server import MockServer

PRODUCTS = "/v1/products"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


def _port(mock: MockServer) -> int:
    assert mock.port is not None
    return mock.port


def _still_serving(mock: MockServer) -> None:
    health = httpx.get(mock.control_url + "/health", timeout=10, verify=TLS_CONTEXT)
    assert health.status_code == 200


def _refused(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer.raw[:300]
    assert answer.problem()["code"] == code
    assert answer.headers.get("connection") == "close"
    assert answer.closed


# --- header size and count -----------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [DEFAULT_MAX_HEADER_BYTES + 1, 1024 * 1024, 16 * 1024 * 1024],
    ids=["just over", "1 MiB", "16 MiB"],
)
def test_a_head_past_the_limit_is_a_431(mock: MockServer, size: int) -> None:
    port = _port(mock)
    data = request("GET", PRODUCTS, port, "X-Big: " + "a" * size)
    _refused(exchange(port, data), 431, "request_headers_too_large")
    _still_serving(mock)


def test_an_unfinished_head_past_the_limit_is_refused_before_it_ends(mock: MockServer) -> None:
    # The attack: a header that never ends. The mock answers once it has seen
    # more than the limit, without waiting for the client to finish (it never will).
    port = _port(mock)
    head = f"GET {PRODUCTS} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Big: ".encode()
    answer = exchange(port, [head, *[b"a" * 65536] * 4])
    _refused(answer, 431, "request_headers_too_large")


def test_too_many_header_fields_are_a_431(mock: MockServer) -> None:
    port = _port(mock)
    fields = [f"X-{n}: 1" for n in range(DEFAULT_MAX_HEADERS + 1)]
    _refused(
        exchange(port, request("GET", PRODUCTS, port, *fields)), 431, "request_headers_too_large"
    )


def test_a_hundred_thousand_headers_are_a_431(mock: MockServer) -> None:
    port = _port(mock)
    fields = [f"X{n}: 1" for n in range(100_000)]
    _refused(
        exchange(port, request("GET", PRODUCTS, port, *fields)), 431, "request_headers_too_large"
    )


def test_the_limits_leave_ordinary_requests_alone(mock: MockServer) -> None:
    port = _port(mock)
    fields = [f"X-{n}: 1" for n in range(DEFAULT_MAX_HEADERS - 2)]  # with Host: at the limit
    answer = exchange(port, request("GET", PRODUCTS, port, *fields, "Connection: close"))
    assert answer.status == 401  # past the limits, the bearer check answers
    long_value = "a" * (DEFAULT_MAX_HEADER_BYTES - 200)
    answer = exchange(port, request("GET", PRODUCTS, port, f"X-Long: {long_value}"))
    assert answer.status == 401


def test_the_limits_are_options() -> None:
    options = {"harness_max_header_bytes": "2048", "harness_max_headers": "5"}
    with MockServer(extra_options=options) as mock:
        port = _port(mock)
        fields = [f"X-{n}: 1" for n in range(5)]
        _refused(
            exchange(port, request("GET", PRODUCTS, port, *fields)),
            431,
            "request_headers_too_large",
        )
        big = "X-Big: " + "a" * 3000
        _refused(
            exchange(port, request("GET", PRODUCTS, port, big)), 431, "request_headers_too_large"
        )
    with MockServer(extra_options={"harness_max_header_bytes": "0"}) as unlimited:
        port = _port(unlimited)
        answer = exchange(port, request("GET", PRODUCTS, port, "X-Big: " + "a" * 100_000))
        assert answer.status == 401


# --- slowloris: the head-read and idle timeouts ----------------------------------------


@pytest.fixture(scope="module")
def impatient() -> Iterator[MockServer]:
    options = {"harness_header_timeout_s": "1", "tcp_timeout": "3"}
    with MockServer(extra_options=options) as server:
        yield server


def test_a_head_that_drips_in_is_cut_off_with_a_408(impatient: MockServer) -> None:
    port = _port(impatient)
    head = request("GET", PRODUCTS, port, "X-Slow: 1")
    # One byte every 0.3 s keeps the connection busy, so the idle timeout never fires.
    answer = exchange(port, [head[i : i + 1] for i in range(len(head))], pause_s=0.3)
    _refused(answer, 408, "request_timeout")
    # The timer starts at the head's first byte and lasts 1 s; nothing answers sooner.
    assert answer.seconds >= 0.95
    assert answer.seconds < 15  # generous: the other core may be busy


def test_an_idle_keep_alive_connection_is_not_a_slow_head(impatient: MockServer) -> None:
    # Waiting between requests (less than tcp_timeout) is not a head that takes too long.
    port = _port(impatient)
    answers = []
    import socket
    import time

    from raw_http import parse

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(request("GET", PRODUCTS, port))
            data = b""
            while not (parsed := parse(data, False, 0)).status or len(parsed.body) < int(
                parsed.headers.get("content-length", "0")
            ):
                data += sock.recv(65536)
            answers.append(parsed.status)
            time.sleep(1.5)  # longer than the head timeout
    assert answers == [401, 401]


def test_an_idle_connection_is_closed_after_tcp_timeout(impatient: MockServer) -> None:
    answer = exchange(_port(impatient), b"", timeout=20)
    assert answer.closed
    assert answer.raw == b""
    assert answer.seconds >= 2.9


# --- bodies the HTTP layer cannot read ---------------------------------------------------


CHUNKED = "Transfer-Encoding: chunked"
JSON = "Content-Type: application/json"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ((CHUNKED,), b"zz\r\nabc\r\n0\r\n\r\n"),  # not a chunk size
        ((CHUNKED,), b"3\r\nabcXX0\r\n\r\n"),  # a chunk without its CRLF
        ((CHUNKED,), b"-5\r\nabcde\r\n0\r\n\r\n"),
    ],
    ids=["bad chunk size", "chunk without CRLF", "negative chunk"],
)
def test_a_body_that_cannot_be_read_is_answered_before_closing(
    mock: MockServer, headers: tuple[str, ...], body: bytes
) -> None:
    # mitmproxy closed these connections without a word; the client now learns why.
    port = _port(mock)
    answer = exchange(port, request("POST", PRODUCTS, port, JSON, *headers, body=body))
    _refused(answer, 400, "malformed_request")


@pytest.mark.parametrize(
    "headers_and_body",
    [(("Content-Length: 10",), b"abc"), ((CHUNKED,), b"5\r\nab"), ((), b"")],
    ids=["content-length", "chunked", "head"],
)
def test_a_request_cut_short_by_a_half_close_is_answered(
    mock: MockServer, headers_and_body: tuple[tuple[str, ...], bytes]
) -> None:
    port = _port(mock)
    headers, body = headers_and_body
    data = request("POST", PRODUCTS, port, JSON, *headers, body=body)
    if not headers:
        data = data[: data.index(b"\r\n\r\n")]  # the head itself never ends
    answer = exchange(port, data, half_close=True)
    _refused(answer, 400, "malformed_request")


def test_a_complete_request_then_a_half_close_gets_no_answer(mock: MockServer) -> None:
    # Documented: mitmproxy reads a FIN after a whole request as "the client gave up" (it
    # cannot tell a half-close from a close), and the mock keeps that meaning. Whether the
    # FIN arrives before the request is answered is the scheduler's choice: either no
    # answer, or the whole answer (here a 401: no token), and then the close; never a hang.
    port = _port(mock)
    answer = exchange(port, request("GET", PRODUCTS, port), half_close=True)
    assert answer.closed
    assert answer.raw == b"" or answer.raw.startswith(b"HTTP/1.1 401 "), answer.raw[:80]


def test_a_chunk_larger_than_the_body_limit_is_a_413_at_once(mock: MockServer) -> None:
    port = _port(mock)
    data = request("POST", PRODUCTS, port, JSON, CHUNKED, body=b"FFFFFFFFFFFFFFFFFFFF\r\n")
    answer = exchange(port, data, timeout=10)
    _refused(answer, 413, "payload_too_large")
    assert answer.seconds < 5  # not the idle timeout


def test_a_body_past_the_hard_limit_is_a_413_problem(mock: MockServer) -> None:
    port = _port(mock)
    answer = exchange(port, request("POST", PRODUCTS, port, JSON, "Content-Length: 20000000"))
    _refused(answer, 413, "payload_too_large")


# --- what RFC 9112 says a server must refuse ---------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/products HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        b"GET /v1/products HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n",
        b"GET /v1/pro ducts HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/products HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
        b"GET /v1/products HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
        b"GET /v1/products HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
        b"GET /v1/products HTTP/1.1\r\n\r\n",
        b"GET /v1/products HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"POST /v1/products HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"POST /v1/products HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/products HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST /v1/products HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /v1/products HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST /v1/products HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",
    ],
    ids=[
        "bad request line",
        "header without colon",
        "space before colon",
        "space in target",
        "obs-fold",
        "bare CR",
        "NUL",
        "no Host",
        "two Hosts",
        "two Content-Lengths",
        "Content-Length abc",
        "negative Content-Length",
        "Content-Length and chunked",
        "unknown coding",
        "chunked not last",
        "CONNECT",
    ],
)
def test_a_malformed_request_is_a_400_problem(mock: MockServer, data: bytes) -> None:
    answer = exchange(_port(mock), data)
    assert answer.status == 400, answer.raw[:300]
    assert answer.problem()["code"] in {"malformed_request", "bad_request", "invalid_header"}
    _still_serving(mock)


def test_protocol_problems_never_echo_request_bytes(mock: MockServer) -> None:
    port = _port(mock)
    answer = exchange(port, b"GET /?api_key=hunter2-secret HTTP/1.1 extra\r\nHost: x\r\n\r\n")
    assert answer.status == 400
    assert b"hunter2" not in answer.raw


# --- logs ----------------------------------------------------------------------------------


def test_request_bytes_never_reach_the_logs(
    mock: MockServer, caplog: pytest.LogCaptureFixture
) -> None:
    # mitmproxy logs an unfinished head, or a header line it cannot parse, as the raw
    # bytes: bearer tokens and API keys included, and a 15 MiB head as a 15 MiB line.
    port = _port(mock)
    secret = "tok-5ecret-do-not-log"
    caplog.set_level(logging.DEBUG)
    unfinished = f"GET {PRODUCTS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\n"
    exchange(port, unfinished.encode(), half_close=True)
    exchange(port, f"GET {PRODUCTS} HTTP/1.1\r\nHost: x\r\nX-API-Key {secret}\r\n\r\n".encode())
    exchange(port, f"GET /?key={secret} HTTP/1.1 x\r\n\r\n".encode())
    _still_serving(mock)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "client closed before completing" in logged  # the logs did see these requests
    assert secret not in logged
