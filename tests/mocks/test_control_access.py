"""The control API is not drivable by a web page or a stranger: the attacks of issue 15
(secrets read from GET config, a text/plain CSRF POST, a foreign Origin, DNS rebinding,
no token beyond loopback), each over a real socket against a real mock."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from mock_testkit import TLS_CONTEXT, ApiClient, assert_problem

from harness.control import TOKEN_ENV, ControlClient, ControlError
from mocks import control_access
from mocks.control import CONTROL_PREFIX
from mocks.control_access import TOKEN_HEADER, ControlAccess, is_loopback
from mocks.server import MockServer, MockStartError, ServeConfig, resolve_control_token, serve
from mocks.settings import SECRET_FIELDS, MockSettings
from mocks.state import MockState

API_KEY = "k-0123456789-secret"
SIGNING_SECRET = "s-0123456789-secret"
FAULT = {"action": {"type": "status", "status": 503}}


def _raw(mock: MockServer, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request as bytes on a socket, so Host and Origin are exactly what we say."""
    assert mock.port is not None
    with socket.create_connection(("127.0.0.1", mock.port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


# --- secrets never leave ------------------------------------------------------------------


def test_config_says_whether_secrets_are_set_never_what_they_are(
    api: ApiClient, harness_control: ControlClient
) -> None:
    before = harness_control.config()
    assert (before["api_key_set"], before["signing_secret_set"]) == (False, True)
    changed = harness_control.configure(api_key=API_KEY, signing_secret=SIGNING_SECRET)
    shown = [
        json.dumps(changed),
        api.get("/__harness/config").text,
        api.get("/__harness/health").text,
        api.post("/__harness/scenario", json={"name": "flaky"}).text,
        api.post("/__harness/reset").text,
    ]
    for text in shown:
        assert API_KEY not in text, text
        assert SIGNING_SECRET not in text, text
    assert changed["api_key_set"] is True
    assert not set(SECRET_FIELDS) & set(changed)


def test_the_startup_secrets_stay_hidden_after_a_reset() -> None:
    settings = MockSettings(api_key=API_KEY, signing=True, signing_secret=SIGNING_SECRET)
    with MockServer(settings=settings) as mock, ControlClient(mock.base_url) as control:
        control.configure(api_key=None)
        response = control._http.post("/reset")
        assert API_KEY not in response.text
        assert SIGNING_SECRET not in response.text
        assert response.json()["config"]["api_key_set"] is True


# --- web pages: Origin, Sec-Fetch-Site, non-JSON bodies ----------------------------------


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://localhost"]
)
def test_a_foreign_origin_is_refused_and_changes_nothing(
    harness_mock: MockServer, harness_control: ControlClient, origin: str
) -> None:
    port = harness_mock.port
    head = (
        f"POST /__harness/faults HTTP/1.1\nHost: 127.0.0.1:{port}\nOrigin: {origin}\n"
        f"Content-Type: application/json\nContent-Length: {len(json.dumps(FAULT))}\n"
    )
    status, body = _raw(harness_mock, head, json.dumps(FAULT).encode())
    assert status == 403
    assert json.loads(body)["code"] == "control_origin_refused"
    assert harness_control.faults() == []


def test_the_mock_s_own_origin_is_accepted(harness_mock: MockServer) -> None:
    for name in ("127.0.0.1", "localhost", "[::1]"):
        origin = f"http://{name}:{harness_mock.port}"
        response = httpx.get(
            harness_mock.control_url + "/health", headers={"Origin": origin}, verify=TLS_CONTEXT
        )
        assert response.status_code == 200, (origin, response.text)


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_request_another_site_started_is_refused(api: ApiClient, site: str) -> None:
    response = api.get("/__harness/config", headers={"Sec-Fetch-Site": site})
    assert_problem(response, 403, "control_origin_refused")


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("POST", "/faults", "text/plain"),
        ("POST", "/reset", "text/plain"),
        ("PUT", "/config", "application/x-www-form-urlencoded"),
        ("POST", "/scenario", "multipart/form-data; boundary=x"),
        ("POST", "/clock", None),
    ],
)
def test_a_body_that_is_not_json_is_a_415_and_changes_nothing(
    api: ApiClient,
    harness_control: ControlClient,
    method: str,
    path: str,
    content_type: str | None,
) -> None:
    # What a page's <form> or no-cors fetch can send without a CORS preflight.
    harness_control.configure(api_key=API_KEY)
    harness_control.advance_clock(5)
    body = {
        "/faults": FAULT,
        "/reset": {},
        "/config": {"api_key": None},
        "/scenario": {"name": "chaos"},
        "/clock": {"advance_s": 100},
    }[path]
    headers = {"content-type": content_type} if content_type else {}
    response = api.request(
        method, CONTROL_PREFIX + path, content=json.dumps(body).encode(), headers=headers
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert harness_control.config()["api_key_set"] is True
    assert harness_control.faults() == []
    assert api.get("/__harness/clock").json()["offset_s"] == 5


def test_bodiless_calls_and_json_bodies_still_work(api: ApiClient) -> None:
    assert api.post("/__harness/tokens/expire").status_code == 200
    typed = {"content-type": "application/json; charset=utf-8"}
    body = json.dumps({"advance_s": 1}).encode()
    assert api.post("/__harness/clock", content=body, headers=typed).status_code == 200


# --- DNS rebinding: the Host header -------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "127.0.0.2:{port}", ""]
)
def test_a_host_the_mock_is_not_bound_to_is_refused(
    harness_mock: MockServer, harness_control: ControlClient, host: str
) -> None:
    host = host.format(port=harness_mock.port)
    head = f"POST /__harness/reset HTTP/1.1\nHost: {host}\n"
    harness_control.configure(api_key=API_KEY)
    status, body = _raw(harness_mock, head)
    assert status == 403
    assert json.loads(body)["code"] == "control_host_refused"
    assert harness_control.config()["api_key_set"] is True  # not reset


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_the_loopback_names_with_the_bound_port_are_accepted(
    harness_mock: MockServer, name: str
) -> None:
    status, _ = _raw(
        harness_mock, f"GET /__harness/health HTTP/1.1\nHost: {name}:{harness_mock.port}\n"
    )
    assert status == 200


