"""Router on its own: exact and templated paths, 404 and 405 problems."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mocks.problems import ProblemError
from mocks.routes import ROUTER
from mocks.routing import Router

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


def test_the_api_router_knows_every_operation() -> None:
    assert ROUTER.match("GET", "/v1/products").name == "listProducts"
    assert ROUTER.match("PUT", "/v1/products/prd_1").params == {"id": "prd_1"}
    assert ROUTER.match("POST", "/v1/auth/refresh").name == "refresh"
    with pytest.raises(ProblemError):
        ROUTER.match("GET", "/products")


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
