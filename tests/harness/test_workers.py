"""`harness mock --workers N`: worker processes on one port, one shared state.

Each test talks to real worker processes over loopback sockets. A connection
stays with the worker that accepted it, so a test first opens connections
until it holds some on every worker (the health call says which pid answered),
then sends requests on the ones it means.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mock_testkit import (
    PRODUCTS,
    PROFILE,
    harness_command,
    signature_headers,
)
from workers_testkit import CONTROL, Workers, _alive, on_each_worker, pid_of, workers

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from harness.mock_process import MockProcess
from mocks.fault_engine import RequestView, RuleSet
from mocks.fault_rules import FaultRule

ROOT = Path(__file__).resolve().parents[2]
SECRET = "worker-secret"


@pytest.fixture(scope="module")
def two() -> Iterator[Workers]:
    with workers() as running:
        yield running


@pytest.fixture
def pinned(two: Workers) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """One client on each worker, after a reset of the whole mock."""
    found = on_each_worker(two.base_url, 2)
    first, second = (clients[0] for clients in found.values())
    first.post(CONTROL + "/reset").raise_for_status()
    yield first, second
    for clients in found.values():
        for client in clients:
            client.close()


def test_a_rule_with_times_3_fires_3_times_in_all_across_two_workers(two: Workers) -> None:
    found = on_each_worker(two.base_url, 2, per_worker=4)
    clients = [c for group in found.values() for c in group]
    clients[0].post(CONTROL + "/reset").raise_for_status()
    added = clients[0].post(
        CONTROL + "/faults",
        json={
            "id": "three",
            "match": {"path": "/v1/products"},
            "select": {"times": 3},
            "action": {"type": "status", "status": 503},
        },
    )
    assert added.status_code == 201, added.text
    statuses: list[int] = []
    start = threading.Barrier(len(clients))

    def send(client: httpx.Client) -> None:
        start.wait(timeout=30)
        got = [client.get(PRODUCTS).status_code for _ in range(10)]
        statuses.extend(got)

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(statuses) == 80, statuses
    assert statuses.count(503) == 3, statuses
    assert set(statuses) == {401, 503}
    # Every client stayed on its worker: both workers took part in the race.
    assert {pid_of(c) for c in clients} == set(found)
    for group in found.values():  # every worker reports the one count
        (rule,) = group[0].get(CONTROL + "/faults").json()["faults"]
        assert (rule["matches"], rule["hits"]) == (80, 3)
    for group in found.values():
        for client in group:
            client.close()


def test_the_journal_is_one_ordered_record_read_from_any_worker(
    pinned: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = pinned
    for i in range(12):
        (first if i % 2 == 0 else second).get(f"{PRODUCTS}/p-{i}")
    journals = [c.get(CONTROL + "/journal").json() for c in pinned]
    assert journals[0] == journals[1]
    entries = journals[0]["entries"]
    assert [e["path"] for e in entries] == [f"{PRODUCTS}/p-{i}" for i in range(12)]
    seqs = [e["seq"] for e in entries]
    assert seqs == list(range(seqs[0], seqs[0] + 12))
    # The entries came over two connections, one on each worker.
    assert len({e["connection"] for e in entries}) == 2
    assert journals[0]["counters"]["requests"] == 12


def test_a_reset_on_one_worker_resets_the_other(pinned: tuple[httpx.Client, httpx.Client]) -> None:
    first, second = pinned
    rule = {"match": {"path": "/v1/*"}, "action": {"type": "status", "status": 500}}
    assert second.post(CONTROL + "/faults", json=rule).status_code == 201
    assert second.get(PRODUCTS).status_code == 500
    assert first.post(CONTROL + "/reset").status_code == 200
    assert second.get(CONTROL + "/faults").json()["faults"] == []
    assert second.get(CONTROL + "/journal").json()["entries"] == []
    assert second.get(PRODUCTS).status_code == 401
    (entry,) = first.get(CONTROL + "/journal").json()["entries"]
    assert entry["status"] == 401


def test_a_seeded_probability_gives_one_workers_run_across_two(
    pinned: tuple[httpx.Client, httpx.Client],
) -> None:
    rule = {
        "id": "p",
        "action": {"type": "status", "status": 503},
        "match": {"path": "/v1/products"},
        "select": {"probability": 0.5, "seed": 11},
    }
    alone = RuleSet()
    alone.add(FaultRule.model_validate(rule))
    view = RequestView("GET", PRODUCTS, "listProducts", {})
    expected = [503 if alone.choose(view) else 401 for _ in range(30)]
    assert pinned[0].post(CONTROL + "/faults", json=rule).status_code == 201
    got = [pinned[i % 2].get(PRODUCTS).status_code for i in range(30)]
    assert got == expected
    assert {401, 503} <= set(got)


def _login(client: httpx.Client) -> dict[str, str]:
    response = client.post("/v1/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def _profile(client: httpx.Client, tokens: dict[str, str]) -> int:
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    return client.get(PROFILE, headers=auth).status_code


def test_a_token_issued_by_one_worker_is_valid_on_the_other(
    pinned: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = pinned
    tokens = _login(first)
    assert (_profile(first, tokens), _profile(second, tokens)) == (200, 200)
    second.post("/v1/auth/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert _profile(first, tokens) == 401  # logged out on the other worker


def test_a_refresh_token_reused_on_another_worker_revokes_the_session(
    pinned: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = pinned
    tokens = _login(first)
    rotated = first.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    reused = second.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401
    effect = second.get(CONTROL + "/journal").json()["entries"][-1]["effect"]
    assert (effect["kind"], effect["reason"]) == ("refresh_rejected", "reused")
    # The whole session is revoked, on both workers: the successor refuses too.
    successor = first.post(
        "/v1/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]}
    )
    assert successor.status_code == 401
    assert _profile(first, rotated.json()) == 401


def test_the_clock_and_token_expiry_are_one_across_workers(
    pinned: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = pinned
    tokens = _login(first)
    assert _profile(second, tokens) == 200
    advanced = first.post(CONTROL + "/clock", json={"advance_s": 3600}).json()
    assert abs(second.get(CONTROL + "/clock").json()["offset_s"] - advanced["offset_s"]) < 1e-6
    assert _profile(second, tokens) == 401  # expired on the shared clock
    fresh = _login(second)
    second.post(CONTROL + "/tokens/expire").raise_for_status()
    assert _profile(first, fresh) == 401


def _sign_in(client: httpx.Client, email: str, password: str = "worker-password") -> int:
    return client.post("/v1/auth/login", json={"email": email, "password": password}).status_code


def test_an_account_registered_on_one_worker_lives_on_the_other(
    pinned: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = pinned
    body = {"email": "new@example.com", "password": "worker-password", "name": "New"}
    registered = first.post("/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    assert second.post("/v1/auth/register", json=body).status_code == 409  # taken, there too
    assert _sign_in(second, "new@example.com") == 200
    auth = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    profile = second.get(PROFILE, headers=auth).json()
    assert profile["email"] == "new@example.com"
    moved = second.put("/v1/users/update", headers=auth, json={"email": "moved@example.com"})
    assert moved.status_code == 200, moved.text
    assert (_sign_in(first, "moved@example.com"), _sign_in(first, "new@example.com")) == (200, 401)
    assert first.get(PROFILE, headers=auth).json() == second.get(PROFILE, headers=auth).json()
    first.post(CONTROL + "/reset").raise_for_status()
    assert _sign_in(second, "moved@example.com") == 401  # the reset reseeded both workers
    _login(second)  # the configured account is back


def test_two_workers_registering_one_email_at_once_make_one_account(
    pinned: tuple[httpx.Client, httpx.Client],
) -> None:
    """Both workers check the name is free and take it in one transaction each: of two
    registrations racing for one email, exactly one wins, every round."""

    def register(client: httpx.Client, body: dict[str, str], start: threading.Barrier) -> None:
        start.wait(timeout=10)
        got.append(client.post("/v1/auth/register", json=body).status_code)

    statuses: list[list[int]] = []
    for round_ in range(8):
        body = {"email": f"race{round_}@example.com", "password": "worker-password", "name": "R"}
        start = threading.Barrier(2)
        got: list[int] = []
        racers = [threading.Thread(target=register, args=(c, body, start)) for c in pinned]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(timeout=30)
        statuses.append(sorted(got))
    assert statuses == [[201, 409]] * 8


def test_an_idempotency_key_holds_across_workers(
    pinned: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = pinned
    auth = {"Authorization": f"Bearer {_login(first)['access_token']}"}
    body = {"name": "Kettle", "price": 19.99, "category_id": "home"}
    key = {"Idempotency-Key": "order-1", **auth}
    created = first.post(PRODUCTS, json=body, headers=key)
    assert created.status_code == 201, created.text
    replayed = second.post(PRODUCTS, json=body, headers=key)
    assert replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == created.json()
    other = second.post(PRODUCTS, json={**body, "price": 5.0}, headers=key)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def test_a_signed_request_replayed_to_another_worker_is_refused() -> None:
    with workers("--signing-secret", SECRET) as running:
        found = on_each_worker(running.base_url, 2)
        first, second = (clients[0] for clients in found.values())
        signed = signature_headers(SECRET, "GET", PRODUCTS)
        assert first.get(PRODUCTS, headers=signed).status_code == 401  # signed, no token
        assert second.get(PRODUCTS, headers=signed).status_code == 403
        entries = second.get(CONTROL + "/journal").json()["entries"]
        assert [e["signature"] for e in entries] == ["valid", "replayed"]
        for clients in found.values():
            clients[0].close()


def test_a_config_change_on_one_worker_applies_on_the_other(
    pinned: tuple[httpx.Client, httpx.Client],
) -> None:
    first, second = pinned
    changed = first.put(CONTROL + "/config", json={"access_ttl_s": 42, "fault_header": True})
    assert changed.status_code == 200, changed.text
    config = second.get(CONTROL + "/config").json()
    assert (config["access_ttl_s"], config["fault_header"]) == (42, True)
    assert _login(second)["expires_in"] == 42
    faulted = second.get(PRODUCTS, headers={"X-Harness-Fault": "status;status=418"})
    assert faulted.status_code == 418
    first.post(CONTROL + "/reset").raise_for_status()  # back to the startup config, everywhere
    assert second.get(CONTROL + "/config").json()["access_ttl_s"] == 300


def test_the_workers_run_optimized(two: Workers) -> None:
    for pid in two.pids:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"-O" in argv[:3], argv


def test_sigterm_to_the_parent_stops_every_worker() -> None:
    with workers() as running:
        assert all(_alive(pid) for pid in running.pids)
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=20) == 0
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in running.pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in running.pids)


def test_workers_end_with_a_parent_killed_outright(tmp_path: Path) -> None:
    with workers(scratch=tmp_path) as running:
        running.process.kill()  # SIGKILL: the parent cannot stop anything itself
        running.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in running.pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in running.pids)


def test_a_worker_that_dies_stops_the_others_and_the_parent_fails() -> None:
    with workers() as running:
        os.kill(running.pids[0], signal.SIGKILL)
        assert running.process.wait(timeout=20) == 1
        deadline = time.monotonic() + 10
        while _alive(running.pids[1]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(running.pids[1])


def test_state_file_keeps_rules_counters_journal_sessions_across_restarts(
    tmp_path: Path,
) -> None:
    state = tmp_path / "mock-state.sqlite"
    rule = {
        "id": "kept",
        "match": {"path": "/v1/products"},
        "select": {"times": 2},
        "action": {"type": "status", "status": 503},
    }
    with workers("--state", str(state)) as first:
        assert f"state in {state}" in first.banner
        with httpx.Client(base_url=first.base_url, timeout=10) as client:
            assert client.post(CONTROL + "/faults", json=rule).status_code == 201
            assert client.get(PRODUCTS).status_code == 503
            tokens = _login(client)
    with (
        workers("--state", str(state)) as again,
        httpx.Client(base_url=again.base_url, timeout=10) as client,
    ):
        (kept,) = client.get(CONTROL + "/faults").json()["faults"]
        assert (kept["id"], kept["hits"]) == ("kept", 1)
        assert _profile(client, tokens) == 200  # the session outlived the restart
        assert [client.get(PRODUCTS).status_code for _ in range(2)] == [503, 401]
        assert client.get(CONTROL + "/journal").json()["last_seq"] == 5


def test_mock_process_starts_and_stops_workers(tmp_path: Path) -> None:
    """What load runs use: the child's SIGTERM (then SIGKILL) must take the workers too."""
    mock = MockProcess(log=tmp_path / "mock.log", workers=2).start()
    try:
        listed = re.search(r"pids ([\d, ]+)\)", mock.log.read_text())
        assert listed, mock.tail()
        pids = [int(p) for p in listed.group(1).split(", ")]
        assert httpx.get(mock.base_url + CONTROL + "/health", timeout=10).status_code == 200
    finally:
        mock.stop()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)


def test_bad_worker_counts_are_refused() -> None:
    done = subprocess.run(
        [*harness_command(), "mock", "--workers", "0"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--workers must be at least 1" in done.stderr


ALLOWED_ASSERTS = "narrowing only: `x is not None`, `isinstance(...)`, or these joined by and/or"


def _narrows(test: ast.expr) -> bool:
    if isinstance(test, ast.BoolOp):
        return all(_narrows(v) for v in test.values)
    if isinstance(test, ast.Compare):
        return (
            len(test.ops) == 1
            and isinstance(test.ops[0], ast.IsNot)
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value is None
        )
    return (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Name)
        and test.func.id == "isinstance"
    )


@pytest.mark.parametrize("package", ["mocks", "harness", "contracts"])
def test_no_behaviour_rests_on_assert_so_python_O_is_safe(package: str) -> None:
    """`python -O` drops asserts: ours may only narrow types for mypy, never check input."""
    checks: list[str] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Assert) and not _narrows(node.test):
                checks.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not checks, f"asserts that are checks ({ALLOWED_ASSERTS}): {checks}"
