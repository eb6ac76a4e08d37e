"""Build hook: the wheel installs one package, `api_contract_harness`, not four.

The repository keeps its top-level folders (`harness/`, `mocks/`, `contracts/`,
`loadtests/`: they are the architecture), but installed under those generic names
they would shadow a user's own `mocks` or `contracts` package. So the wheel puts
them under `api_contract_harness/` (hatchling's `sources` option) and this hook
then rewrites what names them, parsed with `ast`, never matched as text:

- absolute imports: `from mocks.server import X` -> `from api_contract_harness.mocks.server
  import X`; `import loadtests` -> `import api_contract_harness.loadtests as loadtests`;
- string literals that name one of our modules: `"harness.cli"` (importlib, and
  logger names, which follow the module names), `"-m", "loadtests"` (a subprocess);
- the console script and the pytest11 entry point.

Editable installs (`uv sync`) are left alone: they put the repository on sys.path.
The rewrite happens after hatchling wrote the wheel, as auditwheel and delocate
post-process theirs: every selection rule of hatchling's holds unchanged, and the
RECORD is rebuilt with the new hashes.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import tokenize
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGES = ("harness", "mocks", "contracts", "loadtests")
PREFIX = "api_contract_harness"
ENTRY_POINTS = "entry_points.txt"

TOP_INIT = '''"""api-contract-harness: its packages live here, out of the user's import names.

    from api_contract_harness.harness.control import ControlClient
    python -m api_contract_harness --help      # the `harness` command
"""
'''
TOP_MAIN = """from api_contract_harness.harness.cli import main

