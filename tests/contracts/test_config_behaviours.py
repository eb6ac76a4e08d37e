"""`mock.behaviours`: named, checked when the configuration is read, listed in docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.config import (
    DEMO_CONFIG_PATH,
    MOCK_BEHAVIOURS,
    ConfigError,
    load_config,
    parse_config,
)

DOCS = Path(__file__).parents[2] / "docs" / "mock.md"


def test_a_known_behaviour_is_kept() -> None:
    config = parse_config("mock:\n  behaviours: [total_count, ownership]\n", "harness.yaml", env={})
    assert config.mock.behaviours == ("total_count", "ownership")


def test_an_unknown_behaviour_names_its_line_and_the_known_ones() -> None:
    text = "spec: openapi.yaml\nmock:\n  behaviours: [total_count, link_paging]\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "harness.yaml", env={})
    message = str(caught.value)
    assert "line 3" in message
    assert "link_paging" in message
    assert all(name in message for name in MOCK_BEHAVIOURS)


def test_the_demo_switches_on_only_known_behaviours() -> None:
    behaviours = load_config(DEMO_CONFIG_PATH, env={}).mock.behaviours
    assert {"link_pagination", "total_count", "ownership"} <= set(behaviours)


def test_every_behaviour_is_documented_for_users() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [name for name in MOCK_BEHAVIOURS if f"`{name}`" not in text]
    assert not missing, f"docs/mock.md does not describe {missing}"
