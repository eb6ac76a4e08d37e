"""harness.control.ControlClient against the real mock."""

from __future__ import annotations

import pytest
from mock_testkit import ApiClient, Tokens

from harness.control import ControlClient, ControlError
from mocks.server import MockServer


def test_base_url_trailing_slash_is_ignored(harness_mock: MockServer) -> None:
    with ControlClient(harness_mock.base_url + "/") as control:
        assert control.base_url == harness_mock.base_url
        assert control.health()["status"] == "ok"


def test_journal_entries_and_clear(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    api.get("/v1/users/profile", demo)
    entries = harness_control.entries()
    assert [e["operation"] for e in entries] == ["login", "getProfile"]
    assert harness_control.entries(since=entries[0]["seq"]) == entries[1:]
    limited = harness_control.journal(limit=1)
    assert limited["entries"] == entries[:1]
    assert limited["last_seq"] == entries[0]["seq"]
    assert harness_control.clear_journal() is None
    assert harness_control.entries() == []


def test_advance_clock_returns_the_new_virtual_now(
    api: ApiClient, harness_control: ControlClient
) -> None:
    first = harness_control.advance_clock(0)
    second = harness_control.advance_clock(7200)
    assert second - first >= 7200
    assert api.get("/__harness/clock").json()["offset_s"] == 7200


def test_expire_tokens(api: ApiClient, demo: Tokens, harness_control: ControlClient) -> None:
    assert harness_control.expire_tokens() is None
    assert api.profile_status(demo) == 401


def test_configure_returns_the_whole_config(harness_control: ControlClient) -> None:
    config = harness_control.configure(reuse_detection=False)
    assert config["reuse_detection"] is False
    assert config == harness_control.config()
    assert set(config) >= {"access_ttl_s", "api_key_set", "signing"}


def test_bad_calls_raise_control_error_with_the_reason(harness_control: ControlClient) -> None:
    with pytest.raises(ControlError, match=r"PUT /__harness/config: .*access_ttl_s"):
        harness_control.configure(access_ttl_s=0)
    with pytest.raises(ControlError, match="between 0 and ten years"):
        harness_control.advance_clock(-5)
    with pytest.raises(ControlError, match="since must be a non-negative integer"):
        harness_control.journal(since=-1)


def test_reset(api: ApiClient, harness_control: ControlClient) -> None:
    api.register("temp@example.com")
    harness_control.configure(api_key="k")
    assert harness_control.reset() is None
    assert harness_control.config()["api_key_set"] is False
    assert harness_control.entries() == []
