"""The named mock behaviours (`mock.behaviours`, docs/mock.md) on a document that is
not the demo's: the lending library (examples/library). Each is shown absent when
switched off and present when on, over real sockets against the spec mock; and the
engine's own state (ids that fit the path, actions on items, /health) on the same."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from mock_testkit import signature_headers

from contracts.config import MOCK_BEHAVIOURS, HarnessConfig, load_config
from mocks.server import MockServer

LIBRARY = Path(__file__).parents[2] / "examples" / "library"
READER = {"email": "reader@example.org", "password": "reader-password"}
CRITIC = {"email": "critic@example.org", "password": "critic-password"}
SECRET = "library-signing-secret"
API_KEY = "library-key"
# Everything but signatures and the key, which every request would then need.
ALL_ON = [b for b in MOCK_BEHAVIOURS if b not in ("request_signing", "api_key")]


def _config(behaviours: list[str]) -> HarnessConfig:
    config = load_config(LIBRARY / "harness.yaml", env={})
    return config.updated(
        {
            "mock.behaviours": behaviours,
            "auth.signing_secret": SECRET,
            "auth.api_key": API_KEY,
        }
    )


@pytest.fixture(scope="module")
def plain() -> Iterator[MockServer]:
    config = _config([])
    with MockServer(spec=config.spec_location, config=config) as mock:
        yield mock


@pytest.fixture(scope="module")
def behaving() -> Iterator[MockServer]:
    config = _config(ALL_ON)
    with MockServer(spec=config.spec_location, config=config) as mock:
        yield mock


def _client(mock: MockServer) -> httpx.Client:
    httpx.post(mock.control_url + "/reset").raise_for_status()
    return httpx.Client(base_url=mock.base_url + "/api", timeout=10.0)


def _login(client: httpx.Client, who: dict[str, str]) -> dict[str, str]:
    answer = client.post("/users/login", json={"user": who})
    assert answer.status_code == 200, answer.text
    return {"Authorization": "Token " + answer.json()["user"]["token"]}


def _book(title: str = "Dune") -> dict[str, object]:
    book = {"title": title, "authors": ["Frank Herbert"], "isbn": "9780441013593", "copies": 2}
    return {"book": book}


def _create(client: httpx.Client, auth: dict[str, str], title: str = "Dune") -> str:
    created = client.post("/books", json=_book(title), headers=auth)
    assert created.status_code == 201, created.text
    return str(created.json()["book"]["slug"])


# --- listings: total_count, link_pagination ---------------------------------------------


def test_listings_have_no_paging_headers_unless_switched_on(plain: MockServer) -> None:
    with _client(plain) as client:
        page = client.get("/books", params={"limit": 5})
    assert page.status_code == 200
    assert "X-Total-Count" not in page.headers
    assert "Link" not in page.headers


def test_total_count_and_link_walk_every_item_once(behaving: MockServer) -> None:
    seen: list[str] = []
    with _client(behaving) as client:
        url: str | None = "/books?limit=7"
        pages = 0
        total = None
        while url is not None and pages < 20:
            page = client.get(url)
            assert page.status_code == 200, page.text
            total = int(page.headers["X-Total-Count"])
            assert total == page.json()["books_count"]
            seen += [b["slug"] for b in page.json()["books"]]
            links = dict(
                (rel, target)
                for target, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', page.headers["Link"])
            )
            assert urlsplit(links["first"]).path == "/api/books"
            url = links.get("next")
            url = url.removeprefix("/api") if url else None
            pages += 1
    assert total is not None
    assert total > 7
    assert len(seen) == total
    assert len(set(seen)) == total


# --- idempotency_keys -------------------------------------------------------------------


def test_an_idempotency_key_on_a_create_that_does_not_declare_it(
    plain: MockServer, behaving: MockServer
) -> None:
    key = {"Idempotency-Key": "create-dune-1"}
    with _client(plain) as client:
        auth = _login(client, READER) | key
        first = client.post("/books", json=_book(), headers=auth)
        second = client.post("/books", json=_book(), headers=auth)
    assert first.json()["book"]["slug"] != second.json()["book"]["slug"]  # ignored: two books
    with _client(behaving) as client:
        auth = _login(client, READER) | key
        first = client.post("/books", json=_book(), headers=auth)
        replay = client.post("/books", json=_book(), headers=auth)
        other = client.post("/books", json=_book("Emma"), headers=auth)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert other.status_code == 422, other.text  # the status CreateBook declares for it
    assert "different request body" in other.text


# --- ownership --------------------------------------------------------------------------


def test_without_ownership_anyone_may_change_anyones_book(plain: MockServer) -> None:
    with _client(plain) as client:
        slug = _create(client, _login(client, READER))
        assert client.delete(f"/books/{slug}", headers=_login(client, CRITIC)).status_code == 204


def test_with_ownership_only_the_owner_changes_and_reads_what_is_private(
    behaving: MockServer,
) -> None:
    with _client(behaving) as client:
        reader, critic = _login(client, READER), _login(client, CRITIC)
        slug = _create(client, reader)
        change = {"book": {"title": "Dune Messiah"}}
        refused = client.put(f"/books/{slug}", json=change, headers=critic)
        assert refused.status_code == 403, refused.text
        assert client.delete(f"/books/{slug}", headers=critic).status_code == 403
        assert client.get(f"/books/{slug}", headers=critic).status_code == 200  # public read
        loan = client.post("/loans", json={"loan": {"book": slug}}, headers=reader)
        assert loan.status_code == 201, loan.text
        loan_id = loan.json()["loan"]["id"]
        assert client.get(f"/loans/{loan_id}", headers=critic).status_code == 403  # declares 403
        assert client.get(f"/loans/{loan_id}", headers=reader).status_code == 200
        assert client.put(f"/books/{slug}", json=change, headers=reader).status_code == 200
        assert client.delete(f"/books/{slug}", headers=reader).status_code == 204
    journal = httpx.get(behaving.control_url + "/journal").json()["entries"]
    assert any(e.get("code") == "not_book_owner" for e in journal)  # journaled refusals


# --- strict_query, problem_details ------------------------------------------------------


def test_an_unknown_query_parameter_is_ignored_unless_strict(
    plain: MockServer, behaving: MockServer
) -> None:
    with _client(plain) as client:
        assert client.get("/books", params={"pagesize": 3}).status_code == 200
    with _client(behaving) as client:
        typo = client.get("/books", params={"pagesize": 3})
    assert typo.status_code == 422, typo.text  # ListBooks declares 422, not 400
    assert "pagesize" in typo.text


def test_errors_take_the_documents_shape_unless_problem_details(
    plain: MockServer, behaving: MockServer
) -> None:
    with _client(plain) as client:
        declared = client.get("/books/no-such-book")
    assert declared.status_code == 404
    assert declared.headers["content-type"] == "application/json"
    with _client(behaving) as client:
        problem = client.get("/books/no-such-book")
    assert problem.status_code == 404
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.json()["status"] == 404
    assert "no-such-book" in problem.json()["detail"]


def test_a_problem_lists_every_invalid_field_by_its_path(behaving: MockServer) -> None:
    """The problem's `errors` name each field: nested paths, missing and unexpected
    properties; the document's own shape (plain) keeps its one string per reason."""
    body = {"book": {"authors": [""], "copies": 0}, "shelf": "A1"}
    with _client(behaving) as client:
        auth = _login(client, READER)
        problem = client.post("/books", json=body, headers=auth)
    assert problem.status_code == 422, problem.text
    assert problem.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in problem.json()["errors"]}
    assert {"book.authors.0", "book.copies", "book.isbn", "book.title", "shelf"} <= fields
    assert all(e["message"] for e in problem.json()["errors"])


