"""The `harness` command line: `harness mock` as a real process, bad arguments, and
`harness check` and `harness smoke`."""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from mock_testkit import harness_command, harness_mock_process

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from harness import check_cli, cli
from harness.cli import build_parser, main
from harness.control import TOKEN_ENV
from mocks.server import beyond_loopback_warning
from mocks.settings import MockSettings

BOOKS_DOCUMENT = Path(__file__).parents[1] / "data" / "books" / "openapi.yaml"


def test_harness_mock_serves_until_sigint(tmp_path: Path) -> None:
    args = ("--api-key", "cli-key", "--access-ttl", "60")
    # The helper sends Ctrl-C when the block ends and checks that the mock exits 0.
    with harness_mock_process(*args, stderr_path=tmp_path / "stderr.txt") as mock:
        banner = mock.banner
        found = re.search(r"Mock API\s+(http://127\.0\.0\.1:(\d+))/v1\n", banner)
        assert found, banner
        base_url, port = found.group(1), int(found.group(2))
        assert port > 0
        assert f"Control API   {base_url}/__harness/" in banner
        assert f"{DEMO_EMAIL} / {DEMO_PASSWORD}" in banner
        assert "Access TTL    60 s" in banner
        assert "API key       required in X-API-Key" in banner
        assert "cli-key" not in banner  # the user gave it; the terminal need not repeat it
        health = httpx.get(f"{base_url}/__harness/health", timeout=10)
        assert health.json()["status"] == "ok"
        config = httpx.get(f"{base_url}/__harness/config", timeout=10).json()
        assert (config["api_key_set"], config["access_ttl_s"]) == (True, 60)
        assert "cli-key" not in json.dumps(config)
        refused = httpx.get(f"{base_url}/v1/products", timeout=10)
        assert refused.json()["code"] == "missing_api_key"


