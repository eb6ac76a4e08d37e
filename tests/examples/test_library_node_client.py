"""The library's Node.js client (examples/library/client-node/) against the real
server over loopback: its walk-through passes on the correct server and names
the broken promise on each defect it can see."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from examples.library.testing import running_library_server

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH")
DEMO = Path(__file__).resolve().parents[2] / "examples" / "library" / "client-node" / "demo.mjs"


def walk(defects: frozenset[str] = frozenset()) -> tuple[int, list[dict[str, object]]]:
    with running_library_server(defects=defects) as base_url:
        done = subprocess.run(
            [NODE or "node", str(DEMO), base_url],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def test_the_walk_through_passes_on_the_correct_server() -> None:
    code, steps = walk()
    assert code == 0, steps
    assert steps[-1] == {"step": "done", "ok": True}
    borrow = next(s for s in steps if s["step"] == "borrow")
    assert borrow["loan"] == borrow["replayed"]


@pytest.mark.parametrize(
    ("defect", "promise"),
    [
        ("cursor-repeats", "pages never repeat a book"),
        ("count-per-page", "books_count is the number of books on every page"),
        ("ignore-idempotency-key", "a retry with the same key is no new loan"),
        ("naive-datetime", "createdAt carries an offset"),
        ("no-location", "Location names the new book"),
    ],
)
def test_the_walk_through_names_the_broken_promise(defect: str, promise: str) -> None:
    code, steps = walk(frozenset({defect}))
    assert code == 1, steps
    assert steps[-1]["step"] == "broken promise"
    assert str(steps[-1]["promise"]).startswith(promise)
