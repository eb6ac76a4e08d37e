"""pytest plugin: a real mock on a free loopback port for your tests.

Fixtures:
- `harness_mock_settings` (session): the `MockSettings` the mock starts with;
  override it in your conftest to start with signing, an API key, short TTLs.
- `harness_control_token` (session): None, so the loopback mock needs no
  control token; override it to return a token (or True for a new one) to
  require one. The fixtures below send it themselves.
- `harness_mock_spec` (session): the OpenAPI document the mock serves instead of the
  demo API, and `harness_mock_config` its harness configuration (harness.yaml); by
  default the ini options `harness_spec` / `harness_config`, else the demo.
- `harness_mock_session` (session): the running `MockServer`, started once.
- `harness_mock` (function): the same server, reset to its seeded start
  before each test, so tests are isolated without restarts.
- `harness_control` (function): a `ControlClient` for the reset mock.
- `harness_faults` (function): add fault rules inside a test; all are
  removed after it.

Marker: `@pytest.mark.harness_faults(rule, ...)` installs rules before the
test; each rule is X-Harness-Fault syntax ("status;status=503") or a dict.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# pytest loads this module on every run of every project that installed the harness:
# it imports nothing but pytest until a test asks for one of its fixtures.
if TYPE_CHECKING:
    from harness.control import ControlClient
    from mocks.server import MockServer
    from mocks.settings import MockSettings

MARKER = "harness_faults"


def _import_quietly() -> None:
    """Import the mock's stack without our dependencies' import-time deprecation noise
    (mitmproxy's ldap3 imports deprecated pyasn1 names) reaching the user's report."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="ldap3")
        from mocks import server  # noqa: F401


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("harness_spec", "OpenAPI document the harness mock serves (default: the demo)")
    parser.addini("harness_config", "harness configuration (harness.yaml) for that document")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*rules): fault rules for the harness mock, installed before the test "
        "(X-Harness-Fault syntax such as 'status;status=503', or rule dicts)",
    )


class FaultsFixture:
    """What `harness_faults` gives a test."""

    def __init__(self, control: ControlClient) -> None:
        self._control = control

    def add(self, action: str | dict[str, Any], **narrowing: Any) -> str:
        """Install a rule; keywords as in `build_rule` (path, methods, times, ...)."""
        from harness.fault_spec import build_rule

        rule = build_rule(action, **narrowing)
        return self._control.add_fault(rule.model_dump(mode="json", exclude_none=True))

    def list(self) -> list[dict[str, Any]]:
        return self._control.faults()

    def clear(self, rule_id: str | None = None) -> None:
        self._control.clear_faults(rule_id)


@pytest.fixture(scope="session")
def harness_mock_settings() -> MockSettings:
    _import_quietly()
    from mocks.settings import MockSettings

    return MockSettings()


@pytest.fixture(scope="session")
def harness_control_token() -> str | bool | None:
    return None


def _ini_location(pytestconfig: pytest.Config, name: str) -> str | None:
    """An ini option naming a file or a URL. A relative path is relative to the ini
    file's directory (without one, where pytest was started), as pytest's own `paths`
    options are, whatever the current directory or the other option says."""
    value = str(pytestconfig.getini(name) or "").strip()
    if not value or "://" in value:
        return value or None
    inipath = pytestconfig.inipath
    base = inipath.parent if inipath is not None else pytestconfig.invocation_params.dir
    return str(base / Path(value).expanduser())


def _absolute(location: str | None) -> str | None:
    """A path from the current directory (a fixture's return value), or a URL."""
    if location is None or "://" in location:
        return location
    return str(Path(location).expanduser().absolute())


@pytest.fixture(scope="session")
def harness_mock_spec(pytestconfig: pytest.Config) -> str | None:
    return _ini_location(pytestconfig, "harness_spec")


@pytest.fixture(scope="session")
def harness_mock_config(pytestconfig: pytest.Config) -> str | None:
    return _ini_location(pytestconfig, "harness_config")


@pytest.fixture(scope="session")
def harness_mock_session(
    harness_mock_settings: MockSettings,
    harness_control_token: str | bool | None,
    harness_mock_spec: str | None,
    harness_mock_config: str | None,
) -> Iterator[MockServer]:
    _import_quietly()
    from mocks.server import MockServer

    # Absolute before the configuration reads it: it would resolve a relative spec
    # against its own directory, which is for the `spec:` written inside it.
    spec, config = _absolute(harness_mock_spec), None
    if harness_mock_config is not None:
        from contracts.config import load_config

        config_path = _absolute(harness_mock_config)
        config = load_config(config_path, overrides={"spec": spec}, default=None)
        spec = config.spec_location
    with MockServer(
        settings=harness_mock_settings,
        control_token=harness_control_token,
        spec=spec,
        config=config,
    ) as server:
        yield server


@pytest.fixture
def harness_control(
    harness_mock_session: MockServer, request: pytest.FixtureRequest
) -> Iterator[ControlClient]:
    from harness.control import ControlClient

    server = harness_mock_session
    with ControlClient(server.base_url, token=server.control_token) as control:
        control.reset()
        faults = FaultsFixture(control)
        for marker in request.node.iter_markers(MARKER):
            for rule in marker.args:
                faults.add(rule, **marker.kwargs)
        yield control


@pytest.fixture
def harness_mock(harness_mock_session: MockServer, harness_control: ControlClient) -> MockServer:
    return harness_mock_session


@pytest.fixture
def harness_faults(harness_control: ControlClient) -> Iterator[FaultsFixture]:
    yield FaultsFixture(harness_control)
    harness_control.clear_faults()
