"""`harness mock --spec`: a small document written for these tests (tests/data/books),
served by the real mock over loopback: routing, validation, state, auth, faults, journal."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mock_testkit import harness_command

from contracts.config import load_config
from contracts.document import DocumentError
from mocks.server import MockServer

BOOKS = Path(__file__).parents[1] / "data" / "books"
IDENTITY = {"email": "reader@example.com", "password": "secret-pass"}


def _error_body(response: httpx.Response) -> list[str]:
    """The document's own error shape: {"errors": {"body": [reason]}}."""
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert set(body) == {"errors"}, body
    assert isinstance(body["errors"]["body"], list), body
    return list(body["errors"]["body"])


@pytest.fixture(scope="module")
def books_mock() -> Iterator[MockServer]:
    config = load_config(BOOKS / "harness.yaml")
    with MockServer(spec=config.spec_location, config=config) as server:
        yield server


@pytest.fixture
def books(books_mock: MockServer) -> Iterator[httpx.Client]:
    httpx.post(books_mock.control_url + "/reset").raise_for_status()
    with httpx.Client(base_url=books_mock.base_url + "/api", timeout=10.0) as client:
        yield client


def _login(client: httpx.Client) -> dict[str, str]:
    answer = client.post("/users/login", json={"user": IDENTITY})
    assert answer.status_code == 200, answer.text
    return {"Authorization": "Token " + answer.json()["user"]["token"]}


def _journal(mock: MockServer) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = httpx.get(mock.control_url + "/journal").json()["entries"]
    return entries


def test_every_operation_is_served_with_a_declared_status(
    books: httpx.Client, books_mock: MockServer
) -> None:
    auth = _login(books)
    operations = httpx.get(books_mock.control_url + "/operations").json()["operations"]
    assert {op["operation"] for op in operations} == {
        "Login", "GetCurrentUser", "ListBooks", "CreateBook", "GetBook", "UpdateBook", "DeleteBook",
    }  # fmt: skip
    body = {"book": {"title": "Dune", "author": "Frank Herbert"}}
    calls = {
        "GetCurrentUser": ("GET", "/user", None),
        "ListBooks": ("GET", "/books", None),
        "CreateBook": ("POST", "/books", body),
        "GetBook": ("GET", "/books/1", None),
        "UpdateBook": ("PUT", "/books/1", body),
        "DeleteBook": ("DELETE", "/books/2", None),
    }
    expected = {"GetCurrentUser": 200, "ListBooks": 200, "CreateBook": 201, "GetBook": 200}
    expected |= {"UpdateBook": 200, "DeleteBook": 204}
    for operation, (method, path, payload) in calls.items():
        answer = books.request(method, path, json=payload, headers=auth)
        assert answer.status_code == expected[operation], (operation, answer.text)


def test_a_created_book_reads_back_updates_persist_lists_show_it_and_deletes_answer_404(
    books: httpx.Client,
) -> None:
    auth = _login(books)
    before = books.get("/books", params={"limit": 100}).json()["booksCount"]
    created = books.post(
        "/books", json={"book": {"title": "Dune", "author": "Herbert"}}, headers=auth
    )
    assert created.status_code == 201, created.text
    book = created.json()["book"]
    assert (book["title"], book["author"]) == ("Dune", "Herbert")
    location = created.headers["Location"]
    assert location == f"/api/books/{book['id']}"
    assert books.get(f"/books/{book['id']}").json()["book"] == book

    changed = books.put(
        f"/books/{book['id']}",
        json={"book": {"title": "Dune Messiah", "author": "Herbert"}},
        headers=auth,
    )
    assert changed.json()["book"]["title"] == "Dune Messiah"
    assert books.get(f"/books/{book['id']}").json()["book"]["title"] == "Dune Messiah"

    listing = books.get("/books", params={"limit": 100}).json()
    assert listing["booksCount"] == before + 1
    assert book["id"] in [b["id"] for b in listing["books"]]

    assert books.delete(f"/books/{book['id']}", headers=auth).status_code == 204
    gone = books.get(f"/books/{book['id']}")
    assert gone.status_code == 404
    assert "No book with id" in _error_body(gone)[0]
    assert books.get("/books", params={"limit": 100}).json()["booksCount"] == before


def test_listings_page_by_limit_and_offset(books: httpx.Client) -> None:
    everything = books.get("/books", params={"limit": 100}).json()
    assert everything["booksCount"] == 5  # items_per_resource in the configuration
    first = books.get("/books", params={"limit": 2}).json()
    second = books.get("/books", params={"limit": 2, "offset": 2}).json()
    assert [b["id"] for b in first["books"] + second["books"]] == [
        b["id"] for b in everything["books"][:4]
    ]
    assert first["booksCount"] == 5