raise SystemExit(main())
"""


class RelocationError(ValueError):
    """An import the rewrite cannot keep meaning the same thing; the build stops."""


def _top(name: str) -> str:
    return name.split(".")[0]


def _ours(name: str) -> bool:
    return _top(name) in PACKAGES


def _char_col(lines: list[str], lineno: int, byte_col: int) -> int:
    """ast counts columns in UTF-8 bytes; edits are made on characters."""
    return len(lines[lineno - 1].encode("utf-8")[:byte_col].decode("utf-8"))


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _after_dash_m(node: ast.Constant, parents: dict[ast.AST, ast.AST]) -> bool:
    """`[python, "-m", "loadtests", ...]`: a bare package name run as a module."""
    sequence = parents.get(node)
    if not isinstance(sequence, ast.List | ast.Tuple):
        return False
    index = sequence.elts.index(node)
    before = sequence.elts[index - 1] if index else None
    return isinstance(before, ast.Constant) and before.value == "-m"


def _names_a_module(
    node: ast.Constant, modules: frozenset[str], parents: dict[ast.AST, ast.AST]
) -> bool:
    if not isinstance(node.value, str) or node.value not in modules:
        return False
    parent = parents.get(node)
    if isinstance(parent, ast.JoinedStr | ast.Expr):  # f-string pieces, docstrings
        return False
    return "." in node.value or _after_dash_m(node, parents)


def relocate_source(source: str, modules: frozenset[str], where: str = "<source>") -> str:
    """`source` with every reference to our packages moved under `PREFIX`.

    `modules` are the dotted names of every module and package we ship (such as
    "harness.cli"); only string literals equal to one of them are rewritten.
    """
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    parents = _parents(tree)
    # (line, character column, end line, end column, replacement), 1-based lines.
    edits: list[tuple[int, int, int, int, str]] = []

    def replace(node: ast.AST, text: str) -> None:
        assert node.end_lineno is not None
        assert node.end_col_offset is not None
        start = _char_col(lines, node.lineno, node.col_offset)
        end = _char_col(lines, node.end_lineno, node.end_col_offset)
        edits.append((node.lineno, start, node.end_lineno, end, text))

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _ours(node.module or ""):
            line, col = _module_name_start(lines, node)
            top = _top(node.module or "")
            edits.append((line, col, line, col + len(top), f"{PREFIX}.{top}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if not _ours(alias.name):
                    continue
                if alias.asname is None and "." in alias.name:
                    raise RelocationError(
                        f"{where}:{alias.lineno}: `import {alias.name}` binds `{_top(alias.name)}`,"
                        f" which the installed package cannot keep; write `from "
                        f"{alias.name.rpartition('.')[0]} import {alias.name.rpartition('.')[2]}`"
                    )
                moved = f"{PREFIX}.{alias.name}"
                replace(alias, f"{moved} as {alias.asname or alias.name}")
        elif isinstance(node, ast.Constant) and _names_a_module(node, modules, parents):
            replace(node, repr(f"{PREFIX}.{node.value}"))
    return _apply(lines, edits)


def _module_name_start(lines: list[str], node: ast.ImportFrom) -> tuple[int, int]:
    """Where the module name of `from X import ...` starts (the token after `from`)."""
    assert node.end_lineno is not None
    first = _char_col(lines, node.lineno, node.col_offset)
    text = lines[node.lineno - 1][first:] + "".join(lines[node.lineno : node.end_lineno])
    names = (
        t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.NAME
    )
    keyword, module = next(names), next(names)
    assert keyword.string == "from", keyword
    row, col = module.start
    return node.lineno + row - 1, (first + col if row == 1 else col)


def _apply(lines: list[str], edits: list[tuple[int, int, int, int, str]]) -> str:
    text = list(lines)
    for line, col, end_line, end_col, replacement in sorted(edits, reverse=True):
        head = text[line - 1][:col]
        tail = text[end_line - 1][end_col:]
        text[line - 1 : end_line] = [head + replacement + tail]
    return "".join(text)


def relocate_entry_points(text: str) -> str:
    """`harness = harness.cli:main` -> `harness = api_contract_harness.harness.cli:main`."""
    out = []
    for line in text.splitlines(keepends=True):
        name, equals, reference = line.partition("=")
        if equals and _ours(reference.strip()):
            line = f"{name}= {PREFIX}.{reference.strip()}\n"
        out.append(line)
    return "".join(out)


def module_names(paths: Iterable[str]) -> frozenset[str]:
    """Dotted module names of the `.py` files at these wheel paths, packages included."""
    names: set[str] = set()
    for path in paths:
        parts = Path(path).with_suffix("").parts
        if not path.endswith(".py") or parts[0] not in PACKAGES:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.add(".".join(parts))
    return frozenset(names)


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def relocate_wheel(path: Path) -> None:
    """Rewrite the wheel hatchling wrote, members under `PREFIX/`, in place."""
    with zipfile.ZipFile(path) as original:
        infos = original.infolist()
        contents = {info.filename: original.read(info) for info in infos}
    inside = [name.removeprefix(f"{PREFIX}/") for name in contents if name.startswith(PREFIX)]
    modules = module_names(inside)
    record_name = next(name for name in contents if name.endswith(".dist-info/RECORD"))
    dist_info = record_name.rpartition("/")[0]
    for name, data in list(contents.items()):
        if name.startswith(f"{PREFIX}/") and name.endswith(".py"):
            contents[name] = relocate_source(data.decode("utf-8"), modules, name).encode("utf-8")
        elif name == f"{dist_info}/{ENTRY_POINTS}":
            contents[name] = relocate_entry_points(data.decode("utf-8")).encode("utf-8")
    template = next(info for info in infos if info.filename.startswith(f"{PREFIX}/"))
    added = {  # py.typed: type checkers read the marker of the top-level package (PEP 561)
        f"{PREFIX}/__init__.py": TOP_INIT,
        f"{PREFIX}/__main__.py": TOP_MAIN,
        f"{PREFIX}/py.typed": "",
    }
    new_infos = [info for info in infos if info.filename != record_name]
    for name, text in added.items():
        if name not in contents:
            info = zipfile.ZipInfo(name, date_time=template.date_time)
            info.external_attr, info.compress_type = template.external_attr, template.compress_type
            new_infos.insert(0, info)
            contents[name] = text.encode("utf-8")
    records = [_record_line(info.filename, contents[info.filename]) for info in new_infos]
    record_info = next(info for info in infos if info.filename == record_name)
    contents[record_name] = ("\n".join([*records, f"{record_name},,"]) + "\n").encode("utf-8")
    staged = path.with_suffix(".relocating")
    with zipfile.ZipFile(staged, "w") as wheel:
        for info in [*new_infos, record_info]:
            wheel.writestr(info, contents[info.filename])
    staged.replace(path)


class RelocateHook(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "relocate"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        if self.target_name == "wheel" and version == "standard":
            relocate_wheel(Path(artifact_path))
