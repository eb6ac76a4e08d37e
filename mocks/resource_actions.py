"""What an action on an item does to it, read from the names the document uses.

`POST /books/{slug}/favorite` and `DELETE` on the same path are actions on the
book. The document states their effect in the item's fields; the mock applies
the ones it can name from the action's last path segment (its verb):

- a boolean field named after the verb (`favorite` -> `favorited`, `favorite`,
  `isFavorite`): POST/PUT/PATCH set it, DELETE clears it;
- a count field named after it (`favoritesCount`, `favorite_count`): one more
  when that boolean turns on, one less when it turns off;
- a string field whose enum has a value named after the verb (`return` ->
  `status: returned`, `publish` -> `published`): set to that value.

Each change is kept only if the item stays valid. An action whose verb names
nothing in the item changes nothing, and still answers the item.
"""

from __future__ import annotations

import re
from typing import Any

from mocks.resource_model import Resource
from mocks.resource_pages import props


def _stem(word: str) -> str:
    word = re.sub(r"[^a-z0-9]", "", word.lower())
    for ending in ("ing", "ed", "es", "e", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def apply_action(r: Resource, item: dict[str, Any], path: str, method: str) -> bool:
    """Apply the action's effect to `item` in place; whether anything changed."""
    verb = path.rstrip("/").rsplit("/", 1)[-1]
    stem = _stem(verb)
    if not stem or "{" in verb:
        return False
    on = method.upper() != "DELETE"
    changed = False
    fields = props(r)
    flag = _flag_field(fields, stem)
    if flag is not None:
        before = item.get(flag)
        if before is not on and _try(r, item, flag, on):
            changed = True
            counter = _count_field(fields, stem)
            if counter is not None and isinstance(item.get(counter), int):
                step = 1 if on else (-1 if before is True else 0)
                _try(r, item, counter, max(0, item[counter] + step))
    for name, prop in fields.items():
        if not isinstance(prop, dict) or prop.get("type") != "string" or name == flag:
            continue
        value = next(
            (v for v in prop.get("enum") or () if isinstance(v, str) and _stem(v) == stem), None
        )
        if on and value is not None and item.get(name) != value and _try(r, item, name, value):
            changed = True
    return changed


def _flag_field(fields: dict[str, Any], stem: str) -> str | None:
    for name, prop in fields.items():
        if not _is_boolean(prop):
            continue
        words = [w for w in _words(name) if w not in ("is", "has")]
        if len(words) == 1 and _stem(words[0]) == stem:
            return name
    return None


def _is_boolean(prop: Any) -> bool:
    """`type: boolean`, or the enum of both values the schema compiler makes of it."""
    if not isinstance(prop, dict):
        return False
    enum = prop.get("enum")
    both = isinstance(enum, list) and {type(v) for v in enum} == {bool}
    return prop.get("type") == "boolean" or both


def _count_field(fields: dict[str, Any], stem: str) -> str | None:
    for name, prop in fields.items():
        if not isinstance(prop, dict) or prop.get("type") != "integer":
            continue
        words = _words(name)
        if len(words) == 2 and _stem(words[0]) == stem and words[1] in ("count", "total"):
            return name
    return None


def _try(r: Resource, item: dict[str, Any], name: str, value: Any) -> bool:
    before = item.get(name, _ABSENT)
    item[name] = value
    if r.schema.is_valid(item):
        return True
    if before is _ABSENT:
        del item[name]
    else:
        item[name] = before
    return False


_ABSENT = object()
