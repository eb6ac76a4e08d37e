"""Request-body templates and JSON pointers: how the harness speaks any API's auth.

A template is any JSON value whose strings may name fields: `"{email}"` alone
is replaced by the value (keeping its type), `"user-{email}"` inside a longer
string by its text. The same template read backwards tells where a request
carries those fields (`fields_in`), which is how the mock finds the password
in a login body whatever its shape.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Mapping
from typing import Any

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
# Where a token usually is when the configuration does not say (first match wins).
TOKEN_NAMES = ("access_token", "accessToken", "token", "jwt", "id_token", "idToken")
REFRESH_NAMES = ("refresh_token", "refreshToken")
EXPIRES_NAMES = ("expires_in", "expiresIn")


class TemplateError(ValueError):
    """A template names a field nobody gave a value for."""


def render(template: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole:
            return _value(whole.group(1), values)
        return _FIELD.sub(lambda m: str(_value(m.group(1), values)), template)
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    return template


def _value(name: str, values: Mapping[str, Any]) -> Any:
    if name not in values:
        known = ", ".join(sorted(values)) or "none"
        raise TemplateError(f"the template names {{{name}}}, but only these are known: {known}")
    return values[name]


def names_in(template: Any) -> set[str]:
    """The fields a template names."""
    if isinstance(template, str):
        return set(_FIELD.findall(template))
    if isinstance(template, dict):
        return set().union(*(names_in(v) for v in template.values())) if template else set()
    if isinstance(template, list):
        return set().union(*(names_in(v) for v in template)) if template else set()
    return set()


def fields_in(template: Any, body: Any) -> dict[str, Any]:
    """The values a request body holds where the template names fields ("{email}" alone)."""
    found: dict[str, Any] = {}
    if isinstance(template, str):
        whole = _WHOLE.match(template)
        if whole:
            found[whole.group(1)] = body
    elif isinstance(template, dict) and isinstance(body, dict):
        for key, sub in template.items():
            if key in body:
                found |= fields_in(sub, body[key])
    elif isinstance(template, list) and isinstance(body, list):
        for sub, value in zip(template, body, strict=False):
            found |= fields_in(sub, value)
    return found


def get_pointer(document: Any, pointer: str) -> Any:
    """RFC 6901; raises KeyError naming the pointer when it reaches nothing."""
    node = document
    if pointer == "":
        return node
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(pointer)
    return node


def set_pointer(document: Any, pointer: str, value: Any) -> Any:
    """`document` with `value` at `pointer`, creating objects on the way."""
    if pointer == "":
        return value
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    root = document if isinstance(document, dict) else {}
    node = root
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value
    return root


def _pointers(node: Any, here: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict) and depth < 3:
        for key, value in node.items():
            path = f"{here}/{str(key).replace('~', '~0').replace('/', '~1')}"
            yield path, value
            yield from _pointers(value, path, depth + 1)


def find_pointer(document: Any, names: tuple[str, ...]) -> str | None:
    """The shallowest pointer to a string (or number) member named one of `names`."""
    candidates = [
        (path.count("/"), names.index(path.rsplit("/", 1)[-1]), path)
        for path, value in _pointers(document)
        if path.rsplit("/", 1)[-1] in names and isinstance(value, str | int | float)
    ]
    return min(candidates)[2] if candidates else None


def generated_identity(names: set[str]) -> dict[str, str]:
    """Values for a throwaway account: what a register template or schema asks for."""
    tag = secrets.token_hex(6)
    values = {
        "email": f"harness-{tag}@example.com",
        "password": f"Pw-{secrets.token_hex(12)}",
        "username": f"harness{tag}",
        "name": "Harness Contract",
    }
    return {n: values.get(n, f"harness-{n}-{tag}") for n in names} | {
        k: v for k, v in values.items() if k not in names and k in ("email", "password")
    }