def test_a_401_challenges_in_the_schemes_own_name(plain: MockServer) -> None:
    """`Authorization: Token <jwt>` (an apiKey scheme with a prefix): the challenge is
    `Token`, and another scheme's credentials count as none (RFC 6750 3.1)."""
    with _client(plain) as client:
        token = _login(client, READER)["Authorization"]
        answers = [
            client.post("/books", json=_book(), headers=headers)
            for headers in ({}, {"Authorization": "Bearer " + token}, {"Authorization": "Token x"})
        ]
        wrong_login = client.post("/users/login", json={"user": READER | {"password": "nope"}})
    for answer in [*answers, wrong_login]:
        assert answer.status_code == 401, answer.text
        assert answer.headers["WWW-Authenticate"] == 'Token realm="api"'


def test_seeded_items_belong_to_the_configured_owner() -> None:
    """`mock.resources.<name>.seed_owner`: with `ownership`, the seeded items are that
    account's (one of `mock.accounts`), and nobody else's to change."""
    owner = {"id": "usr_owner", "email": "owner@example.org", "password": "owner-pass"}
    config = _config(["ownership"]).updated(
        {
            "mock.accounts": [owner | {"username": "owner"}],
            "mock.resources": {"books": {"id_field": "slug", "seed_owner": "usr_owner"}},
        }
    )
    with MockServer(spec=config.spec_location, config=config) as mock, _client(mock) as client:
        slug = client.get("/books").json()["books"][0]["slug"]
        reader = _login(client, READER)
        refused = client.delete(f"/books/{slug}", headers=reader)
        allowed = client.delete(f"/books/{slug}", headers=_login(client, OWNER_LOGIN))
    assert refused.status_code == 403, refused.text
    assert allowed.status_code == 204, allowed.text


