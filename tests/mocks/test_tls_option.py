"""TLS and HTTP/2 on the mock's port. TLS: off by default (a plain-HTTP mock closes a TLS
handshake at once), on with `tls=True` / `harness mock --tls`, with mitmproxy's generated
certificate. HTTP/2: never. mitmproxy 12 in reverse mode to a plain-HTTP upstream would
agree on h2 in the handshake and then read the h2 preface as HTTP/1 ("HTTP/2 with prior
knowledge is not supported"), so the mock offers only http/1.1 in ALPN."""

from __future__ import annotations

import socket
import ssl
import time

import httpx
import pytest
from raw_http import exchange

from mocks.server import MockServer


def _insecure() -> ssl.SSLContext:
    # mitmproxy signs with its own CA; these tests are about the port, not the chain.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_by_default_a_tls_handshake_is_closed_at_once() -> None:
    with MockServer() as mock:
        started = time.monotonic()
        with (
            socket.create_connection(("127.0.0.1", mock.port), timeout=10) as sock,
            pytest.raises((ssl.SSLError, ConnectionError)),
        ):
            _insecure().wrap_socket(sock, server_hostname="localhost")
        assert time.monotonic() - started < 5  # closed, not left to time out
        # The port still speaks plain HTTP.
        assert httpx.get(mock.control_url + "/health", timeout=10).status_code == 200


def test_by_default_there_is_no_http2() -> None:
    with MockServer() as mock:
        assert mock.port is not None
        # The HTTP/2 connection preface is read as an HTTP/1 request, and refused as one.
        answer = exchange(mock.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        assert answer.status is not None
        assert answer.status >= 400
        assert answer.problem()


def test_with_tls_the_port_answers_https() -> None:
    with (
        MockServer(tls=True) as mock,
        httpx.Client(http2=True, verify=_insecure(), timeout=10) as client,
    ):
        url = f"https://127.0.0.1:{mock.port}"
        response = client.get(url + "/__harness/health")
        # Offered h2 and http/1.1, the client gets http/1.1.
        assert (response.status_code, response.http_version) == (200, "HTTP/1.1")
        login = client.post(
            url + "/v1/auth/login",
            json={"email": "demo@example.com", "password": "demo-password"},
        )
        assert login.status_code == 200, login.text
        # Plain HTTP on the same port keeps working.
        assert httpx.get(mock.control_url + "/health", timeout=10).status_code == 200


def test_with_tls_a_client_that_asks_only_for_http2_does_not_get_it() -> None:
    with MockServer(tls=True) as mock:
        context = _insecure()
        context.set_alpn_protocols(["h2"])
        with (
            socket.create_connection(("127.0.0.1", mock.port), timeout=10) as sock,
            context.wrap_socket(sock, server_hostname="localhost") as tls,
        ):
            assert tls.selected_alpn_protocol() is None  # no h2 agreed
            tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            assert tls.recv(64).startswith(b"HTTP/1.1 4")  # an HTTP/1 refusal, not h2


def test_with_tls_http1_over_tls_works_too() -> None:
    with (
        MockServer(tls=True) as mock,
        httpx.Client(verify=_insecure(), timeout=10) as client,
    ):
        response = client.get(f"https://127.0.0.1:{mock.port}/__harness/health")
        assert (response.status_code, response.http_version) == (200, "HTTP/1.1")
