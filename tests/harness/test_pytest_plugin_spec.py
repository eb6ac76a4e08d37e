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


def _project(project: Path, ini: str) -> Path:
    """{pytest.ini, conf/harness.yaml, specs/openapi.yaml, tests/test_inner.py}: the
    configuration's own `spec: openapi.yaml` names no file beside it."""
    for folder in ("conf", "specs", "tests"):
        (project / folder).mkdir(parents=True)
    (project / "conf" / "harness.yaml").write_text((BOOKS / "harness.yaml").read_text())
    (project / "specs" / "openapi.yaml").write_text((BOOKS / "openapi.yaml").read_text())
    (project / "pytest.ini").write_text(f"[pytest]\n{ini}\n")
    (project / "tests" / "test_inner.py").write_text(INNER)
    return project


def test_ini_paths_are_relative_to_the_ini_file_not_to_each_other(
    pytester: pytest.Pytester,
) -> None:
    # Run where the ini file is: harness_spec must not be read from conf/.
    _project(pytester.path, "harness_config = conf/harness.yaml\nharness_spec = specs/openapi.yaml")
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_relative_harness_spec_alone_is_relative_to_the_ini_file(
    pytester: pytest.Pytester,
) -> None:
    # Run from another directory: the ini file's is the base, not the current one.
    project = _project(pytester.path / "project", "harness_spec = specs/openapi.yaml")
    (project / "tests" / "test_inner.py").write_text(
        """
import httpx

def test_serves_the_document(harness_mock):
    assert httpx.get(harness_mock.base_url + "/api/books").status_code == 200
    assert httpx.get(harness_mock.base_url + "/v1/products").status_code == 404
"""
    )
    result = pytester.runpytest_subprocess(
        "-c", str(project / "pytest.ini"), str(project / "tests"), "-p", "no:randomly"
    )
    result.assert_outcomes(passed=1)
