"""pytest plugin: a real mock on a free loopback port for your tests.

Fixtures:
- `harness_mock_settings` (session): the `MockSettings` the mock starts with;
  override it in your conftest to start with signing, an API key, short TTLs.
- `harness_mock_session` (session): the running `MockServer`, started once.
- `harness_mock` (function): the same server, reset to its seeded start
  before each test, so tests are isolated without restarts.
- `harness_control` (function): a `ControlClient` for the reset mock.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.control import ControlClient
from mocks.server import MockServer
from mocks.settings import MockSettings


@pytest.fixture(scope="session")
def harness_mock_settings() -> MockSettings:
    return MockSettings()


@pytest.fixture(scope="session")
def harness_mock_session(harness_mock_settings: MockSettings) -> Iterator[MockServer]:
    with MockServer(settings=harness_mock_settings) as server:
        yield server


@pytest.fixture
def harness_control(harness_mock_session: MockServer) -> Iterator[ControlClient]:
    with ControlClient(harness_mock_session.base_url) as control:
        control.reset()
        yield control


@pytest.fixture
def harness_mock(harness_mock_session: MockServer, harness_control: ControlClient) -> MockServer:
    return harness_mock_session