def test_seeded_data_is_realistic_and_the_same_for_the_same_seed(
    books: httpx.Client, books_mock: MockServer
) -> None:
    config = load_config(BOOKS / "harness.yaml")
    with MockServer(spec=config.spec_location, config=config) as twin:
        again = httpx.get(twin.base_url + "/api/books").json()
    first = books.get("/books").json()
    assert first == again
    reseeded = config.updated({"mock.seed": 2})
    with MockServer(spec=reseeded.spec_location, config=reseeded) as other:
        assert httpx.get(other.base_url + "/api/books").json() != first
    author = first["books"][0]["author"]
    assert " " in author
    assert author[0].isupper()


def test_requests_the_document_forbids_get_its_error_shape_with_the_reason(
    books: httpx.Client,
) -> None:
    auth = _login(books)
    bad_query = books.get("/books", params={"limit": 0})
    assert bad_query.status_code == 422
    assert "limit" in _error_body(bad_query)[0]
    assert "minimum" in _error_body(bad_query)[0]
    bad_path = books.get("/books/not-a-number")
    assert bad_path.status_code == 422
    assert "bookId" in _error_body(bad_path)[0]
    missing_field = books.post("/books", json={"book": {"title": "x"}}, headers=auth)
    assert missing_field.status_code == 422
    assert "author" in _error_body(missing_field)[0]
    not_json = books.post(
        "/books", content=b"{", headers=auth | {"content-type": "application/json"}
    )
    assert not_json.status_code == 422
    assert "JSON" in _error_body(not_json)[0]
    wrong_type = books.post(
        "/books", content=b"title=x", headers=auth | {"content-type": "text/plain"}
    )
    assert wrong_type.status_code == 422
    assert "application/json" in _error_body(wrong_type)[0]


