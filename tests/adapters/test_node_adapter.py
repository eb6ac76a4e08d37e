"""The Node.js client (adapters/node/) over the stdio adapter protocol: it passes
every conformance scenario, and it speaks the protocol (unknown ops, malformed
lines, shutdown, parallel, cancellation) like the reference adapter."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from adapter_testkit import KETTLE, LOGIN, assert_operations_round_trip

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from harness.conformance.adapter import Adapter, AdapterEnv
from harness.conformance.runner import scenario_env
from harness.conformance.scenarios import SCENARIOS, Context
from harness.conformance.verdicts import Outcome
from harness.control import ControlClient
from mocks.server import MockServer

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not on PATH: the Node adapter needs it"
)

ADAPTER_SCRIPT = Path(__file__).resolve().parents[2] / "adapters" / "node" / "adapter.mjs"


def node_adapter() -> list[str]:
    return [NODE or "node", str(ADAPTER_SCRIPT)]


@pytest.fixture
def adapter(harness_mock: MockServer, tmp_path: Path) -> Iterator[Adapter]:
    env = AdapterEnv(base_url=harness_mock.base_url, log_file=tmp_path / "client.log")
    with Adapter.start(node_adapter(), env) as client:
        yield client


def _entries(control: ControlClient, operation: str) -> list[dict[str, Any]]:
    return [e for e in control.entries() if e["operation"] == operation]


# --- conformance --------------------------------------------------------------------


@pytest.mark.matrix
@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_the_node_client_passes(
    harness_mock: MockServer, harness_control: ControlClient, rule: str, tmp_path: Path
) -> None:
    scenario = SCENARIOS[rule]
    env = scenario_env(scenario, harness_control, harness_mock.base_url, tmp_path / "client.log")
    with Adapter.start(node_adapter(), env) as client:
        verdict = scenario.run(Context(harness_control, client, env.log_file))
    why = "\n".join((verdict.summary, *verdict.evidence.lines))
    assert verdict.outcome is Outcome.PASS, why


# --- the protocol -------------------------------------------------------------------


def _converse(base_url: str, lines: list[str], timeout: float = 30) -> tuple[int, list[Any]]:
    """Feed raw lines to a fresh adapter; its exit code and every stdout line, parsed."""
    done = subprocess.run(
        node_adapter(),
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "HARNESS_BASE_URL": base_url},
        check=False,
    )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def test_malformed_lines_are_ignored_unknown_ops_answered_and_shutdown_exits_0(
    harness_mock: MockServer,
) -> None:
    code, replies = _converse(
        harness_mock.base_url,
        [
            "this is not json",
            "",
            "[1, 2]",
            json.dumps({"id": 1, "op": "fly", "args": {}}),
            "{truncated",
            json.dumps({"id": 2, "op": "get_tokens"}),
            json.dumps({"id": 3, "op": "shutdown"}),
            json.dumps({"id": 4, "op": "get_tokens"}),  # never read: the adapter has gone
        ],
    )
    assert code == 0
    assert replies == [
        {
            "id": 1,
            "ok": False,
            "error": {"kind": "unexpected", "status": None, "message": 'unknown op "fly"'},
        },
        {"id": 2, "ok": True, "result": None},
        {"id": 3, "ok": True, "result": None},
    ]


def test_the_adapter_needs_a_base_url() -> None:
    done = subprocess.run(
        node_adapter(),
        input="",
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "HARNESS_BASE_URL" in done.stderr
    assert done.stdout == ""


def test_shutdown_through_the_harness_exits_cleanly(harness_mock: MockServer) -> None:
    client = Adapter.start(node_adapter(), AdapterEnv(base_url=harness_mock.base_url))
    assert client.close() == 0


def test_operations_round_trip(adapter: Adapter) -> None:
    assert_operations_round_trip(adapter)


def test_bad_args_are_errors_not_crashes(adapter: Adapter) -> None:
    assert adapter.call("get_product", {}).error_kind == "unexpected"
    assert adapter.call("create_product", {"product": {"name": 1}}).error_kind == "unexpected"
    extra = KETTLE | {"colour": "red"}  # ProductInput forbids unknown fields
    assert adapter.call("create_product", {"product": extra}).error_kind == "unexpected"
    assert adapter.call("list_products", {"category": "nope"}).error_kind == "unexpected"
    assert adapter.call("login", LOGIN).ok  # still alive


def test_parallel_runs_concurrently_and_answers_in_order(
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
    replies = adapter.parallel(
        [("get_profile", {}), ("get_product", {"id": "nope"})] * 3 + [("fly", {})]
    )
    assert [r.ok for r in replies] == [True, False] * 3 + [False]
    assert [r.error_kind for r in replies] == [None, "notFound"] * 3 + ["unexpected"]
    assert all(r.result["email"] == DEMO_EMAIL for r in replies[0:6:2])
    starts = sorted(e["started_at"] for e in _entries(harness_control, "getProfile"))
    assert len(starts) == 3
    assert starts[-1] - starts[0] < 0.25, "the three slow calls overlapped"


def test_cancel_in_flight_makes_no_further_attempt(
    adapter: Adapter, harness_control: ControlClient
) -> None:
    adapter.call("login", LOGIN)
    harness_control.add_fault(
        {"action": {"type": "hang", "seconds": 1}, "match": {"operation": "getProfile"}}
    )
    started = time.monotonic()
    reply = adapter.call("get_profile", cancel_after_ms=150)
    assert reply.error_kind == "requestCancelled"
    assert time.monotonic() - started < 1.0
    time.sleep(1.5)
    assert len(_entries(harness_control, "getProfile")) == 1


def test_cancel_during_backoff_makes_no_further_attempt(
    adapter: Adapter, harness_control: ControlClient
) -> None:
    adapter.call("login", LOGIN)
    harness_control.add_fault(
        {
            "action": {"type": "status", "status": 503, "retry_after": 1},
            "match": {"operation": "getProfile"},
        }
    )
    started = time.monotonic()
    reply = adapter.call("get_profile", cancel_after_ms=300)
    assert reply.error_kind == "requestCancelled"
    assert time.monotonic() - started < 0.9
    time.sleep(1.2)
    assert len(_entries(harness_control, "getProfile")) == 1


# --- the client's behaviour beyond the scenarios ------------------------------------


def test_awkward_json_round_trips(adapter: Adapter, harness_control: ControlClient) -> None:
    adapter.call("login", LOGIN)
    awkward = {
        "id": "prd_awkward",
        "name": "Tea \u2615 \U0001f375 caf\u00e9 \u65e5\u672c",
        "price": 12,
        "description": None,
        "image_urls": ["https://example.com/\u00e9.png"],
        "created_at": "2024-03-01T10:00:00.123456789+05:30",
        "category": {"id": "home", "name": "Home", "extra": [1]},
        "variants": [{"id": "var_1", "name": "Big", "price": 0.1234567890123456789}],
        "unknown_field": {"nested": True},
    }
    harness_control.add_fault(
        {
            "action": {"type": "status", "status": 200, "body": awkward},
            "match": {"operation": "getProduct"},
        }
    )
    result = adapter.call("get_product", {"id": "prd_awkward"}).result
    assert result == {
        "id": "prd_awkward",
        "name": awkward["name"],
        "price": 12,
        "description": None,
        "image_urls": awkward["image_urls"],
        "created_at": "2024-03-01T10:00:00.123456+05:30",
        "category": {"id": "home", "name": "Home"},
        "variants": [{"id": "var_1", "name": "Big", "price": 0.12345678901234568}],
    }


def test_a_body_missing_a_required_field_is_unexpected(
    adapter: Adapter, harness_control: ControlClient
) -> None:
    adapter.call("login", LOGIN)
    harness_control.add_fault(
        {
            "action": {"type": "status", "status": 200, "body": {"id": "usr_x", "name": "X"}},
            "match": {"operation": "getProfile"},
        }
    )
    reply = adapter.call("get_profile")
    assert (reply.error_kind, reply.status) == ("unexpected", 200)
    assert len(_entries(harness_control, "getProfile")) == 1


def test_a_rejected_refresh_signs_out(adapter: Adapter, harness_control: ControlClient) -> None:
    adapter.call("login", LOGIN)
    harness_control.expire_tokens()
    harness_control.add_fault(
        {"action": {"type": "status", "status": 401}, "match": {"operation": "refresh"}}
    )
    replies = adapter.parallel([("get_profile", {})] * 5)
    assert {r.error_kind for r in replies} == {"unauthorized"}
    assert len(_entries(harness_control, "refresh")) == 1
    assert adapter.call("get_tokens").result is None
    harness_control.clear_journal()
    assert adapter.call("get_profile").error_kind == "unauthorized"
    entries = harness_control.entries()
    assert [(e["operation"], e["token_state"]) for e in entries] == [("getProfile", "missing")]


def test_a_transient_refresh_failure_keeps_the_session(
    adapter: Adapter, harness_control: ControlClient
) -> None:
    adapter.call("login", LOGIN)
    tokens = adapter.call("get_tokens").result
    harness_control.expire_tokens()
    harness_control.add_fault(
        {
            "action": {"type": "status", "status": 503},
            "match": {"operation": "refresh"},
            "select": {"times": 1},
        }
    )
    failed = adapter.call("get_profile")
    assert (failed.error_kind, failed.status) == ("serverError", 503)
    assert adapter.call("get_tokens").result == tokens
    assert adapter.call("get_profile").ok  # the next call refreshes and succeeds
    assert adapter.call("get_tokens").result["refresh_token"] != tokens["refresh_token"]


def test_reset_before_any_response_is_retried_for_idempotent_calls(
    adapter: Adapter, harness_control: ControlClient
) -> None:
    adapter.call("login", LOGIN)
    harness_control.add_fault(
        {"action": {"type": "reset"}, "match": {"operation": "getProfile"}, "select": {"times": 1}}
    )
    assert adapter.call("get_profile").ok
    assert [e["status"] for e in _entries(harness_control, "getProfile")] == [None, 200]


def test_the_log_names_each_attempt(adapter: Adapter, tmp_path: Path) -> None:
    adapter.call("login", LOGIN)
    adapter.call("get_product", {"id": "nope"})
    log = (tmp_path / "client.log").read_text(encoding="utf-8")
    assert "POST /v1/auth/login -> 200 attempt 1" in log
    assert "GET /v1/products/nope -> 404 attempt 1" in log
    assert DEMO_PASSWORD not in log


def test_tokens_may_be_set_to_one_or_none(adapter: Adapter) -> None:
    adapter.call("login", LOGIN)
    access = adapter.call("get_tokens").result["access_token"]
    adapter.call("set_tokens", {"access_token": access, "refresh_token": None})
    assert adapter.call("get_tokens").result == {"access_token": access, "refresh_token": None}
    assert adapter.call("get_profile").ok
    adapter.call("set_tokens", {"access_token": None, "refresh_token": None})
    assert adapter.call("get_tokens").result is None
    assert adapter.call("get_profile").error_kind == "unauthorized"
