"""Colour as command-line users expect: on a terminal only, never with NO_COLOR."""

from __future__ import annotations

import io

import pytest

from harness.console import console, marked

RED = "\x1b[1;31m"


def _printed(mark: str) -> str:
    out = io.StringIO()
    console(out).print(marked(mark, "  a line that is long enough to wrap " * 4))
    return out.getvalue()


def test_no_colour_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    text = _printed("FAIL")
    assert "\x1b[" not in text
    assert text.count("\n") == 1  # long lines are not wrapped for pipes either


def test_colour_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert _printed("FAIL").startswith(f"{RED}FAIL")
    assert "\x1b[1;32mPASS" in _printed("PASS")


def test_no_colour_with_no_color_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    text = _printed("FAIL")
    assert RED not in text
    assert "31m" not in text
