"""The API key and request-signature gate, over HTTP."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from mock_testkit import (
    PRODUCTS,
    PROFILE,
    ApiClient,
    Tokens,
    assert_problem,
    product_input,
    signature_headers,
)

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from harness.control import ControlClient

SECRET = "s"
LOGIN = "/v1/auth/login"
LOGIN_BODY = json.dumps({"email": DEMO_EMAIL, "password": DEMO_PASSWORD}).encode()
JSON = {"content-type": "application/json"}


# --- API key ----------------------------------------------------------------------


@pytest.fixture
def api_key(harness_control: ControlClient) -> str:
    harness_control.configure(api_key="k")
    return "k"


def test_without_the_api_key_every_operation_is_refused(api: ApiClient, api_key: str) -> None:
    login = api.post(LOGIN, json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    problem = assert_problem(login, 403, "missing_api_key")
    assert "X-API-Key" in problem.detail
    assert_problem(api.get(PRODUCTS), 403, "missing_api_key")


@pytest.mark.parametrize("wrong", ["K", "k2", "", "kk"])
def test_a_wrong_api_key_is_refused(api: ApiClient, api_key: str, wrong: str) -> None:
    response = api.post(LOGIN, content=LOGIN_BODY, headers=JSON | {"X-API-Key": wrong})
    assert_problem(response, 403, "invalid_api_key")


def test_the_right_api_key_passes(api: ApiClient, api_key: str) -> None:
    key = {"X-API-Key": api_key}
    response = api.post(LOGIN, content=LOGIN_BODY, headers=JSON | key)
    assert response.status_code == 200
    auth = Tokens(response.json()["access_token"], "", 0)
    assert api.get(PROFILE, auth, headers=key).status_code == 200
    assert_problem(api.get(PROFILE, auth), 403, "missing_api_key")  # needed on every call


def test_the_key_is_checked_before_the_bearer_token(api: ApiClient, api_key: str) -> None:
    assert_problem(api.get(PROFILE), 403, "missing_api_key")
    assert_problem(api.get(PROFILE, headers={"X-API-Key": api_key}), 401, "token_missing")


def test_the_control_api_needs_no_api_key(api: ApiClient, api_key: str) -> None:
    assert api.get("/__harness/health").status_code == 200


def test_reset_restores_the_startup_config_without_a_key(
    api: ApiClient, api_key: str, harness_control: ControlClient
) -> None:
    harness_control.reset()
    assert harness_control.config()["api_key_set"] is False
    api.login()


def test_clearing_the_key_opens_the_api_again(
    api: ApiClient, api_key: str, harness_control: ControlClient
) -> None:
    harness_control.configure(api_key=None)
    api.login()


# --- signing ----------------------------------------------------------------------


@pytest.fixture
def signed(harness_control: ControlClient) -> None:
    harness_control.configure(signing=True, signing_secret=SECRET)


def _send(
    api: ApiClient, method: str, path: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return api.http.request(method, path, content=body, headers=JSON | headers)


def _signed_login(api: ApiClient, **kwargs: str) -> Tokens:
    headers = signature_headers(SECRET, "POST", LOGIN, LOGIN_BODY, **kwargs)
    response = _send(api, "POST", LOGIN, LOGIN_BODY, headers)
    assert response.status_code == 200, response.text
    return Tokens(response.json()["access_token"], "", 0)


@pytest.mark.usefixtures("signed")
def test_a_correctly_signed_request_passes_with_milliseconds(api: ApiClient) -> None:
    _signed_login(api, timestamp=str(int(time.time() * 1000)))


@pytest.mark.usefixtures("signed")
def test_a_correctly_signed_request_passes_with_seconds(api: ApiClient) -> None:
    _signed_login(api, timestamp=str(int(time.time())))


@pytest.mark.usefixtures("signed")
def test_signed_requests_with_a_query_and_a_bearer_token(api: ApiClient) -> None:
    auth = _signed_login(api)
    path = f"{PRODUCTS}?page=2&page_size=3&category=books"
    headers = signature_headers(SECRET, "GET", path) | auth.headers
    response = _send(api, "GET", path, b"", headers)
    assert response.status_code == 200, response.text
    assert len(response.json()) == 3


@pytest.mark.usefixtures("signed")
def test_tampering_with_the_body_is_refused(api: ApiClient) -> None:
    headers = signature_headers(SECRET, "POST", LOGIN, LOGIN_BODY)
    tampered = LOGIN_BODY.replace(b"demo-password", b"demo-passwore")
    assert_problem(_send(api, "POST", LOGIN, tampered, headers), 403, "signature_invalid")


@pytest.mark.usefixtures("signed")
@pytest.mark.parametrize(
    ("signed_path", "sent_path"),
    [
        (f"{PRODUCTS}?page=1", f"{PRODUCTS}?page=2"),
        (f"{PRODUCTS}?page=1", PRODUCTS),
        (PRODUCTS, f"{PRODUCTS}?page=1"),
        (f"{PRODUCTS}/prd_a", f"{PRODUCTS}/prd_b"),
    ],
)
def test_tampering_with_path_or_query_is_refused(
    api: ApiClient, signed_path: str, sent_path: str
) -> None:
    headers = signature_headers(SECRET, "GET", signed_path)
    assert_problem(_send(api, "GET", sent_path, b"", headers), 403, "signature_invalid")


@pytest.mark.usefixtures("signed")
def test_tampering_with_the_method_is_refused(api: ApiClient) -> None:
    auth = _signed_login(api)
    listing = _send(
        api, "GET", PRODUCTS, b"", signature_headers(SECRET, "GET", PRODUCTS) | auth.headers
    )
    path = f"{PRODUCTS}/{listing.json()[0]['id']}"
    headers = signature_headers(SECRET, "GET", path) | auth.headers
    assert_problem(_send(api, "DELETE", path, b"", headers), 403, "signature_invalid")
    still = _send(api, "GET", path, b"", signature_headers(SECRET, "GET", path) | auth.headers)
    assert still.status_code == 200


@pytest.mark.usefixtures("signed")
def test_a_wrong_secret_is_refused(api: ApiClient) -> None:
    headers = signature_headers("not-the-secret", "POST", LOGIN, LOGIN_BODY)
    assert_problem(_send(api, "POST", LOGIN, LOGIN_BODY, headers), 403, "signature_invalid")


@pytest.mark.usefixtures("signed")
def test_a_reused_nonce_is_refused(api: ApiClient) -> None:
    _signed_login(api, nonce="nonce-1")
    headers = signature_headers(SECRET, "POST", LOGIN, LOGIN_BODY, nonce="nonce-1")
    assert_problem(_send(api, "POST", LOGIN, LOGIN_BODY, headers), 403, "signature_replayed")


@pytest.mark.usefixtures("signed")
def test_a_reset_does_not_make_a_captured_request_valid_again(
    api: ApiClient, harness_control: ControlClient
) -> None:
    headers = signature_headers(SECRET, "POST", LOGIN, LOGIN_BODY)
    assert _send(api, "POST", LOGIN, LOGIN_BODY, headers).status_code == 200
    harness_control.reset()
    harness_control.configure(signing=True, signing_secret=SECRET)
    # The captured request, replayed byte for byte after the reset: still a replay.
    assert_problem(_send(api, "POST", LOGIN, LOGIN_BODY, headers), 403, "signature_replayed")


@pytest.mark.usefixtures("signed")
def test_a_forged_request_does_not_burn_the_nonce(api: ApiClient) -> None:
    forged = signature_headers("wrong", "POST", LOGIN, LOGIN_BODY, nonce="nonce-2")
    assert_problem(_send(api, "POST", LOGIN, LOGIN_BODY, forged), 403, "signature_invalid")
    _signed_login(api, nonce="nonce-2")


@pytest.mark.usefixtures("signed")
@pytest.mark.parametrize("offset_s", [-600, 600])
def test_a_timestamp_ten_minutes_off_is_stale(api: ApiClient, offset_s: int) -> None:
    for stamp in (str(int(time.time() + offset_s)), str(int((time.time() + offset_s) * 1000))):
        headers = signature_headers(SECRET, "POST", LOGIN, LOGIN_BODY, timestamp=stamp)
        assert_problem(_send(api, "POST", LOGIN, LOGIN_BODY, headers), 403, "signature_stale")


@pytest.mark.usefixtures("signed")
@pytest.mark.parametrize("dropped", ["X-App-Timestamp", "X-App-Nonce", "X-App-Signature"])
def test_a_missing_signature_header_is_refused(api: ApiClient, dropped: str) -> None:
    headers = signature_headers(SECRET, "POST", LOGIN, LOGIN_BODY)
    del headers[dropped]
    assert_problem(_send(api, "POST", LOGIN, LOGIN_BODY, headers), 403, "signature_missing")


@pytest.mark.usefixtures("signed")
def test_an_unsigned_request_is_refused(api: ApiClient) -> None:
    assert_problem(api.get(PRODUCTS), 403, "signature_missing")


@pytest.mark.usefixtures("signed")
@pytest.mark.parametrize(("timestamp", "nonce"), [("soon", "n"), ("1" * 17, "n"), ("", "n" * 129)])
def test_a_malformed_timestamp_or_nonce_is_refused(
    api: ApiClient, timestamp: str, nonce: str
) -> None:
    headers = signature_headers(SECRET, "POST", LOGIN, LOGIN_BODY, timestamp=timestamp or None)
    headers["X-App-Nonce"] = nonce
    response = _send(api, "POST", LOGIN, LOGIN_BODY, headers)
    assert_problem(response, 403, "signature_malformed")


@pytest.mark.usefixtures("signed")
def test_signing_covers_a_created_product(api: ApiClient) -> None:
    auth = _signed_login(api)
    body = json.dumps(product_input()).encode()
    headers = signature_headers(SECRET, "POST", PRODUCTS, body) | auth.headers
    assert _send(api, "POST", PRODUCTS, body, headers).status_code == 201


@pytest.mark.usefixtures("signed")
def test_the_api_key_is_checked_before_the_signature(
    api: ApiClient, harness_control: ControlClient
) -> None:
    harness_control.configure(api_key="k")
    headers = signature_headers(SECRET, "POST", LOGIN, LOGIN_BODY)
    assert_problem(_send(api, "POST", LOGIN, LOGIN_BODY, headers), 403, "missing_api_key")
    response = _send(api, "POST", LOGIN, LOGIN_BODY, headers | {"X-API-Key": "k"})
    assert response.status_code == 200