def test_the_api_itself_answers_any_host(harness_mock: MockServer) -> None:
    # Only the control API is guarded: the API serves clients behind any name.
    status, _ = _raw(harness_mock, "GET /v1/products HTTP/1.1\nHost: shop.internal\n")
    assert status == 401  # the bearer check, not a host refusal


def test_allowed_hosts_cover_the_bound_name_but_never_a_wildcard() -> None:
    assert ControlAccess(bind_host="127.0.0.1").bound(8080).hosts == {
        "127.0.0.1:8080",
        "localhost:8080",
        "[::1]:8080",
    }
    assert "myhost.lan:81" in ControlAccess(bind_host="MyHost.lan").bound(81).hosts
    assert "[fe80::1]:81" in ControlAccess(bind_host="fe80::1").bound(81).hosts
    wildcard = ControlAccess(bind_host="0.0.0.0").bound(81).hosts
    assert not any(h.startswith(("0.0.0.0", "[::]", ":")) for h in wildcard)
    assert "localhost" in ControlAccess().bound(80).hosts  # port 80: Host may omit it


# --- the control token --------------------------------------------------------------------


@pytest.fixture
def guarded() -> Iterator[MockServer]:
    with MockServer(control_token=True) as mock:
        yield mock


def test_a_mock_asked_for_a_token_refuses_calls_without_it(guarded: MockServer) -> None:
    url = guarded.control_url + "/config"
    missing = httpx.get(url, verify=TLS_CONTEXT)
    assert_problem(missing, 401, "control_token_required")
    wrong = httpx.get(url, headers={TOKEN_HEADER: "x" + str(guarded.control_token)})
    assert_problem(wrong, 401, "control_token_invalid")
    assert guarded.control_token is not None
    right = httpx.get(url, headers={TOKEN_HEADER: guarded.control_token}, verify=TLS_CONTEXT)
    assert right.status_code == 200


def test_the_control_client_sends_the_token(
    guarded: MockServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ControlClient(guarded.base_url) as anonymous, pytest.raises(ControlError, match="401"):
        anonymous.health()
    with ControlClient(guarded.base_url, token=guarded.control_token) as control:
        assert control.health()["status"] == "ok"
    monkeypatch.setenv(TOKEN_ENV, str(guarded.control_token))
    with ControlClient(guarded.base_url) as from_env:
        assert from_env.health()["status"] == "ok"


def test_the_api_needs_no_control_token(guarded: MockServer) -> None:
    with ApiClient(guarded.base_url) as api:
        api.login()


def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(control_access.hmac, "compare_digest", recording)
    with MockServer(control_token="t0ken") as mock:
        response = httpx.get(mock.control_url + "/health", headers={TOKEN_HEADER: "guess"})
    assert response.status_code == 401
    assert compared == [(b"guess", b"t0ken")]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.10", "example.com"])
def test_beyond_loopback_a_token_is_always_made(host: str) -> None:
    assert not is_loopback(host)
    token = resolve_control_token(host, None)
    assert token is not None
    assert len(token) >= 40


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_on_loopback_a_token_is_optional(host: str) -> None:
    assert is_loopback(host)
    assert resolve_control_token(host, None) is None
    assert resolve_control_token(host, True) is not None
    assert resolve_control_token(host, "given") == "given"


def test_serve_refuses_to_listen_beyond_loopback_without_a_token() -> None:
    # Checked before binding anything: nothing listens beyond loopback in this test.
    config = ServeConfig(host="0.0.0.0", port=0)
    with pytest.raises(MockStartError, match="beyond loopback"):
        asyncio.run(serve(MockState(), config))


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        resolve_control_token("127.0.0.1", "")


def test_the_client_and_the_mock_agree_on_names() -> None:
    import harness.control as client

    assert (client.TOKEN_HEADER, client.TOKEN_ENV, client.CONTROL_PREFIX) == (
        control_access.TOKEN_HEADER,
        control_access.TOKEN_ENV,
        CONTROL_PREFIX,
    )
