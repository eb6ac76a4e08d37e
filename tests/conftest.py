"""Fixtures shared by the tests. The mock itself comes from `harness.pytest_plugin`
(`harness_mock`, `harness_control`), registered through its pytest11 entry point."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from mock_testkit import ApiClient, Tokens
from workers_testkit import workers

from mocks.server import MockServer

pytest_plugins = ["pytester"]
# `make test` runs the tests of the session's mock again on `harness mock --workers 2`.
TEST_WORKERS = int(os.environ.get("HARNESS_TEST_WORKERS") or 0)


@pytest.fixture
def api(harness_mock: MockServer) -> Iterator[ApiClient]:
    """An HTTP client for the mock, reset to its seeded start for this test."""
    with ApiClient(harness_mock.base_url) as client:
        yield client


@pytest.fixture
def demo(api: ApiClient) -> Tokens:
    """A fresh session of the seeded demo user."""
    return api.login()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With HARNESS_TEST_WORKERS, only the tests that talk to the session's mock run (the
    others start mocks of their own, unchanged by it)."""
    if not TEST_WORKERS:
        return
    chosen = [i for i in items if "harness_mock_session" in getattr(i, "fixturenames", ())]
    config.hook.pytest_deselected(items=[i for i in items if i not in chosen])
    items[:] = chosen


@pytest.fixture(scope="session")
def harness_mock_session(harness_mock_session: MockServer) -> Iterator[Any]:
    """The plugin's mock, or with HARNESS_TEST_WORKERS=N `harness mock --workers N`."""
    if TEST_WORKERS <= 1:
        yield harness_mock_session
        return
    with workers(count=TEST_WORKERS) as running:
        yield running
