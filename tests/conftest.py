"""Fixtures shared by the tests. The mock itself comes from `harness.pytest_plugin`
(`harness_mock`, `harness_control`), registered through its pytest11 entry point."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mock_testkit import ApiClient, Tokens
from workers_testkit import parametrize_workers, workers

from mocks.server import MockServer

pytest_plugins = ["pytester"]


@pytest.fixture
def api(harness_mock: MockServer) -> Iterator[ApiClient]:
    """An HTTP client for the mock, reset to its seeded start for this test."""
    with ApiClient(harness_mock.base_url) as client:
        yield client


@pytest.fixture
def demo(api: ApiClient) -> Tokens:
    """A fresh session of the seeded demo user."""
    return api.login()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_workers(metafunc)  # @pytest.mark.workers: on 1 and on 2 workers


@pytest.fixture(scope="session")
def mock_workers(request: pytest.FixtureRequest) -> int:
    return int(getattr(request, "param", 1))


@pytest.fixture(scope="session")
def harness_mock_session(harness_mock_session: MockServer, mock_workers: int) -> Iterator[Any]:
    """The plugin's mock, or (a `workers` test's second run) `harness mock --workers 2`."""
    if mock_workers == 1:
        yield harness_mock_session
        return
    with workers(count=mock_workers) as running:
        yield running
