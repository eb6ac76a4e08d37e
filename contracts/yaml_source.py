"""Where in a YAML file a validation error points, for messages that name the line."""

from __future__ import annotations

from typing import Any

import yaml


def dotted(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as `a.b.0.c`."""
    return ".".join(str(p) for p in loc) or "(top)"


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The line of the deepest YAML node the error location reaches."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            continue  # e.g. a union tag pydantic adds to the location
        node = child
        line = node.start_mark.line + 1
    return line
