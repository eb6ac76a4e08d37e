"""The wheel installed into someone else's project leaves that project's packages alone.

A scratch project with its own `mocks/`, `contracts/` and `harness/` packages and
tests gets the harness wheel in a fresh virtual environment: its tests still import
its own packages, one uses our pytest plugin's `harness_mock` fixture, the run has no
warnings, and the installed `harness` command answers `--version` and serves a mock.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from harness.mock_process import MockProcess

ROOT = Path(__file__).resolve().parents[1]
OURS = ("harness", "mocks", "contracts", "loadtests")

pytestmark = pytest.mark.slow

USER_TESTS = """
import httpx
import contracts
import harness
import mocks


def test_our_packages_are_ours():
    assert mocks.WHO == "user mocks"
    assert contracts.WHO == "user contracts"
    assert harness.WHO == "user harness"


def test_the_plugin_serves_a_mock(harness_mock, harness_faults):
    products = harness_mock.base_url + "/v1/products"
    assert httpx.get(products, timeout=10).status_code == 401
    harness_faults.add("status;status=503", path="/v1/products")
    assert httpx.get(products, timeout=10).status_code == 503
"""


def _uv() -> str:
    # `uv run` names itself in $UV; else PATH, else where `make` installs it.
    found = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed (make installs it into .tools/)")
    return found


def _clean_env() -> dict[str, str]:
    """The environment without this checkout's virtual environment or paths."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))
    )
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [_uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0 and "hatchling" in built.stderr and "offline" in built.stderr.lower():
        pytest.skip(f"the build backend is neither cached nor reachable: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with the wheel installed: from uv's cache if it can, else the index."""
    where = tmp_path_factory.mktemp("venv") / "env"
    uv, env = _uv(), _clean_env()
    subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(where)],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    python = where / "bin" / "python"
    install = [uv, "pip", "install", "--quiet", "--python", str(python), str(wheel)]
    done = subprocess.run(
        [*install, "--offline"], capture_output=True, text=True, env=env, timeout=600
    )
    if done.returncode != 0:  # something is not cached: ask the index
        done = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        pytest.skip(f"cannot install the wheel's dependencies (offline?): {done.stderr[-400:]}")
    return where


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    for package in ("mocks", "contracts", "harness"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f'WHO = "user {package}"\n')
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_theirs.py").write_text(USER_TESTS)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "their-app"\nversion = "1.0"\n\n'
        '[tool.pytest.ini_options]\npythonpath = ["."]\ntestpaths = ["tests"]\n'
    )
    return tmp_path


def test_the_wheel_claims_one_distinctive_import_name(wheel: Path) -> None:
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert not tops & set(OURS)
    assert tops == {"api_contract_harness", "api_contract_harness-0.1.0.dist-info"}


def test_no_module_in_the_wheel_imports_a_generic_top_level_name(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    offences = []
    for name in (n for n in archive.namelist() if n.endswith(".py")):
        for node in ast.walk(ast.parse(archive.read(name), name)):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported = [node.module or ""]
            else:
                continue
            offences += [f"{name}:{node.lineno} {m}" for m in imported if m.split(".")[0] in OURS]
    assert not offences, "\n".join(offences)


def test_the_user_project_tests_pass_with_the_plugin_loaded(venv: Path, user_project: Path) -> None:
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-rA"],
        cwd=user_project,
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=300,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "2 passed" in out, out
    assert "warning" not in out.lower(), out


def test_the_installed_command_answers(venv: Path, tmp_path: Path, user_project: Path) -> None:
    harness = venv / "bin" / "harness"
    version = subprocess.run(
        [str(harness), "--version"],
        cwd=user_project,
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("harness 0.1.0")
    as_module = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "api_contract_harness", "verify", "--help"],
        cwd=user_project,
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
    )
    assert as_module.returncode == 0, as_module.stderr
    assert "usage: harness verify" in as_module.stdout
    mock = MockProcess(log=tmp_path / "mock.log", env=_clean_env())
    mock.argv = [str(harness), *mock.argv[3:]]  # the installed script, not this checkout
    with mock:
        assert httpx.get(f"{mock.base_url}/__harness/health", timeout=10).status_code == 200
