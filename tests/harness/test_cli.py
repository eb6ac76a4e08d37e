"""The `harness` command line: `harness mock` as a real process, bad arguments, and
`harness check`."""

from __future__ import annotations

import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from harness.cli import main
from mocks.store import DEMO_EMAIL, DEMO_PASSWORD

BANNER_END = "Ctrl-C stops the mock."


def _harness_command() -> list[str]:
    script = Path(sys.executable).with_name("harness")
    if script.exists():
        return [str(script)]
    found = shutil.which("harness")
    return [found] if found else [sys.executable, "-m", "harness.cli"]


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """stdout up to the line containing `marker` (the reader keeps draining after)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {marker!r} within {timeout} s: {''.join(seen)}") from None
        if line is None:
            raise AssertionError(f"the mock exited early; it printed: {''.join(seen)}")
        seen.append(line)
        if marker in line:
            return "".join(seen)


def test_harness_mock_serves_until_sigint(tmp_path: Path) -> None:
    command = [*_harness_command(), "mock", "--port", "0", "--api-key", "cli-key"]
    command += ["--access-ttl", "60"]
    with (
        (tmp_path / "stderr.txt").open("w") as stderr,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True) as process,
    ):
        try:
            banner = _read_until(process, BANNER_END, timeout=30)
            found = re.search(r"Mock API\s+(http://127\.0\.0\.1:(\d+))/v1\n", banner)
            assert found, banner
            base_url, port = found.group(1), int(found.group(2))
            assert port > 0
            assert f"Control API   {base_url}/__harness/" in banner
            assert f"{DEMO_EMAIL} / {DEMO_PASSWORD}" in banner
            assert "Access TTL    60 s" in banner
            assert "API key       cli-key" in banner
            health = httpx.get(f"{base_url}/__harness/health", timeout=10)
            assert health.json()["status"] == "ok"
            config = httpx.get(f"{base_url}/__harness/config", timeout=10).json()
            assert (config["api_key"], config["access_ttl_s"]) == ("cli-key", 60)
            refused = httpx.get(f"{base_url}/v1/products", timeout=10)
            assert refused.json()["code"] == "missing_api_key"
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()


def test_a_non_numeric_ttl_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["mock", "--access-ttl", "abc"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --access-ttl: invalid int value: 'abc'" in err
    assert err.startswith("usage: harness mock")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--access-ttl", "0"], "access_ttl_s"),
        (["--refresh-ttl", "-5"], "refresh_ttl_s"),
    ],
)
def test_an_invalid_setting_exits_2_with_the_reason(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["mock", "--port", "0", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness mock: ")
    assert message in err
    assert "greater than 0" in err


def test_a_subcommand_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_harness_check_passes_against_the_embedded_mock(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert re.search(r"mock smoke: (\d+) passed, 0 failed", out)


def test_a_port_in_use_is_reported_plainly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*_harness_command(), "mock", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode != 0
    assert "harness mock:" in done.stderr
    assert str(port) in done.stderr or "in use" in done.stderr
