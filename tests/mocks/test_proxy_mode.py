"""Proxy mode: the mock's addons in front of a real backend as a reverse proxy.

The "real backend" is a small threaded HTTP(S) server of the test's own that
counts what reaches it, so each test can tell a fault answered by the proxy
from a request that went through.
"""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mock_testkit import harness_mock_process

from harness.control import ControlClient
from harness.fault_spec import build_rule
from mocks.server import MockServer


class Upstream(ThreadingHTTPServer):
    """Answers every request with JSON describing it, and remembers it."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str, bytes]] = []
        self.hosts: list[str | None] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: Upstream

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.seen.append((self.command, self.path, body))
        self.server.hosts.append(self.headers.get("host"))
        payload = json.dumps({"upstream": True, "method": self.command, "path": self.path})
        data = payload.encode()
        status = 201 if self.command == "POST" else 200
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


def _serve(server: Upstream) -> Iterator[Upstream]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    yield from _serve(Upstream())


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[Upstream]:
    server = Upstream()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_self_signed(tmp_path))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[MockServer]:
    with MockServer(upstream=f"http://127.0.0.1:{upstream.port}") as server:
        yield server


def test_requests_pass_through_to_the_upstream(proxy: MockServer, upstream: Upstream) -> None:
    response = httpx.post(proxy.base_url + "/v1/products?x=1", json={"name": "kettle"})
    assert response.status_code == 201
    assert response.json() == {"upstream": True, "method": "POST", "path": "/v1/products?x=1"}
    assert upstream.seen == [("POST", "/v1/products?x=1", b'{"name":"kettle"}')]


def test_the_upstream_sees_its_own_host_name(proxy: MockServer, upstream: Upstream) -> None:
    # The mock keeps the client's Host for the control API's check; the upstream must
    # get its own, as mitmproxy's reverse mode gives it.
    httpx.get(proxy.base_url + "/v1/products", headers={"Host": "client.example"})
    assert upstream.hosts == [f"127.0.0.1:{upstream.port}"]


def test_paths_outside_the_contract_pass_too(proxy: MockServer, upstream: Upstream) -> None:
    assert httpx.get(proxy.base_url + "/health").json()["path"] == "/health"
    assert httpx.patch(proxy.base_url + "/v1/products").status_code == 501  # upstream's own


def test_the_journal_records_proxied_requests(proxy: MockServer, upstream: Upstream) -> None:
    httpx.get(proxy.base_url + "/v1/products/p1")
    httpx.get(proxy.base_url + "/elsewhere")
    with ControlClient(proxy.base_url) as control:
        entries = control.entries()
    assert [(e["operation"], e["path"], e["status"]) for e in entries] == [
        ("getProduct", "/v1/products/p1", 200),
        (None, "/elsewhere", 200),
    ]


def test_faults_are_answered_by_the_proxy(proxy: MockServer, upstream: Upstream) -> None:
    with ControlClient(proxy.base_url) as control:
        rule = build_rule("status;status=503;retry_after=3", path="/v1/products", times=1)
        control.add_fault(rule.model_dump(mode="json", exclude_none=True))
        first = httpx.get(proxy.base_url + "/v1/products")
        second = httpx.get(proxy.base_url + "/v1/products")
        entries = control.entries()
    assert (first.status_code, first.headers["retry-after"]) == (503, "3")
    assert second.status_code == 200
    assert len(upstream.seen) == 1, "the faulted request must not reach the upstream"
    assert entries[0]["fault"]["action"] == "status"


def test_apply_then_fail_reaches_the_upstream_first(proxy: MockServer, upstream: Upstream) -> None:
    with ControlClient(proxy.base_url) as control:
        rule = build_rule("apply_then_fail;status=502", methods=["POST"])
        control.add_fault(rule.model_dump(mode="json", exclude_none=True))
    response = httpx.post(proxy.base_url + "/v1/products", json={})
    assert response.status_code == 502
    assert [seen[:2] for seen in upstream.seen] == [("POST", "/v1/products")]


def test_a_reset_fault_aborts_the_connection(proxy: MockServer, upstream: Upstream) -> None:
    with ControlClient(proxy.base_url) as control:
        control.add_fault(build_rule("reset").model_dump(mode="json", exclude_none=True))
    with pytest.raises(httpx.ReadError):
        httpx.get(proxy.base_url + "/v1/products")
    assert upstream.seen == []


def test_the_built_in_api_steps_aside(proxy: MockServer, upstream: Upstream) -> None:
    login = httpx.post(proxy.base_url + "/v1/auth/login", json={"email": "x@example.com"})
    assert login.json()["upstream"] is True  # the upstream answered, not the mock's auth
    assert httpx.get(proxy.control_url + "/health").status_code == 200


def test_an_https_upstream_is_verified_by_default(tls_upstream: Upstream) -> None:
    with MockServer(upstream=f"https://127.0.0.1:{tls_upstream.port}") as proxy:
        response = httpx.get(proxy.base_url + "/v1/products")
    assert response.status_code == 502  # self-signed: refused
    assert tls_upstream.seen == []


def test_an_https_upstream_with_verification_off(tls_upstream: Upstream) -> None:
    upstream_url = f"https://127.0.0.1:{tls_upstream.port}"
    with MockServer(upstream=upstream_url, upstream_insecure=True) as proxy:
        response = httpx.get(proxy.base_url + "/v1/products/p1")
    assert response.json() == {"upstream": True, "method": "GET", "path": "/v1/products/p1"}


def test_the_mock_can_front_another_mock(harness_mock: MockServer) -> None:
    # The mock is a real enough backend: a proxy in front of it injects faults.
    with MockServer(upstream=harness_mock.base_url) as proxy:
        login = httpx.post(
            proxy.base_url + "/v1/auth/login",
            json={"email": "demo@example.com", "password": "demo-password"},
        )
        assert login.status_code == 200
        assert "access_token" in login.json()


def test_harness_mock_upstream_from_the_command_line(upstream: Upstream, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{upstream.port}"
    with harness_mock_process("--upstream", url, stderr_path=tmp_path / "err") as mock:
        assert f"-> {url}" in mock.banner
        assert httpx.get(mock.base_url + "/v1/products").json()["upstream"] is True
    assert upstream.seen == [("GET", "/v1/products", b"")]
