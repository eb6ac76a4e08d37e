"""Terminal output through rich: colour for a terminal only, never with NO_COLOR
(rich reads NO_COLOR, FORCE_COLOR and TERM itself), no wrapping of long lines."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.text import Text

STYLES = {"PASS": "bold green", "FAIL": "bold red", "SKIP": "yellow", "ERROR": "bold red"}


def console(file: TextIO | None = None, *, stderr: bool = False) -> Console:
    """A console on stdout (or `file`), built at each use so that it sees the environment."""
    return Console(file=file, stderr=stderr, soft_wrap=True, highlight=False)


def marked(mark: str, rest: str) -> Text:
    """`mark` coloured by what it says (PASS green, FAIL red, ...), then plain `rest`."""
    return Text.assemble((mark, STYLES.get(mark, "")), rest)
