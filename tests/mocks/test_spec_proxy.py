"""Proxy mode with a team's document: `--upstream URL --spec FILE` names the upstream's
operations from the document, and with `--validate-responses` records where its
answers break the document, in the journal and at /__harness/violations."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from contracts.config import load_config
from mocks.server import MockServer

BOOKS = Path(__file__).parents[1] / "data" / "books"
GOOD_BOOK = {
    "id": 1,
    "title": "Dune",
    "author": "Frank Herbert",
    "createdAt": "2024-01-01T00:00:00Z",
}
# What a buggy backend answers: a string id, no author, and a 200 where 201 is declared.
ANSWERS = {
    ("GET", "/api/books/1"): (200, {"book": GOOD_BOOK}),
    ("GET", "/api/books/2"): (200, {"book": {"id": "two", "title": "Dune"}}),
    ("POST", "/api/books"): (200, {"book": GOOD_BOOK}),
}


class _Backend(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        status, body = ANSWERS.get((self.command, self.path), (404, {"errors": {"body": ["no"]}}))
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def proxy() -> Iterator[MockServer]:
    backend = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    thread = threading.Thread(target=backend.serve_forever, daemon=True)
    thread.start()
    config = load_config(BOOKS / "harness.yaml")
    upstream = f"http://127.0.0.1:{backend.server_address[1]}"
    try:
        with MockServer(
            upstream=upstream, spec=config.spec_location, config=config, validate_upstream=True
        ) as server:
            yield server
    finally:
        backend.shutdown()
        backend.server_close()


def test_the_upstreams_answers_are_named_and_judged_against_the_document(proxy: MockServer) -> None:
    httpx.post(proxy.control_url + "/reset").raise_for_status()
    api = proxy.base_url + "/api"
    assert httpx.get(api + "/books/1").json()["book"] == GOOD_BOOK
    assert httpx.get(api + "/books/2").status_code == 200  # passed on as the backend said
    created = httpx.post(api + "/books", json={"book": {"title": "Dune", "author": "Herbert"}})
    assert created.status_code == 200
    entries = httpx.get(proxy.control_url + "/journal").json()["entries"]
    seen = {(e["operation"], e["path"]): e["violations"] for e in entries}
    assert seen[("GetBook", "/api/books/1")] is None
    assert "author" in seen[("GetBook", "/api/books/2")][0]
    assert "status 200 is not declared" in seen[("CreateBook", "/api/books")][0]
    assert {e["role"] for e in entries} == {"read", "create"}

    listed = httpx.get(proxy.control_url + "/violations").json()["violations"]
    assert [(v["operation"], v["status"]) for v in listed] == [
        ("GetBook", 200),
        ("CreateBook", 200),
    ]


def test_faults_by_role_apply_in_front_of_the_upstream(proxy: MockServer) -> None:
    httpx.post(proxy.control_url + "/reset").raise_for_status()
    rule = {
        "match": {"role": "read"},
        "action": {"type": "status", "status": 503},
        "select": {"times": 1},
    }
    assert httpx.post(proxy.control_url + "/faults", json=rule).status_code == 201
    assert httpx.get(proxy.base_url + "/api/books/1").status_code == 503
    assert httpx.get(proxy.base_url + "/api/books/1").status_code == 200
    entries = httpx.get(proxy.control_url + "/journal").json()["entries"]
    assert [(e["operation"], e["status"], e["violations"]) for e in entries] == [
        ("GetBook", 503, None),  # a fault of ours is not the upstream's violation
        ("GetBook", 200, None),
    ]