OWNER_LOGIN = {"email": "owner@example.org", "password": "owner-pass"}


# --- accounts: identity, profile updates ------------------------------------------------


def _member(email: str, username: str = "rene") -> dict[str, object]:
    return {"user": {"email": email, "username": username, "password": "pass-word-1"}}


def test_two_spellings_of_one_address_are_one_account(behaving: MockServer) -> None:
    """Login names compare by NFKC_Casefold: composed and decomposed accents, `ß` and
    `ss` and case are one account; the clash is `email_taken`."""
    composed, decomposed = "ren\u00e9e@example.org", "RENE\u0301E@example.org"
    with _client(behaving) as client:
        assert client.post("/users", json=_member(composed)).status_code == 201
        again = client.post("/users", json=_member(decomposed, "other"))
        login = client.post(
            "/users/login", json={"user": {"email": decomposed, "password": "pass-word-1"}}
        )
        street = client.post("/users", json=_member("stra\u00dfe@example.org", "street"))
        upper_ss = client.post("/users", json=_member("STRASSE@example.org", "road"))
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "email_taken"
    assert login.status_code == 200, login.text
    assert login.json()["user"]["email"] == composed  # the address as registered
    assert street.status_code == 201, street.text
    assert upper_ss.status_code == 409  # ß casefolds to ss


def test_a_profile_update_persists_and_moves_the_login() -> None:
    config = _config(ALL_ON).updated({"roles.update_current_user": "UpdateCurrentUser"})
    with MockServer(spec=config.spec_location, config=config) as mock, _client(mock) as client:
        auth = _login(client, READER)
        change = {"user": {"email": "moved@example.org", "bio": "Reads a lot."}}
        updated = client.put("/user", json=change, headers=auth)
        profile = client.get("/user", headers=auth).json()["user"]
        moved = client.post("/users/login", json={"user": READER | {"email": "moved@example.org"}})
        old = client.post("/users/login", json={"user": READER})
        taken = client.put("/user", json={"user": {"email": CRITIC["email"]}}, headers=auth)
        after = client.get("/user", headers=auth).json()["user"]
    assert updated.status_code == 200, updated.text
    assert (profile["email"], profile["bio"]) == ("moved@example.org", "Reads a lot.")
    assert profile["username"] == "reader"  # what was not sent stays
    assert moved.status_code == 200, moved.text
    assert old.status_code == 401
    assert taken.status_code == 409
    assert taken.json()["code"] == "email_taken"
    assert after["email"] == "moved@example.org"


def test_credentials_and_ownership_are_judged_before_the_body(behaving: MockServer) -> None:
    """A caller without credentials, or not the owner, learns nothing about what a
    valid body would be: 401 and 403 come before the body's 422."""
    invalid = {"book": {"copies": 0}}
    with _client(behaving) as client:
        anonymous = client.post("/books", json=invalid)
        reader, critic = _login(client, READER), _login(client, CRITIC)
        slug = _create(client, reader)
        stranger = client.put(f"/books/{slug}", json=invalid, headers=critic)
        owner = client.put(f"/books/{slug}", json=invalid, headers=reader)
    assert anonymous.status_code == 401, anonymous.text
    assert stranger.status_code == 403, stranger.text
    assert owner.status_code == 422, owner.text


def test_bodies_in_a_coding_are_refused_and_json_suffixes_accepted(behaving: MockServer) -> None:
    import gzip
    import json

    raw = json.dumps(_book()).encode()
    with _client(behaving) as client:
        auth = _login(client, READER)
        json_type = {"content-type": "application/json"}
        zipped = client.post(
            "/books",
            content=gzip.compress(raw),
            headers=auth | json_type | {"content-encoding": "gzip"},
        )
        suffixed = client.post(
            "/books", content=raw, headers=auth | {"content-type": "application/merge-patch+json"}
        )
        empty = client.post("/books", content=b"", headers=auth | json_type)
    # The library declares no 415: its one client-error status, with the reason.
    assert (zipped.status_code, zipped.json()["code"]) == (422, "unsupported_media_type")
    assert suffixed.status_code == 201, suffixed.text
    assert empty.status_code == 422, empty.text
    assert empty.json()["code"] == "malformed_json"