def test_products_and_seed_make_the_demo_catalogue(tmp_path: Path) -> None:
    """`--products N --seed S` seed the demo's products resource on the engine; the
    same flags give the same catalogue, another seed another one."""

    def catalogue(*args: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with harness_mock_process(*args, stderr_path=tmp_path / "stderr.txt") as mock:
            health = httpx.get(f"{mock.base_url}/__harness/health", timeout=10).json()
            with httpx.Client(base_url=mock.base_url, timeout=10) as client:
                body = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
                token = client.post("/v1/auth/login", json=body).json()["access_token"]
                listed = client.get("/v1/products", headers={"Authorization": f"Bearer {token}"})
        return health, listed.json()

    health, products = catalogue("--products", "3", "--seed", "5")
    assert (health["api"]["resources"]["products"], health["seed"]) == (3, 5)
    assert len(products) == 3
    assert catalogue("--products", "3", "--seed", "5")[1] == products
    assert catalogue("--products", "3", "--seed", "6")[1] != products


def test_a_non_numeric_ttl_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["mock", "--access-ttl", "abc"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --access-ttl: invalid int value: 'abc'" in err
    assert err.startswith("usage: harness mock")


@pytest.mark.parametrize(
    ("args", "messages"),
    [
        (["--access-ttl", "0"], ("access_ttl_s", "greater than 0")),
        (["--refresh-ttl", "-5"], ("refresh_ttl_s", "greater than 0")),
        (["--products", "-1"], ("--products must be from 0 to 10000",)),
        (["--products", "10001"], ("--products must be from 0 to 10000",)),
        # --products seeds the demo only: beside a document it says what to set instead.
        (["--products", "5", "--spec", str(BOOKS_DOCUMENT)], ("mock.resources.NAME.seed_items",)),
    ],
)
def test_an_invalid_setting_exits_2_with_the_reason(
    capsys: pytest.CaptureFixture[str], args: list[str], messages: tuple[str, ...]
) -> None:
    assert main(["mock", "--port", "0", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness mock: ")
    for message in messages:
        assert message in err


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_harness_smoke_passes_against_the_embedded_mock(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["smoke"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert re.search(r"mock smoke: (\d+) passed, 0 failed", out)


def test_harness_check_runs_its_stages_into_one_scorecard(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = tmp_path / "check"
    skips = ["--skip", "contract", "--skip", "conformance", "--skip", "load"]
    assert main(["check", "--report-dir", str(report), *skips]) == 0
    out = capsys.readouterr().out
    assert "PASS  smoke" in out
    assert "check: 1 passed, 0 failed" in out


def test_harness_check_fails_when_any_stage_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = check_cli_args(tmp_path, "--adapter", "x y")
    seen: list[list[str]] = []

    def fake(argv: list[str]) -> int:
        seen.append(argv)
        return 1 if argv[0] == "verify" else 0

    assert check_cli.run(args, fake) == 1
    out = capsys.readouterr().out
    assert "FAIL  conformance" in out
    assert "check: 3 passed, 1 failed" in out
    assert [a[0] for a in seen] == ["smoke", "contract", "verify", "load"]
    assert seen[2][-2:] == ["--adapter", "x y"]
    assert "--html" in seen[2]
    scorecard = out.split("Scorecard")[1]
    assert str(tmp_path / "conformance.html") not in scorecard  # the stage wrote none


def test_harness_check_names_the_conformance_report_on_its_scorecard(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = check_cli_args(tmp_path, "--skip", "smoke", "--skip", "contract", "--skip", "load")
    stale = tmp_path / "conformance.json"
    stale.write_text("{}")  # an earlier run's: removed, since this run writes its own
    written: dict[str, Path] = {}

    def fake(argv: list[str]) -> int:
        assert not stale.exists()
        for flag in ("--junit", "--html", "--json"):
            written[flag] = Path(argv[argv.index(flag) + 1])
        written["--html"].write_text("<!DOCTYPE html>")
        return 0

    assert check_cli.run(args, fake) == 0
    assert written == {
        "--junit": tmp_path / "conformance.xml",
        "--html": tmp_path / "conformance.html",
        "--json": tmp_path / "conformance.json",
    }
    scorecard = capsys.readouterr().out.split("Scorecard")[1]
    assert re.search(
        r"PASS  conformance .* s  " + re.escape(str(tmp_path / "conformance.html")), scorecard
    )


def test_harness_check_of_another_api_runs_its_contract_stage(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "theirs.yaml"
    spec.write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\n")
    args = check_cli_args(tmp_path, "--spec", str(spec), "--base-url", "http://127.0.0.1:9")
    seen: list[list[str]] = []
    assert check_cli.run(args, lambda argv: seen.append(argv) or 0) == 0
    assert [a[0] for a in seen] == ["contract"]
    assert seen[0][-4:] == ["--base-url", "http://127.0.0.1:9", "--spec", str(spec)]
    assert "conformance, load, smoke skipped" in capsys.readouterr().out


def check_cli_args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    check_cli.add_parser(commands)
    return parser.parse_args(["check", "--report-dir", str(tmp_path), *extra])


def test_a_port_in_use_is_reported_plainly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*harness_command(), "mock", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode != 0
    assert "harness mock:" in done.stderr
    assert str(port) in done.stderr or "in use" in done.stderr


# --- the control token ----------------------------------------------------------------


def _token_in(banner: str) -> str:
    found = re.search(r"Control token (\S+)  \(send it as X-Harness-Token", banner)
    assert found, banner
    return found.group(1)


def test_a_requested_control_token_is_printed_once_and_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with harness_mock_process("--control-token", stderr_path=tmp_path / "err.txt") as mock:
        token = _token_in(mock.banner)
        assert mock.banner.count(token) == 1
        health = f"{mock.base_url}/__harness/health"
        assert httpx.get(health, timeout=10).status_code == 401
        assert httpx.get(health, headers={"X-Harness-Token": token}, timeout=10).status_code == 200
        # harness commands send it themselves, from the environment.
        assert main(["fault", "list", "--url", mock.base_url]) == 1
        assert "control_token_required" in capsys.readouterr().err
        monkeypatch.setenv(TOKEN_ENV, token)
        assert main(["fault", "list", "--url", mock.base_url]) == 0
        assert "no fault rules" in capsys.readouterr().out
    assert token not in (tmp_path / "err.txt").read_text()


def test_a_token_file_keeps_the_token_off_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    path = tmp_path / "token"
    path.write_text("old")
    path.chmod(0o644)
    args = ("--control-token-file", str(path))
    with harness_mock_process(*args, stderr_path=tmp_path / "err.txt") as mock:
        token = path.read_text().strip()
        assert len(token) >= 40
        assert path.stat().st_mode & 0o777 == 0o600
        assert token not in mock.banner
        assert f"Control token written to {path}" in mock.banner
        headers = {"X-Harness-Token": token}
        response = httpx.get(f"{mock.base_url}/__harness/health", headers=headers, timeout=10)
        assert response.status_code == 200


def test_a_token_from_the_environment_is_required_and_never_printed(tmp_path: Path) -> None:
    env = {TOKEN_ENV: "from-the-environment-1234"}
    with harness_mock_process(stderr_path=tmp_path / "err.txt", env=env) as mock:
        assert "from-the-environment-1234" not in mock.banner
        assert f"Control token from {TOKEN_ENV}" in mock.banner
        url = f"{mock.base_url}/__harness/health"
        assert httpx.get(url, timeout=10).status_code == 401
        ok = httpx.get(url, headers={"X-Harness-Token": env[TOKEN_ENV]}, timeout=10)
        assert ok.status_code == 200


def test_without_a_request_a_loopback_mock_needs_no_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with harness_mock_process(stderr_path=tmp_path / "err.txt") as mock:
        assert "Control token" not in mock.banner
        assert httpx.get(f"{mock.base_url}/__harness/health", timeout=10).status_code == 200


def test_beyond_loopback_a_token_is_made_and_a_loud_warning_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The decision and the words, without listening beyond loopback in a test.
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    args = build_parser("mock").parse_args(["mock", "--host", "0.0.0.0"])
    token, line = cli._control_token(args)
    assert token is not None
    assert line is not None
    assert line.startswith(token)
    warning = beyond_loopback_warning("0.0.0.0", 8080)
    assert warning.startswith("WARNING: ")
    assert "beyond loopback" in warning
    assert "control token" in warning
    banner = cli._banner("http://0.0.0.0:8080", MockSettings(), None, None, line)
    assert f"Control token {token}" in banner


def test_an_unwritable_token_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing-dir" / "token"
    assert main(["mock", "--port", "0", "--control-token-file", str(target)]) == 2
    assert capsys.readouterr().err.startswith("harness mock: control token: ")


def test_harness_check_interrupted_shows_the_scorecard_of_what_ran_and_exits_130(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = check_cli_args(tmp_path)
    seen: list[str] = []

    def fake(argv: list[str]) -> int:
        seen.append(argv[0])
        if argv[0] == "verify":
            raise KeyboardInterrupt
        return 0

    assert check_cli.run(args, fake) == 130
    captured = capsys.readouterr()
    assert seen == ["smoke", "contract", "verify"]  # no stage after the interrupted one
    scorecard = captured.out.split("Scorecard")[1]
    assert "PASS  smoke" in scorecard
    assert "STOP  conformance" in scorecard
    assert "load" not in scorecard
    assert captured.err.strip().splitlines() == ["harness check: interrupted during conformance"]


def test_harness_check_stops_after_a_stage_that_was_interrupted_itself(tmp_path: Path) -> None:
    # harness load catches Ctrl-C itself, writes its partial report and returns 130.
    args = check_cli_args(tmp_path, "--skip", "smoke")
    seen: list[str] = []

    def fake(argv: list[str]) -> int:
        seen.append(argv[0])
        return 130 if argv[0] == "contract" else 0

    assert check_cli.run(args, fake) == 130
    assert seen == ["contract"]
