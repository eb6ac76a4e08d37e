"""Fixtures shared by the tests. The mock itself comes from `harness.pytest_plugin`
(`harness_mock`, `harness_control`), registered through its pytest11 entry point."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mock_testkit import ApiClient, Tokens

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