def test_a_closed_accounts_token_is_refused_and_its_name_free_again(plain: MockServer) -> None:
    """DELETE on the current user's path (DeleteCurrentUser) closes the account, as the
    contract suite reads the document: its token stops working at once."""
    member = _member("leaving@example.org", "leaving")
    with _client(plain) as client:
        created = client.post("/users", json=member)
        auth = {"Authorization": "Token " + created.json()["user"]["token"]}
        before = client.get("/user", headers=auth)
        closed = client.delete("/user", headers=auth)
        after = client.get("/user", headers=auth)
        credentials = {"email": "leaving@example.org", "password": "pass-word-1"}
        login = client.post("/users/login", json={"user": credentials})
        again = client.post("/users", json=member)
    assert (created.status_code, before.status_code) == (201, 200), created.text
    assert 200 <= closed.status_code < 300, closed.text
    assert after.status_code == 401, after.text
    assert login.status_code == 401
    assert again.status_code == 201, again.text


# --- request_signing, api_key -----------------------------------------------------------


def test_signatures_and_the_api_key_are_required_only_when_switched_on(
    plain: MockServer,
) -> None:
    with _client(plain) as client:
        assert client.get("/books").status_code == 200
    config = _config(["request_signing", "api_key"])
    with (
        MockServer(spec=config.spec_location, config=config) as mock,
        httpx.Client(base_url=mock.base_url, timeout=10.0) as client,
    ):
        keyed = {"X-API-Key": API_KEY}
        unsigned = client.get("/api/books", headers=keyed)
        assert unsigned.status_code == 403, unsigned.text
        assert "X-App-Signature" in unsigned.text
        signed = signature_headers(SECRET, "GET", "/api/books")
        assert client.get("/api/books", headers=signed).status_code == 403  # no key
        signed = signature_headers(SECRET, "GET", "/api/books")
        assert client.get("/api/books", headers=signed | keyed).status_code == 200
        forged = signature_headers("another-secret", "GET", "/api/books")
        assert client.get("/api/books", headers=forged | keyed).status_code == 403


# --- the engine's own state -------------------------------------------------------------


def test_a_long_title_gives_a_slug_the_item_path_accepts(plain: MockServer) -> None:
    """A 200-character title once made a slug longer than the path parameter's
    maxLength (120): the Location of the 201 read back as an error."""
    with _client(plain) as client:
        auth = _login(client, READER)
        created = client.post("/books", json=_book("a" * 200), headers=auth)
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        slug = created.json()["book"]["slug"]
        assert 0 < len(slug) <= 120
        assert location.endswith("/" + slug)
        read = client.get(location.removeprefix("/api"), headers=auth)
    assert read.status_code == 200, read.text
    assert read.json()["book"]["slug"] == slug


def test_a_request_error_is_never_answered_as_a_credentials_error(plain: MockServer) -> None:
    """GetBook declares 401 and 404 but no 400 or 422: a slug its parameter refuses
    gets its 404 (the nearest client error it declares) with the reason, not the 401
    a client would answer by signing in again."""
    with _client(plain) as client:
        refused = client.get("/books/" + "a" * 121)
    assert refused.status_code == 404, refused.text
    assert "longer than 120 characters" in refused.text


def test_favouriting_a_book_shows_on_the_book_and_unfavouriting_undoes_it(
    plain: MockServer,
) -> None:
    with _client(plain) as client:
        auth = _login(client, READER)
        slug = _create(client, auth)
        start = client.delete(f"/books/{slug}/favorite", headers=auth)
        assert start.status_code == 200, start.text
        before = client.get(f"/books/{slug}").json()["book"]
        favoured = client.post(f"/books/{slug}/favorite", headers=auth)
        assert favoured.status_code == 200, favoured.text
        assert favoured.json()["book"]["slug"] == slug
        after = client.get(f"/books/{slug}").json()["book"]  # kept, not only answered
        again = client.post(f"/books/{slug}/favorite", headers=auth).json()["book"]
        undone = client.delete(f"/books/{slug}/favorite", headers=auth).json()["book"]
        missing = client.post("/books/no-such-book/favorite", headers=auth)
    assert before["favorited"] is False
    assert after["favorited"] is True
    assert after["favoritesCount"] == before["favoritesCount"] + 1
    assert again["favoritesCount"] == after["favoritesCount"]  # favouriting twice: once
    assert undone["favorited"] is False
    assert undone["favoritesCount"] == before["favoritesCount"]
    assert missing.status_code == 404


def test_health_describes_the_document_served_not_the_demo(plain: MockServer) -> None:
    with _client(plain) as client:
        _create(client, _login(client, READER))
    health = httpx.get(plain.control_url + "/health").json()
    assert "products" not in health
    api = health["api"]
    assert api["title"] == "Lending Library API"
    assert api["operations"] == 20
    assert api["base_path"] == "/api"
    assert api["resources"]["books"] == 21  # 20 seeded and the one created
