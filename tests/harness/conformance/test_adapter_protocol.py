"""The adapter protocol: the reference client's adapter over stdio against the
live mock, and clear errors for adapters that break the protocol."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from adapter_testkit import LOGIN, assert_operations_round_trip

from harness.conformance import processes
from harness.conformance.adapter import (
    REFERENCE_ADAPTER,
    SILENT_S,
    Adapter,
    AdapterEnv,
    AdapterError,
    NoReply,
    RunTimeUp,
    Silent,
    Watch,
)
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
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return [sys.executable, str(path)]


NOWHERE = AdapterEnv(base_url="http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("import sys\nsys.stdin.readline()\nprint('hello')\n", "not JSON on stdout"),
        (
            'import sys\nsys.stdin.readline()\nprint(\'{"id": 7, "ok": true}\')\n',
            "reply to request 1",
        ),
        ("import sys\nsys.stderr.write('boom: no config')\nsys.exit(3)\n", "boom: no config"),
        ('import sys\nsys.stdin.readline()\nprint(\'{"id": 1, "ok": "yes"}\')\n', "not a reply"),
    ],
)
def test_a_broken_adapter_gets_a_clear_error(tmp_path: Path, body: str, reason: str) -> None:
    client = Adapter.start(_script(tmp_path, body), NOWHERE)
    try:
        # Each breaks the protocol as soon as it runs; the time only covers an interpreter
        # starting on a loaded machine (a 1 s limit timed out before "boom" was written).
        with pytest.raises(AdapterError, match=reason):
            client.call("get_profile", timeout=15.0)
    finally:
        client.close(timeout=1.0)


def test_a_silent_adapter_is_given_up_on_within_seconds(tmp_path: Path) -> None:
    silent = _script(tmp_path, "import sys, time\nsys.stdin.readline()\ntime.sleep(60)\n")
    started = time.monotonic()
    with Adapter.start(silent, NOWHERE) as client, pytest.raises(Silent, match="silent for 3 s"):
        client.call("login", LOGIN, timeout=60)
    assert time.monotonic() - started < SILENT_S + 3


def test_a_busy_adapter_that_never_answers_is_given_up_on_too(tmp_path: Path) -> None:
    busy = _script(tmp_path, "import sys\nsys.stdin.readline()\nwhile True: pass\n")
    watch = Watch(first_reply_s=2.0)
    with Adapter.start(busy, NOWHERE, watch) as client, pytest.raises(Silent, match="within"):
        client.call("login", LOGIN, timeout=1.0)


def test_a_late_reply_is_no_reply(tmp_path: Path) -> None:
    slow = _script(
        tmp_path,
        """
        import json, sys, time
        for n, line in enumerate(sys.stdin):
            time.sleep(0 if n == 0 else 5)
            print(json.dumps({"id": json.loads(line)["id"], "ok": True}), flush=True)
        """,
    )
    with Adapter.start(slow, NOWHERE) as client:
        assert client.call("get_tokens", timeout=5).ok
        started = time.monotonic()
        with pytest.raises(NoReply, match="no reply to request 2 within 1"):
            client.call("get_tokens", timeout=1.0)
        assert client.pending
        assert time.monotonic() - started < 2
        assert client.close() != 0  # ended, not asked: it was busy with the call


def test_the_run_time_bound_cuts_a_call_short(tmp_path: Path) -> None:
    silent = _script(tmp_path, "import sys, time\nsys.stdin.readline()\ntime.sleep(60)\n")
    watch = Watch(deadline=time.monotonic() + 1.0)
    with Adapter.start(silent, NOWHERE, watch) as client, pytest.raises(RunTimeUp):
        client.call("login", LOGIN, timeout=30)


def test_a_line_too_long_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    # 300 MiB on one line, in 1 MiB writes: the harness must not hold it.
    flood = _script(
        tmp_path,
        """
        import sys
        sys.stdin.readline()
        chunk = b"x" * (1 << 20)
        for _ in range(300):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.write(b"\\n")
        sys.stdout.flush()
        sys.stdin.readline()
        """,
    )
    before = _rss()
    with Adapter.start(flood, NOWHERE) as client:
        with pytest.raises(AdapterError, match="longer than 16 MiB"):
            client.call("get_tokens", timeout=60)
        assert _rss() - before < 80 * (1 << 20)


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


SPAWNER = """
import json, os, subprocess, sys, time

children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])]
# A grandchild that leaves the session (setsid) and is orphaned at once (double fork).
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(sys.argv[1] + ".escaped", "w") as f:
            f.write(str(os.getpid()))
        time.sleep(120)
    os._exit(0)
with open(sys.argv[1], "w") as f:
    f.write(str(children[0].pid))
for line in sys.stdin:
    request = json.loads(line)
    print(json.dumps({"id": request["id"], "ok": True, "result": None}), flush=True)
    if request["op"] == "shutdown":
        break
"""


@pytest.mark.skipif(not processes.supported(), reason="finding children needs /proc")
def test_everything_an_adapter_started_ends_with_it(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    command = [*_script(tmp_path, SPAWNER), str(pids)]
    client = Adapter.start(command, NOWHERE)
    assert client.call("get_tokens", timeout=10).ok
    _wait_for(lambda: pids.exists() and Path(f"{pids}.escaped").exists())
    started = [int(pids.read_text()), int(Path(f"{pids}.escaped").read_text())]
    assert all(_alive(pid) for pid in started)
    assert client.close() == 0
    assert not [pid for pid in started if _alive(pid)]
    assert client.survivors() == []


def _wait_for(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    stat = processes.read_stat(pid)
    return stat is not None and stat.state != "Z"


def test_a_missing_command_is_a_clear_error() -> None:
    with pytest.raises(AdapterError, match="cannot start"):
        Adapter.start(["no-such-adapter-command"], AdapterEnv(base_url="http://127.0.0.1:9"))


def test_the_reference_adapter_needs_a_base_url(tmp_path: Path) -> None:
    done = subprocess.run(
        [*REFERENCE_ADAPTER], env={"PATH": "/usr/bin"}, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "HARNESS_BASE_URL" in done.stderr


def test_tokens_may_be_set_to_one_or_none(adapter: Adapter) -> None:
    adapter.call("login", LOGIN)
    access = adapter.call("get_tokens").result["access_token"]
    adapter.call("set_tokens", {"access_token": access, "refresh_token": None})
    assert adapter.call("get_tokens").result == {"access_token": access, "refresh_token": None}
    assert adapter.call("get_profile").ok  # the access token alone still works
    adapter.call("set_tokens", {"access_token": None, "refresh_token": None})
    assert adapter.call("get_tokens").result is None


@pytest.mark.skipif(not processes.supported(), reason="needs /proc")
def test_a_reaped_leader_s_group_is_never_signalled(monkeypatch: pytest.MonkeyPatch) -> None:
    # Once reaped, its id (and so its group's) may be any other process's.
    leader = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    tree = processes.ProcessTree(leader.pid, "token")
    leader.wait()
    signalled: list[tuple[int, int]] = []
    monkeypatch.setattr(processes.os, "killpg", lambda pid, sig: signalled.append((pid, sig)))
    tree.end(grace_s=0.1)
    assert signalled == []
