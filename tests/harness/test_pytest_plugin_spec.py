"""The pytest plugin serving a team's document: `harness_spec` / `harness_config` in the
ini file (or the `harness_mock_spec` / `harness_mock_config` fixtures) start the mock
on that document instead of the demo API. The inner sessions run in a subprocess:
in-process, pytester's module snapshot would drop what serving a document imports."""

from __future__ import annotations

from pathlib import Path

import pytest

BOOKS = Path(__file__).parents[1] / "data" / "books"

INNER = """
import httpx


def test_1_creates_a_book(harness_mock):
    api = harness_mock.base_url + "/api"
    login = httpx.post(
        api + "/users/login",
        json={"user": {"email": "reader@example.com", "password": "secret-pass"}},
    )
    auth = {"Authorization": "Token " + login.json()["user"]["token"]}
    created = httpx.post(api + "/books", json={"book": {"title": "A", "author": "B"}}, headers=auth)
    assert created.status_code == 201
    assert httpx.get(api + "/books").json()["booksCount"] == 6


def test_2_starts_from_the_seeded_books(harness_mock, harness_faults):
    api = harness_mock.base_url + "/api"
    assert httpx.get(api + "/books").json()["booksCount"] == 5
    harness_faults.add("status;status=503", operation="GetBook")
    assert httpx.get(api + "/books/1").status_code == 503
    assert httpx.get(harness_mock.base_url + "/v1/products").status_code == 404
"""


def test_the_plugin_serves_the_configured_document(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\nharness_config = {BOOKS / 'harness.yaml'}\n")
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_without_a_document_the_plugin_serves_the_demo(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_inner="""
import httpx

def test_demo(harness_mock):
    assert httpx.get(harness_mock.base_url + "/v1/products").status_code == 401
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=1)
