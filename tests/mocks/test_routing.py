"""Routers on their own: the control API's (exact and templated paths, 404 and 405
problems) and the engine's, compiled from the demo's document; over HTTP, a trailing
slash the document does not declare is another path."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocks.problems import ProblemError
from mocks.routing import Router
from mocks.server import MockServer
from mocks.spec_chain import demo_spec

ROUTES = Router(
    [
        ("GET", "/items", "list"),
        ("post", "/items", "create"),
        ("GET", "/items/{id}", "get"),
        ("DELETE", "/items/{id}", "delete"),
        ("GET", "/items/{id}/parts/{part}", "part"),
        ("GET", "/items/special", "special"),
    ]
)


@pytest.mark.parametrize(
    ("method", "path", "name", "params"),
    [
        ("GET", "/items", "list", {}),
        ("POST", "/items", "create", {}),
        ("get", "/items", "list", {}),
        ("GET", "/items/42", "get", {"id": "42"}),
        ("DELETE", "/items/42", "delete", {"id": "42"}),
        ("GET", "/items/a%2Fb", "get", {"id": "a/b"}),
        ("GET", "/items/7/parts/x", "part", {"id": "7", "part": "x"}),
        ("GET", "/items/special", "special", {}),
    ],
)
def test_matches(method: str, path: str, name: str, params: dict[str, str]) -> None:
    match = ROUTES.match(method, path)
    assert (match.name, match.params) == (name, params)


@pytest.mark.parametrize("path", ["/", "/items/", "/items/1/", "/items/1/parts", "/itemsx", ""])
def test_unknown_paths_are_404(path: str) -> None:
    with pytest.raises(ProblemError) as caught:
        ROUTES.match("GET", path)
    assert (caught.value.status, caught.value.code) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/items", "GET, POST"),
        ("POST", "/items/1", "DELETE, GET"),
        ("HEAD", "/items", "GET, POST"),
    ],
)
def test_wrong_methods_are_405_with_allow(method: str, path: str, allow: str) -> None:
    with pytest.raises(ProblemError) as caught:
        ROUTES.match(method, path)
    problem = caught.value
    assert (problem.status, problem.code, problem.headers) == (
        405,
        "method_not_allowed",
        {"Allow": allow},
    )
    assert problem.to_response().headers["Allow"] == allow


def test_the_demo_document_routes_every_operation() -> None:
    api = demo_spec(products=0)
    found = {(p.op.method, p.op.path): op_id for op_id, p in api.plans.items()}
    for (method, template), op_id in found.items():
        concrete = template.replace("{id}", "prd_1")
        plan, _ = api.find(method, api.base_path + concrete) or (None, None)
        assert plan is not None, (method, concrete)
        assert plan.op.operation_id == op_id
    assert api.find("GET", "/v1/products")[0].op.operation_id == "listProducts"  # type: ignore[index]
    assert api.find("PUT", "/v1/products/prd_1")[1] == {"id": "prd_1"}  # type: ignore[index]
    assert api.find("POST", "/v1/auth/refresh")[0].op.operation_id == "refresh"  # type: ignore[index]
    assert api.find("GET", "/products") is None


@pytest.mark.parametrize("path", ["/v1/products/", "/v1/products/prd_1/", "/v1/users/profile/"])
def test_a_trailing_slash_the_document_does_not_declare_is_404(
    harness_mock: MockServer, path: str
) -> None:
    """Strict, as Prism is: `/v1/products/` is not `/v1/products` (a client that adds a
    slash would meet a 404 or a redirect from many real servers)."""
    response = httpx.get(harness_mock.base_url + path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
    without = httpx.get(harness_mock.base_url + path.rstrip("/"))
    assert without.status_code == 401  # the path exists: it only needs a session


@given(st.text(min_size=1, max_size=30))
def test_any_percent_encoded_segment_round_trips_as_a_param(segment: str) -> None:
    match = ROUTES.match("GET", "/items/" + quote(segment, safe=""))
    assert match.params == {"id": segment}


@given(st.text(alphabet=st.characters(blacklist_characters="/"), min_size=1, max_size=20))
def test_any_single_segment_under_items_is_an_item(tail: str) -> None:
    match = ROUTES.match("GET", "/items/" + tail)
    assert match.name == ("special" if tail == "special" else "get")


@given(st.text(max_size=30))
def test_any_path_is_matched_or_refused_with_a_problem(path: str) -> None:
    try:
        ROUTES.match("GET", path)
    except ProblemError as problem:
        status = problem.status
    else:
        status = 200
    assert status in (200, 404)
