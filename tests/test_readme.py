"""Every shell command the README and docs/ show works when copied.

Commands run in the environment the README's first step puts on PATH (the one
running these tests). Quick ones run for real: `harness mock` commands start
the mock (on a free loopback port) and must print their banner, the fault and
scenario commands run against a live mock, `--version`, mitmdump and mitmweb run. Long
runs (contract, verify, load, check) are parsed by the real `harness` parser,
and every program, module and file a command names must exist.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mock_testkit import read_until

from harness.cli import parse_args
from mocks.server import MockServer

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(?:sh|bash|shell|console)\n(.*?)^```", re.S | re.M)
_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass(frozen=True)
class Command:
    source: str  # file:line
    env: dict[str, str]
    argv: list[str]

    def __str__(self) -> str:
        return f"{self.source}: {shlex.join(self.argv)}"


def shell_commands(path: Path) -> Iterator[Command]:
    text = path.read_text()
    for block in _BLOCK.finditer(text):
        first_line = text[: block.start(1)].count("\n") + 1
        pending, start = "", first_line
        for number, line in enumerate(block.group(1).split("\n"), first_line):
            if not pending:
                start = number
            if line.rstrip().endswith("\\"):  # continued on the next line
                pending += line.rstrip()[:-1] + " "
                continue
            words = shlex.split(pending + line, comments=True)
            pending = ""
            env: dict[str, str] = {}
            while words and _ASSIGNMENT.match(words[0]):
                name, _, value = words.pop(0).partition("=")
                env[name] = value
            if words:
                yield Command(f"{path.relative_to(ROOT)}:{start}", env, words)


def _all_commands() -> list[Command]:
    return [command for path in DOCUMENTS for command in shell_commands(path)]


COMMANDS = _all_commands()


def _distinct(commands: list[Command]) -> list[Command]:
    """The first of each command shown in several places (README and docs/ repeat some)."""
    seen: dict[tuple[object, ...], Command] = {}
    for command in commands:
        seen.setdefault((*sorted(command.env.items()), *command.argv), command)
    return list(seen.values())


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    # The README's `. .venv/bin/activate`: this environment's scripts first on PATH.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, **(extra or {})}


def _program(name: str) -> str | None:
    return shutil.which(name, path=_environment()["PATH"])


def _parses(argv: list[str]) -> None:
    try:
        parse_args(argv)
    except SystemExit as exited:
        if exited.code not in (0, None):
            raise AssertionError(f"`harness {shlex.join(argv)}` does not parse") from None


def _loopback(argv: list[str]) -> list[str]:
    """A mock command on a free loopback port, whatever address and port it shows."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--port", "--host", "--web-port"):
            skip = True
        else:
            out.append(arg)
    web = ["--web-port", "0"] if "--web" in out else []  # the UI on a free port too
    return [*out, "--host", "127.0.0.1", "--port", "0", *web]


def _run(argv: list[str], env: dict[str, str], timeout: float = 60, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _serves_until_sigint(argv: list[str], env: dict[str, str], marker: str) -> str:
    with subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            banner = read_until(process, marker, timeout=60)
            process.send_signal(signal.SIGINT)
            process.wait(timeout=20)
            return banner
        finally:
            if process.poll() is None:
                process.kill()


def test_the_docs_show_commands() -> None:
    programs = {command.argv[0] for command in COMMANDS}
    assert {"make", ".", "harness", "python", "mitmdump", "locust"} <= programs
    assert len(COMMANDS) > 30


def test_the_readme_puts_the_environment_on_path_before_any_harness_command() -> None:
    readme = [c for c in COMMANDS if c.source.startswith("README.md")]
    first_harness = next(i for i, c in enumerate(readme) if c.argv[0] == "harness")
    assert any(c.argv[:2] == [".", ".venv/bin/activate"] for c in readme[:first_harness])


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_every_program_exists_and_every_harness_command_parses(command: Command) -> None:
    program, *args = command.argv
    if program == ".":
        assert args == [".venv/bin/activate"]
        assert Path(sys.executable).with_name("activate").exists()
        return
    assert _program(program), f"{program} is not on PATH after the README's first step"
    if program == "harness":
        _parses(args)
    elif program == "python":
        if args[0] == "-m":
            assert importlib.util.find_spec(args[1]), f"no module {args[1]}"
        else:
            assert args[0] == "-c"
            compile(args[1], command.source, "exec")
    elif program == "make":
        _run(["make", "-n", *args], _environment())
    for arg in args:
        for found in re.finditer(r"(?:^|[\s\"'])((?:mocks|loadtests|adapters)/[\w./-]+)", arg):
            assert (ROOT / found.group(1)).exists(), f"{found.group(1)} does not exist"


MOCK_COMMANDS = _distinct([c for c in COMMANDS if c.argv[:2] == ["harness", "mock"]])


@pytest.mark.parametrize("command", MOCK_COMMANDS, ids=str)
def test_every_mock_command_starts_the_mock(command: Command) -> None:
    argv = _loopback(command.argv)
    banner = _serves_until_sigint(argv, _environment(command.env), "Ctrl-C stops the mock.")
    assert "Control API" in banner


def test_the_commands_for_a_running_mock_work_on_one(tmp_path: Path) -> None:
    on_a_mock = (["harness", "fault"], ["harness", "scenario"], ["harness", "journal"])
    commands = _distinct([c for c in COMMANDS if c.argv[:2] in on_a_mock])
    assert len(commands) >= 8
    with MockServer() as mock:
        env = _environment({"HARNESS_URL": mock.base_url})
        for command in commands:  # in the order shown; files they write land in tmp_path
            _run([*command.argv], {**env, **command.env}, cwd=tmp_path)


@pytest.mark.parametrize(
    "command", [c for c in COMMANDS if c.argv[1:] in (["--version"], ["--help"])], ids=str
)
def test_quick_harness_commands_run(command: Command) -> None:
    assert _run(command.argv, _environment(command.env))


@pytest.mark.parametrize(
    "command", _distinct([c for c in COMMANDS if c.argv[0] == "mitmdump"]), ids=str
)
def test_the_mitmdump_command_serves_the_mock(command: Command) -> None:
    argv = [*command.argv, "--listen-host", "127.0.0.1", "--listen-port", "0"]
    banner = _serves_until_sigint(argv, _environment(command.env), "listening at")
    assert "Loading script" in banner


@pytest.mark.parametrize(
    "command", _distinct([c for c in COMMANDS if c.argv[0] == "mitmweb"]), ids=str
)
def test_the_mitmweb_command_serves_the_mock(command: Command) -> None:
    argv = [*command.argv, "--listen-port", "0", "--set", "web_port=0"]
    banner = _serves_until_sigint(argv, _environment(command.env), "Web server listening at")
    assert "Loading script" in banner


# locust's own parser after loading the command's locustfile, which adds its options.
_LOCUST_PARSES = """
import sys
from locust import argument_parser
from locust.util.load_locustfile import load_locustfile
args = sys.argv[1:]
load_locustfile(args[args.index("-f") + 1])
argument_parser.get_parser(default_config_files=[]).parse_args(args)
"""


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.argv[0] == "locust"], ids=str)
def test_the_locust_commands_parse_with_their_locustfile(command: Command) -> None:
    env = _environment({**command.env, "LOCUST_SKIP_MONKEY_PATCH": "1"})
    _run([sys.executable, "-c", _LOCUST_PARSES, *command.argv[1:]], env, timeout=120)
