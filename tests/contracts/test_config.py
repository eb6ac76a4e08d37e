"""The harness configuration: precedence, environment, and errors that name the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.config import (
    DEMO_CONFIG_PATH,
    ConfigError,
    environment_variables,
    load_config,
    parse_config,
)

GOOD = """\
spec: api.yaml
base_url: http://127.0.0.1:8000/
roles: {login: Login, current_user: GetUser}
auth:
  prefix: Token
  login: {body: {user: {email: "{email}", password: "{password}"}}, token: /user/token}
  identities:
    - {email: a@example.com, password: "${LIB_PASSWORD}"}
contract: {max_examples: 7}
"""


def test_a_file_is_read_with_its_environment_and_relative_spec(tmp_path: Path) -> None:
    file = tmp_path / "harness.yaml"
    file.write_text(GOOD)
    config = load_config(file, env={"LIB_PASSWORD": "s3cret"})
    assert config.base_url == "http://127.0.0.1:8000"
    assert config.roles == {"login": "Login", "current_user": "GetUser"}
    assert config.auth.identities[0]["password"] == "s3cret"
    assert config.auth.login is not None
    assert config.auth.login.token == "/user/token"
    assert config.spec_location == str(tmp_path / "api.yaml")
    assert "s3cret" not in repr(config)


def test_environment_beats_the_file_and_flags_beat_both(tmp_path: Path) -> None:
    file = tmp_path / "harness.yaml"
    file.write_text(GOOD)
    env = {"LIB_PASSWORD": "x", "HARNESS_CONTRACT_MAX_EXAMPLES": "9", "HARNESS_AUTH_PREFIX": "JWT"}
    config = load_config(file, env=env)
    assert (config.contract.max_examples, config.auth.prefix) == (9, "JWT")
    config = load_config(file, env=env, overrides={"contract.max_examples": 3})
    assert config.contract.max_examples == 3
    assert "HARNESS_CONTRACT_MAX_EXAMPLES" in environment_variables()


def test_no_file_means_the_demo_and_a_spec_means_no_demo() -> None:
    assert load_config(env={}).source == str(DEMO_CONFIG_PATH)
    config = load_config(env={}, overrides={"spec": "theirs.yaml"})
    assert (config.source, config.spec, config.roles) == (None, "theirs.yaml", {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("auth:\n  sceme: x\n", "line 2: auth.sceme: unknown setting (did you mean 'scheme'?)"),
        ("roles:\n  logon: X\n", "line 2: roles.logon"),
        ("contract:\n  max_examples: 0\n", "contract.max_examples: Input should be greater"),
        ("base_url: ftp://x\n", "is not an http(s) URL"),
        ("auth:\n  login:\n    token: user.token\n", "is not a JSON pointer"),
        ("spec: [a\n", "invalid YAML"),
        ("- a\n", "a configuration is a mapping"),
        ("spec: ${NOT_SET_ANYWHERE}\n", "${NOT_SET_ANYWHERE} is not set"),
    ],
)
def test_a_bad_file_names_the_line_and_the_reason(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(text, "harness.yaml", env={})
    assert message in str(error.value)
    assert str(error.value).startswith("harness.yaml: ")


def test_defaults_from_the_environment_are_allowed() -> None:
    config = parse_config("spec: ${SPEC:-openapi.yaml}\n", "h.yaml", env={})
    assert config.spec == "openapi.yaml"
