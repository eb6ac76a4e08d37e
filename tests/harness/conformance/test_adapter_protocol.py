"""The adapter protocol: the reference client's adapter over stdio against the
live mock, and clear errors for adapters that break the protocol."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from adapter_testkit import LOGIN, assert_operations_round_trip

from harness.conformance.adapter import REFERENCE_ADAPTER, Adapter, AdapterEnv, AdapterError
from harness.control import ControlClient
from mocks.server import MockServer


@pytest.fixture
def adapter(harness_mock: MockServer, tmp_path: Path) -> Iterator[Adapter]:
    env = AdapterEnv(base_url=harness_mock.base_url, log_file=tmp_path / "client.log")
    with Adapter.start(REFERENCE_ADAPTER, env) as client:
        yield client


def test_operations_round_trip_through_the_adapter(adapter: Adapter) -> None:
    assert_operations_round_trip(adapter)


def test_tokens_can_be_read_and_replaced(adapter: Adapter) -> None:
    assert adapter.call("get_tokens").result is None
    adapter.call("login", LOGIN)
    tokens = adapter.call("get_tokens").result
    assert set(tokens) == {"access_token", "refresh_token"}
    adapter.call("set_tokens", {"access_token": "bogus", "refresh_token": "bogus"})
    assert adapter.call("get_profile").error_kind == "unauthorized"
    assert adapter.call("logout").error_kind == "unauthorized"


def test_parallel_runs_ops_concurrently_and_answers_in_order(
    adapter: Adapter, harness_control: ControlClient
) -> None:
    adapter.call("login", LOGIN)
    harness_control.add_fault(
        {
            "action": {"type": "delay"},
            "delay": {"type": "fixed", "ms": 300},
            "match": {"operation": "getProfile"},
        }
    )
    replies = adapter.parallel([("get_profile", {})] * 5 + [("get_product", {"id": "nope"})])
    assert [r.ok for r in replies] == [True] * 5 + [False]
    profile = [e for e in harness_control.entries() if e["operation"] == "getProfile"]
    starts = sorted(e["started_at"] for e in profile)
    assert starts[-1] - starts[0] < 0.25, "the five calls overlapped"


def test_cancel_after_ms_cancels(adapter: Adapter, harness_control: ControlClient) -> None:
    adapter.call("login", LOGIN)
    harness_control.add_fault(
        {"action": {"type": "hang", "seconds": 1}, "match": {"operation": "getProfile"}}
    )
    reply = adapter.call("get_profile", cancel_after_ms=100)
    assert reply.error_kind == "requestCancelled"


def test_unknown_ops_and_bad_args_are_errors_not_crashes(adapter: Adapter) -> None:
    assert adapter.call("fly").error_kind == "unexpected"
    assert adapter.call("get_product", {}).error_kind == "unexpected"
    assert adapter.call("create_product", {"product": {"name": 1}}).error_kind == "unexpected"
    assert adapter.call("login", LOGIN).ok  # still alive


def test_shutdown_exits_cleanly(harness_mock: MockServer) -> None:
    client = Adapter.start(REFERENCE_ADAPTER, AdapterEnv(base_url=harness_mock.base_url))
    assert client.close() == 0


def _script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "adapter.py"
    path.write_text(body, encoding="utf-8")
    return [sys.executable, str(path)]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("import sys\nsys.stdin.readline()\nprint('hello')\n", "not JSON on stdout"),
        (
            'import sys\nsys.stdin.readline()\nprint(\'{"id": 7, "ok": true}\')\n',
            "reply to request 1",
        ),
        ("import sys\nsys.stderr.write('boom: no config')\nsys.exit(3)\n", "boom: no config"),
        ("import sys, time\nsys.stdin.readline()\ntime.sleep(5)\n", "no reply to request 1 within"),
        ('import sys\nsys.stdin.readline()\nprint(\'{"id": 1, "ok": "yes"}\')\n', "not a reply"),
    ],
)
def test_a_broken_adapter_gets_a_clear_error(tmp_path: Path, body: str, reason: str) -> None:
    client = Adapter.start(_script(tmp_path, body), AdapterEnv(base_url="http://127.0.0.1:9"))
    try:
        with pytest.raises(AdapterError, match=reason):
            client.call("get_profile", timeout=1.0)
    finally:
        client.close(timeout=1.0)


def test_a_missing_command_is_a_clear_error() -> None:
    with pytest.raises(AdapterError, match="cannot start"):
        Adapter.start(["no-such-adapter-command"], AdapterEnv(base_url="http://127.0.0.1:9"))


def test_the_reference_adapter_needs_a_base_url(tmp_path: Path) -> None:
    done = subprocess.run(
        [*REFERENCE_ADAPTER], env={"PATH": "/usr/bin"}, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "HARNESS_BASE_URL" in done.stderr
