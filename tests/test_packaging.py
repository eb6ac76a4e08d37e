"""The wheel as users install it: typed packages, the licence, project URLs, valid
classifiers (hatchling refuses unknown ones), the `harness` script and the plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "mocks", "contracts", "loadtests")


def _uv() -> str:
    # `uv run` names itself in $UV; else PATH, else where `make` installs it.
    found = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.skip("uv is not installed (make installs it into .tools/)")
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [_uv(), "build", "--wheel", "--out-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("*.whl")
    return zipfile.ZipFile(path)


def _dist_file(wheel: zipfile.ZipFile, name: str) -> str:
    (member,) = [
        n for n in wheel.namelist() if n.split("/")[0].endswith(".dist-info") and n.endswith(name)
    ]
    return wheel.read(member).decode()


def test_every_package_is_marked_typed(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    typed = {f"api_contract_harness/{package}/py.typed" for package in ("", *PACKAGES)}
    assert {name.replace("//", "/") for name in typed} <= names


def test_the_metadata_names_licence_urls_and_classifiers(wheel: zipfile.ZipFile) -> None:
    metadata = Parser().parsestr(_dist_file(wheel, "METADATA"))
    assert metadata["License-Expression"] == "MIT"
    assert "MIT License" in _dist_file(wheel, "licenses/LICENSE")
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Repository", "Issues", "Changelog"} <= set(urls)
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.12" in classifiers


def test_the_core_install_leaves_the_contract_suite_and_locust_to_extras(
    wheel: zipfile.ZipFile,
) -> None:
    metadata = Parser().parsestr(_dist_file(wheel, "METADATA"))
    requires = [r.replace('"', "'") for r in metadata.get_all("Requires-Dist") or []]
    core = [r for r in requires if "extra ==" not in r]
    assert not [r for r in core if r.startswith(("schemathesis", "locust"))]
    assert any(r.startswith("schemathesis") and "extra == 'contract'" in r for r in requires)
    assert any(r.startswith("locust") and "extra == 'load'" in r for r in requires)
    assert set(metadata.get_all("Provides-Extra") or []) == {"contract", "load", "all"}


def test_the_script_and_the_pytest_plugin_are_registered(wheel: zipfile.ZipFile) -> None:
    entry_points = _dist_file(wheel, "entry_points.txt")
    assert "harness = api_contract_harness.harness.cli:main" in entry_points
    assert "api_harness = api_contract_harness.harness.pytest_plugin" in entry_points
