"""Robustness over HTTP: bodies the mock must refuse, unknown paths and methods, and
the one shape every error has (RFC 9457 problem+json). The mock must survive it all."""

from __future__ import annotations

import gzip
import json

import pytest
from mock_testkit import PRODUCTS, ApiClient, Tokens, assert_problem, product_input

from harness.control import ControlClient
from mocks.wire import MAX_BODY_BYTES

JSON = {"content-type": "application/json"}
BODY_OPERATIONS = [
    ("POST", "/v1/auth/register"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("PUT", "/v1/users/update"),
    ("POST", PRODUCTS),
]


@pytest.mark.parametrize("raw", [b"{", b"", b'{"name": "x",}', b"\xff\xfe", b"nul\x00"])
def test_malformed_json_is_a_400(api: ApiClient, demo: Tokens, raw: bytes) -> None:
    for method, path in BODY_OPERATIONS:
        response = api.request(method, path, demo, content=raw, headers=JSON)
        assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize("body", [[], [1, 2], "text", 5, None])
def test_json_that_is_not_an_object_is_a_422(api: ApiClient, demo: Tokens, body: object) -> None:
    for method, path in BODY_OPERATIONS:
        raw = json.dumps(body).encode()
        response = api.request(method, path, demo, content=raw, headers=JSON)
        problem = assert_problem(response, 422, "validation_failed")
        assert problem.model_extra["errors"][0]["field"] == "(body)"  # type: ignore[index]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", ""]
)
def test_a_non_json_content_type_is_a_415(api: ApiClient, demo: Tokens, content_type: str) -> None:
    body = json.dumps(product_input()).encode()
    headers = {"content-type": content_type} if content_type else {}
    response = api.post(PRODUCTS, demo, content=body, headers=headers)
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "APPLICATION/JSON", "application/merge-patch+json"],
)
def test_json_media_types_with_parameters_or_suffix_are_accepted(
    api: ApiClient, demo: Tokens, content_type: str
) -> None:
    body = json.dumps(product_input()).encode()
    response = api.post(PRODUCTS, demo, content=body, headers={"content-type": content_type})
    assert response.status_code == 201, response.text


def test_a_compressed_body_is_a_415(api: ApiClient, demo: Tokens) -> None:
    body = gzip.compress(json.dumps(product_input()).encode())
    headers = JSON | {"content-encoding": "gzip"}
    assert_problem(api.post(PRODUCTS, demo, content=body, headers=headers), 415)


def test_a_body_over_256_kib_is_a_413(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    total = api.total(demo)
    body = json.dumps(product_input(description="x" * MAX_BODY_BYTES)).encode()
    problem = assert_problem(api.post(PRODUCTS, demo, content=body, headers=JSON), 413)
    assert problem.code == "payload_too_large"
    assert str(MAX_BODY_BYTES) in problem.detail
    assert api.total(demo) == total
    assert harness_control.entries()[-2]["status"] == 413


def test_a_body_of_exactly_256_kib_is_read(api: ApiClient, demo: Tokens) -> None:
    body = json.dumps(product_input(description="x" * 100)).encode()
    body = body[:-1] + b" " * (MAX_BODY_BYTES - len(body)) + b"}"
    assert len(body) == MAX_BODY_BYTES
    response = api.post(PRODUCTS, demo, content=body, headers=JSON)
    assert response.status_code == 201, response.text  # then the model's own limits apply


def test_a_body_over_4_mib_is_still_a_413_problem(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    body = b'{"name": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    response = api.post(PRODUCTS, demo, content=body, headers=JSON)
    assert_problem(response, 413, "payload_too_large")
    assert harness_control.entries()[-1]["status"] == 413


@pytest.mark.parametrize(
    "path",
    ["/", "/v1", "/v1/", "/v2/products", "/v1/products/", "/v1/products/a/b", "/v1/users", "/x"],
)
def test_unknown_paths_are_a_404_problem(api: ApiClient, demo: Tokens, path: str) -> None:
    problem = assert_problem(api.get(path, demo), 404, "not_found")
    assert path in problem.detail


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", PRODUCTS, "GET, POST"),
        ("DELETE", PRODUCTS, "GET, POST"),
        ("POST", f"{PRODUCTS}/prd_x", "DELETE, GET, PUT"),
        ("GET", "/v1/auth/login", "POST"),
        ("DELETE", "/v1/users/profile", "GET"),
        ("POST", "/v1/users/update", "PUT"),
        ("HEAD", PRODUCTS, "GET, POST"),
    ],
)
def test_wrong_methods_are_a_405_with_allow(
    api: ApiClient, demo: Tokens, method: str, path: str, allow: str
) -> None:
    response = api.request(method, path, demo)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    if method != "HEAD":
        assert_problem(response, 405, "method_not_allowed")


@pytest.mark.parametrize(
    "path",
    [f"{PRODUCTS}?pagesize=10", f"{PRODUCTS}?page=1&sort=name", "/v1/users/profile?x=1"],
)
def test_unknown_query_parameters_are_a_400(api: ApiClient, demo: Tokens, path: str) -> None:
    problem = assert_problem(api.get(path, demo), 400, "invalid_parameter")
    assert "Unknown query parameter" in problem.detail


def test_problems_are_not_cached(api: ApiClient) -> None:
    assert api.get("/v1/nope").headers["cache-control"] == "no-store"


def test_the_mock_still_answers_after_all_that(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    for raw in (b"{", b"[]", b"x" * (MAX_BODY_BYTES + 1)):
        api.post(PRODUCTS, demo, content=raw, headers=JSON)
    api.request("BREW", PRODUCTS, demo)
    assert harness_control.health()["status"] == "ok"
    assert api.get(PRODUCTS, demo).status_code == 200
