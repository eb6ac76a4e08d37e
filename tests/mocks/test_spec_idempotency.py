"""Idempotency-Key on any document: where an operation declares the header, the
spec mock replays the first answer for the same key and body and refuses the key
with another body in the status and error shape the document declares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.config import load_config
from mocks.server import MockServer

LIBRARY = Path(__file__).parents[2] / "examples" / "library"


@pytest.fixture(scope="module")
def library() -> Iterator[httpx.Client]:
    config = load_config(LIBRARY / "harness.yaml", env={})
    with (
        MockServer(spec=config.spec_location, config=config) as mock,
        httpx.Client(base_url=mock.base_url + "/api", timeout=10.0) as client,
    ):
        body = {"user": {"email": "reader@example.org", "password": "reader-password"}}
        token = client.post("/users/login", json=body).json()["user"]["token"]
        client.headers["Authorization"] = f"Token {token}"
        yield client


def _book(client: httpx.Client) -> str:
    listing = client.get("/books", params={"limit": 1})
    assert listing.status_code == 200, listing.text
    return str(listing.json()["books"][0]["slug"])


def test_the_same_key_and_body_replay_the_first_loan(library: httpx.Client) -> None:
    body = {"loan": {"book": _book(library)}}
    key = {"Idempotency-Key": "k-replay-1"}
    first = library.post("/loans", json=body, headers=key)
    again = library.post("/loans", json=body, headers=key)
    assert first.status_code == 201, first.text
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = library.post("/loans", json=body, headers={"Idempotency-Key": "k-replay-2"})
    assert other.json()["loan"]["id"] != first.json()["loan"]["id"]  # a new key: a new loan


def test_the_key_with_another_body_is_refused_as_the_document_says(
    library: httpx.Client,
) -> None:
    key = {"Idempotency-Key": "k-reuse-1"}
    assert library.post("/loans", json={"loan": {"book": _book(library)}}, headers=key).is_success
    reused = library.post("/loans", json={"loan": {"book": "another-book"}}, headers=key)
    assert reused.status_code == 422  # the IETF draft's status, which CreateLoan declares
    assert reused.headers["content-type"].startswith("application/json")
    assert "errors" in reused.json()  # the library's error shape, not a problem
