"""The build hook's rewrite (hatch_build.py): what it moves under `api_contract_harness`,
what it leaves alone, and the import it refuses. The whole wheel is exercised in
tests/test_install_isolation.py."""

from __future__ import annotations

import ast
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = frozenset({"harness", "harness.cli", "loadtests", "mocks.server", "mocks"})


@pytest.fixture(scope="module")
def hook() -> Any:
    """hatch_build.py, loaded outside a build (hatchling itself lives in the build env)."""
    stub = types.ModuleType("hatchling.builders.hooks.plugin.interface")
    stub.BuildHookInterface = object  # type: ignore[attr-defined]
    saved = sys.modules.get(stub.__name__)
    sys.modules[stub.__name__] = stub
    try:
        spec = importlib.util.spec_from_file_location("hatch_build", ROOT / "hatch_build.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules[stub.__name__]
        else:
            sys.modules[stub.__name__] = saved
    return module


def test_absolute_imports_move_under_the_package(hook: Any) -> None:
    source = (
        "from mocks.server import MockServer\n"
        "import loadtests\n"
        "import harness.cli as cli\n"
        "def f():\n"
        "    from harness import (\n"
        "        cli,\n"
        "    )\n"
        'x = "é"; from  mocks.server import y\n'
    )
    assert hook.relocate_source(source, MODULES) == (
        "from api_contract_harness.mocks.server import MockServer\n"
        "import api_contract_harness.loadtests as loadtests\n"
        "import api_contract_harness.harness.cli as cli\n"
        "def f():\n"
        "    from api_contract_harness.harness import (\n"
        "        cli,\n"
        "    )\n"
        'x = "é"; from  api_contract_harness.mocks.server import y\n'
    )


def test_other_imports_stay(hook: Any) -> None:
    source = "import os\nfrom .server import x\nfrom mockserver import y\nimport harnesses\n"
    assert hook.relocate_source(source, MODULES) == source


def test_strings_naming_our_modules_move_and_other_strings_stay(hook: Any) -> None:
    source = (
        '"""harness.cli"""\n'
        'COMMANDS = {"mock": ("harness.cli", "help")}\n'
        'argv = [python, "-m", "loadtests", "--users", "loadtests"]\n'
        'prog = "harness"\n'
        'config = "harness.yaml"\n'
        'text = f"harness.cli {x}"\n'
    )
    out = hook.relocate_source(source, MODULES)
    tree = ast.parse(out)
    values = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert "api_contract_harness.harness.cli" in values
    assert [v for v in values if v in ("-m", "--users") or "loadtests" in str(v)] == [
        "-m",
        "api_contract_harness.loadtests",
        "--users",
        "loadtests",
    ]
    assert out.startswith('"""harness.cli"""')
    assert 'prog = "harness"' in out
    assert 'config = "harness.yaml"' in out
    assert 'f"harness.cli {x}"' in out


def test_an_import_whose_binding_would_change_stops_the_build(hook: Any) -> None:
    with pytest.raises(hook.RelocationError, match=r"x\.py:2: `import harness\.cli` binds"):
        hook.relocate_source("import os\nimport harness.cli\n", MODULES, "x.py")


def test_entry_points_point_into_the_package(hook: Any) -> None:
    text = "[console_scripts]\nharness = harness.cli:main\nother = os.path:join\n"
    assert hook.relocate_entry_points(text) == (
        "[console_scripts]\nharness = api_contract_harness.harness.cli:main\nother = os.path:join\n"
    )
