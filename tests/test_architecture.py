"""ARCHITECTURE.md's import rules, enforced: which package may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"contracts", "mocks", "harness", "loadtests", "bench"}
ALLOWED = {
    "contracts": set(),
    "mocks": {"contracts"},
    "harness.client": {"contracts"},
    "harness": {"contracts", "mocks", "harness.client"},
    "loadtests": {"contracts", "mocks", "harness", "harness.client"},
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _layer(module: str) -> str:
    return "harness.client" if module.startswith("harness.client") else module.split(".")[0]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_what_they_may(package: str) -> None:
    folder = ROOT / package.replace(".", "/")
    offences = []
    for path in sorted(folder.rglob("*.py")):
        importer = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if package == "harness" and importer.startswith("harness.client"):
            continue  # judged as its own layer
        for imported in _imports(path):
            layer = _layer(imported)
            if imported.split(".")[0] in OURS and layer not in ALLOWED[package] | {package}:
                offences.append(f"{importer} imports {imported}")
    assert not offences, "\n".join(offences)


def test_the_rule_catches_an_offence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from mocks.server import MockServer\nimport harness.cli\n")
    layers = {_layer(m) for m in _imports(bad)}
    assert not layers <= ALLOWED["contracts"]
    assert "mocks" not in ALLOWED["harness.client"]