def test_undeclared_paths_and_methods_get_problem_details(books: httpx.Client) -> None:
    missing = books.get("/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    method = books.patch("/books/1")
    assert method.status_code == 405
    assert method.headers["Allow"] == "DELETE, GET, PUT"


def test_secured_operations_need_a_token_with_the_schemes_prefix(
    books: httpx.Client, books_mock: MockServer
) -> None:
    body = {"book": {"title": "Dune", "author": "Herbert"}}
    assert books.post("/books", json=body).status_code == 401
    token = _login(books)["Authorization"].removeprefix("Token ")
    wrong_prefix = books.post("/books", json=body, headers={"Authorization": f"Bearer {token}"})
    assert wrong_prefix.status_code == 401
    assert _error_body(wrong_prefix)
    assert (
        books.post("/books", json=body, headers={"Authorization": f"Token {token}"}).status_code
        == 201
    )
    forged = books.post(
        "/books", json=body, headers={"Authorization": "Token " + token[:-3] + "abc"}
    )
    assert forged.status_code == 401
    httpx.post(books_mock.control_url + "/tokens/expire").raise_for_status()
    assert (
        books.post("/books", json=body, headers={"Authorization": f"Token {token}"}).status_code
        == 401
    )


def test_login_checks_the_identity_and_current_user_answers_the_account(
    books: httpx.Client,
) -> None:
    wrong = books.post("/users/login", json={"user": {**IDENTITY, "password": "nope"}})
    assert wrong.status_code == 401
    assert _error_body(wrong)
    auth = _login(books)
    me = books.get("/user", headers=auth).json()["user"]
    assert (me["email"], me["username"]) == ("reader@example.com", "reader")
    assert me["token"] == auth["Authorization"].removeprefix("Token ")


def test_control_api_mints_tokens_the_mock_accepts(
    books: httpx.Client, books_mock: MockServer
) -> None:
    minted = httpx.post(books_mock.control_url + "/tokens", json={"user": "reader@example.com"})
    assert minted.status_code == 201
    auth = {"Authorization": "Token " + minted.json()["access_token"]}
    assert books.get("/user", headers=auth).json()["user"]["email"] == "reader@example.com"


def test_faults_fire_by_operation_id_and_role_and_the_journal_names_both(
    books: httpx.Client, books_mock: MockServer
) -> None:
    control = books_mock.control_url
    by_id = {"match": {"operation": "GetBook"}, "action": {"type": "status", "status": 503}}
    by_role = {"match": {"role": "list"}, "action": {"type": "status", "status": 429}}
    assert httpx.post(control + "/faults", json=by_id).status_code == 201
    assert httpx.post(control + "/faults", json=by_role).status_code == 201
    assert books.get("/books/1").status_code == 503
    assert books.get("/books").status_code == 429
    assert books.get("/user").status_code == 401  # neither rule: the API answers
    entries = _journal(books_mock)
    seen = [
        (e["operation"], e["role"], e["status"], (e["fault"] or {}).get("action")) for e in entries
    ]
    assert seen == [
        ("GetBook", "read", 503, "status"),
        ("ListBooks", "list", 429, "status"),
        ("GetCurrentUser", "current_user", 401, None),
    ]


@pytest.mark.parametrize(
    ("match", "reason"),
    [
        ({"operation": "Logout"}, "no operation 'Logout'"),
        ({"role": "refresh"}, "no operation has role refresh"),
        ({"path": "/v1/*"}, "match no operation"),
        ({"operation": "GetBook", "methods": ["POST"]}, "match no operation"),
    ],
)
def test_a_rule_that_matches_nothing_in_the_document_is_refused(
    books: httpx.Client, books_mock: MockServer, match: dict[str, Any], reason: str
) -> None:
    refused = httpx.post(
        books_mock.control_url + "/faults", json={"match": match, "action": {"type": "reset"}}
    )
    assert refused.status_code == 400
    assert reason in refused.json()["detail"]
    assert httpx.get(books_mock.control_url + "/faults").json()["faults"] == []


def test_built_in_scenarios_fire_on_any_api_and_warn_about_rules_that_cannot(
    books: httpx.Client, books_mock: MockServer
) -> None:
    loaded = httpx.post(books_mock.control_url + "/scenario", json={"name": "rate-limited"})
    assert loaded.status_code == 200
    assert loaded.json()["warnings"] == []
    statuses = [books.get("/books/1").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    churn = httpx.post(
        books_mock.control_url + "/scenario",
        json={
            "inline": {
                "name": "x",
                "faults": [{"match": {"role": "refresh"}, "action": {"type": "reset"}}],
            }
        },
    )
    assert "no operation has role refresh" in churn.json()["warnings"][0]


def test_an_invalid_document_names_the_pointer_and_the_mock_does_not_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (
        (BOOKS / "openapi.yaml").read_text().replace("description: denied,", "description: 7,", 1)
    )
    bad.write_text(text)
    with pytest.raises(DocumentError, match=r"/paths/~1users~1login/post/responses/401"):
        MockServer(spec=str(bad))
    run = subprocess.run(
        [*harness_command(), "mock", "--port", "0", "--spec", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "/paths/~1users~1login/post/responses/401" in run.stderr


def test_realworld_articles_are_stateful_by_slug_behind_its_token_prefix() -> None:
    config = load_config(Path(__file__).parents[1] / "data" / "realworld" / "harness.yaml")
    with (
        MockServer(spec=config.spec_location, config=config) as mock,
        httpx.Client(base_url=mock.base_url + "/api", timeout=10.0) as api,
    ):
        user = {"email": "new@example.com", "password": "pw-123456", "username": "newbie"}
        registered = api.post("/users", json={"user": user})
        assert registered.status_code == 201, registered.text
        assert registered.json()["user"]["username"] == "newbie"
        auth = {"Authorization": "Token " + registered.json()["user"]["token"]}
        before = api.get("/articles").json()["articlesCount"]
        article = {"title": "How to mock", "description": "d", "body": "b", "tagList": ["x"]}
        created = api.post("/articles", json={"article": article}, headers=auth)
        assert created.status_code == 201, created.text
        slug = created.json()["article"]["slug"]
        assert created.json()["article"]["title"] == "How to mock"
        assert api.get(f"/articles/{slug}").json()["article"]["body"] == "b"
        changed = api.put(f"/articles/{slug}", json={"article": {"body": "new"}}, headers=auth)
        assert changed.json()["article"]["body"] == "new"
        assert api.get(f"/articles/{slug}").json()["article"]["body"] == "new"
        assert api.get("/articles").json()["articlesCount"] == before + 1
        assert slug in [
            a["slug"] for a in api.get("/articles", params={"limit": 100}).json()["articles"]
        ]
        assert slug == "how-to-mock"  # a slug id is made from the title
        assert api.delete(f"/articles/{slug}", headers=auth).status_code == 204  # as declared
        assert api.get("/articles").json()["articlesCount"] == before
        assert api.post("/users", json={"user": user}).status_code == 422  # taken
