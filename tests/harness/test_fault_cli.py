"""`harness fault ...`, `harness scenario ...` and `harness mock --scenario` against a
real `harness mock` process: output, exit codes (2 for bad input, 1 for an unreachable
or refusing mock) and the reasons on stderr."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mock_testkit import PRODUCTS, MockProcess, harness_mock_process

from harness.cli import main
from mocks.scenarios import builtin_names, load_builtin

BAD_SCENARIO = "name: x\nfaults:\n  - match: {path: /v1}\n    action: {type: status, status: 999}\n"


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MockProcess, list[str]]]:
    """One `harness mock --scenario rate-limited --port 0` for this module, and the ids of
    the rules it started with."""
    stderr_path = tmp_path_factory.mktemp("mock") / "stderr.txt"
    with harness_mock_process("--scenario", "rate-limited", stderr_path=stderr_path) as mock:
        faults = httpx.get(mock.base_url + "/__harness/faults", timeout=10).json()["faults"]
        yield mock, [rule["id"] for rule in faults]


@pytest.fixture
def url(started: tuple[MockProcess, list[str]]) -> str:
    """The running mock, reset: no rules, startup config."""
    base_url = started[0].base_url
    httpx.post(base_url + "/__harness/reset", timeout=10).raise_for_status()
    return base_url


@pytest.fixture
def unreachable() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: nothing listens there


def _faults(url: str) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = httpx.get(url + "/__harness/faults").json()["faults"]
    return faults


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_mock_starts_with_the_scenario_rules(started: tuple[MockProcess, list[str]]) -> None:
    mock, startup_ids = started
    assert "Scenario      rate-limited: 2 fault rules" in mock.banner
    assert startup_ids == ["create-limited", "rate-limited"]


def test_fault_add_list_clear(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    spec = "status;status=503;retry_after=1"
    code, out, err = _run(
        capsys, "fault", "add", spec, "--path", "/v1/*", "--times", "2", "--url", url
    )
    assert (code, err) == (0, "")
    added = re.fullmatch(r"added fault rule (f\d+)\n", out)
    assert added, out
    rule_id = added.group(1)
    responses = [httpx.get(url + PRODUCTS) for _ in range(3)]
    assert [r.status_code for r in responses] == [503, 503, 401]
    assert responses[0].headers["Retry-After"] == "1"

    code, out, _ = _run(capsys, "fault", "list", "--url", url)
    assert code == 0
    line = out.strip()
    assert re.match(rf"{rule_id}\s+hits\s+2 of\s+3\s+status ", line), line
    assert '"status": 503' in line
    assert '"retry_after": 1' in line
    assert "on * /v1/*" in line
    assert '"times": 2' in line

    assert _run(capsys, "fault", "clear", "--url", url)[:2] == (0, "removed all fault rules\n")
    assert _faults(url) == []
    assert _run(capsys, "fault", "list", "--url", url)[:2] == (0, "no fault rules\n")


def test_fault_add_with_every_option_then_clear_one(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--id", "opts", "--method", "get", "--method", "POST", "--path", "/v1/products*"]
    options += ["--operation", "listProducts", "--after", "1", "--every", "2", "--times", "3"]
    options += ["--probability", "0.5", "--seed", "9", "--expires", "60"]
    code, out, _ = _run(capsys, "fault", "add", "delay;ms=20", *options, "--url", url)
    assert (code, out) == (0, "added fault rule opts\n")
    _run(
        capsys,
        "fault",
        "add",
        "--json",
        "{action: {type: reset}, match: {path: /v1/auth/logout}}",
        "--url",
        url,
    )
    (rule, other) = _faults(url)
    assert rule["rule"] == {
        "id": "opts",
        "match": {
            "methods": ["GET", "POST"],
            "path": "/v1/products*",
            "operation": "listProducts",
            "headers": {},
        },
        "action": {"type": "delay"},
        "delay": {"type": "fixed", "ms": 20},
        "select": {
            "after": 1,
            "times": 3,
            "every": 2,
            "probability": 0.5,
            "seed": 9,
            "expires_after_s": 60.0,
        },
    }
    assert other["rule"]["action"] == {"type": "reset"}
    assert _run(capsys, "fault", "clear", "opts", "--url", url)[:2] == (0, "removed opts\n")
    assert [r["id"] for r in _faults(url)] == [other["id"]]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["boom"], "unknown fault 'boom'; one of: status, delay"),
        (["status;status=999"], "Input should be less than or equal to 599"),
        (["status;503"], "expected key=value, got '503'"),
        (["delay"], "a delay action needs a delay"),
        ([], "give an ACTION (e.g. 'status;status=503') or --json"),
        (["reset", "--times", "0"], "select.times"),
        (["reset", "--path", "v1"], "path must start with /"),
        (["reset", "--method", "G3T"], "HTTP method names"),
        (["--json", "[1, 2]"], "--json must be an object"),
        (["--json", "{action: {type: nope}}"], "does not match any of the expected tags"),
    ],
)
def test_a_bad_fault_exits_2_with_the_reason(
    url: str, capsys: pytest.CaptureFixture[str], args: list[str], reason: str
) -> None:
    code, out, err = _run(capsys, "fault", "add", *args, "--url", url)
    assert (code, out) == (2, "")
    assert err.startswith("harness fault: ")
    assert reason in err
    assert _faults(url) == []


def test_refusals_of_the_mock_exit_1(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _run(capsys, "fault", "add", "reset", "--id", "taken", "--url", url)
    code, _, err = _run(capsys, "fault", "add", "close", "--id", "taken", "--url", url)
    assert code == 1
    assert err.startswith(f"harness fault: {url}: POST /__harness/faults: ")
    assert "'taken' exists already" in err
    code, _, err = _run(capsys, "fault", "clear", "nope", "--url", url)
    assert code == 1
    assert "No fault rule 'nope'." in err


@pytest.mark.parametrize(
    "argv",
    [
        ["fault", "add", "reset"],
        ["fault", "list"],
        ["fault", "clear"],
        ["scenario", "load", "slow"],
    ],
    ids=["add", "list", "clear", "scenario"],
)
def test_an_unreachable_mock_exits_1_saying_so(
    unreachable: str, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = _run(capsys, *argv, "--url", unreachable)
    assert (code, out) == (1, "")
    assert err.startswith(f"harness {argv[0]}: {unreachable}: ")
    assert "Connection refused" in err


def test_the_url_defaults_to_harness_url(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_URL", url)
    assert _run(capsys, "fault", "add", "reset", "--id", "env")[:2] == (0, "added fault rule env\n")
    assert [r["id"] for r in _faults(url)] == ["env"]


# --- scenarios --------------------------------------------------------------------------


def test_scenario_list_prints_the_builtins_with_descriptions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = _run(capsys, "scenario", "list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == builtin_names()
    for line, name in zip(lines, builtin_names(), strict=True):
        assert line.endswith(load_builtin(name).description)
    assert {"flaky", "rate-limited", "slow", "timeouts", "token-churn", "chaos"} <= set(
        builtin_names()
    )


@pytest.mark.parametrize("name", builtin_names())
def test_scenario_load_each_builtin(
    url: str, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    count = len(load_builtin(name).faults)
    code, out, _ = _run(capsys, "scenario", "load", name, "--url", url)
    assert (code, out) == (0, f"loaded scenario {name}: {count} fault rules\n")
    assert [r["id"] for r in _faults(url)] == [rule.id for rule in load_builtin(name).faults]


def test_scenario_load_a_file(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nconfig: {access_ttl_s: 11}\nfaults:\n"
        "  - {id: teapot, match: {path: /v1/products}, action: {type: status, status: 418}}\n",
        encoding="utf-8",
    )
    assert _run(capsys, "scenario", "load", str(path), "--url", url)[:2] == (
        0,
        "loaded scenario mine: 1 fault rules\n",
    )
    assert httpx.get(url + PRODUCTS).status_code == 418
    assert httpx.get(url + "/__harness/config").json()["access_ttl_s"] == 11


def test_a_bad_scenario_exits_2_with_the_line(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_SCENARIO, encoding="utf-8")
    code, out, err = _run(capsys, "scenario", "load", str(path), "--url", url)
    assert (code, out) == (2, "")
    assert err == (
        f"harness scenario: {path}: line 4: faults.0.action.status.status: "
        "Input should be less than or equal to 599\n"
    )
    code, _, err = _run(capsys, "scenario", "load", "nope", "--url", url)
    assert code == 2
    assert f"no built-in scenario 'nope'; built-ins: {', '.join(builtin_names())}" in err
    assert _faults(url) == []


def test_mock_refuses_an_unknown_or_bad_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "mock", "--port", "0", "--scenario", "nope")
    assert code == 2
    assert err.startswith("harness mock: no built-in scenario 'nope'; built-ins: chaos")
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_SCENARIO, encoding="utf-8")
    code, _, err = _run(capsys, "mock", "--port", "0", "--scenario", str(path))
    assert code == 2
    assert "line 4: faults.0.action.status.status" in err
