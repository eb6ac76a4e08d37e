"""Resources a document implies: a collection that creates, and the item that reads,
changes and removes what it created.

`infer_resources(document)` groups operations by path: a POST on `/things`
with GET/PUT/PATCH/DELETE on `/things/{id}` is one resource; the item's path
parameter names the id. Nested collections (`/books/{slug}/reviews`) are
resources too, with the parent's parameters to fill. Actions that are not
CRUD (`POST /books/{slug}/favorite`) belong to none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from contracts.document import Document, Operation

_PARAM = re.compile(r"^\{([^}]+)\}$")


@dataclass(frozen=True)
class ResourceGroup:
    name: str  # the collection's last segment, e.g. "books"
    collection: str  # path template, e.g. /books
    item: str  # e.g. /books/{slug}
    id_param: str  # e.g. slug
    parent_params: tuple[str, ...]  # path parameters of the collection itself
    create: Operation | None
    list: Operation | None
    read: Operation | None
    update: Operation | None
    delete: Operation | None

    @property
    def operations(self) -> tuple[Operation, ...]:
        found = (self.create, self.list, self.read, self.update, self.delete)
        return tuple(op for op in found if op is not None)


def infer_resources(document: Document) -> list[ResourceGroup]:
    by_path: dict[str, dict[str, Operation]] = {}
    for op in document.operations:
        by_path.setdefault(op.path.rstrip("/") or "/", {})[op.method] = op
    groups = []
    for item, methods in by_path.items():
        head, _, last = item.rpartition("/")
        found = _PARAM.match(last)
        if not found or head not in by_path:
            continue
        collection = by_path[head]
        create = collection.get("POST")
        read = methods.get("GET")
        if create is None and read is None:
            continue
        groups.append(
            ResourceGroup(
                name=head.rsplit("/", 1)[-1] or "items",
                collection=head,
                item=item,
                id_param=found.group(1),
                parent_params=tuple(re.findall(r"\{([^}]+)\}", head)),
                create=create,
                list=collection.get("GET"),
                read=read,
                update=methods.get("PUT") or methods.get("PATCH"),
                delete=methods.get("DELETE"),
            )
        )
    return groups


def id_of(created: Any, id_param: str, location: str | None = None) -> str | None:
    """The id a create answered: a member named like the item's path parameter (or `id`),
    at the top or inside one wrapper object; else the last segment of `Location`."""
    names = [id_param]
    bare = re.sub(r"(_id|Id|ID)$", "", id_param)
    if bare != id_param:
        names.append("id")
    names.append("id")
    candidates = [created]
    if isinstance(created, dict):
        candidates += [v for v in created.values() if isinstance(v, dict)]
    for node in candidates:
        if isinstance(node, dict):
            for name in names:
                value = node.get(name)
                if isinstance(value, str | int) and not isinstance(value, bool):
                    return str(value)
    if location:
        segment = location.rstrip("/").rsplit("/", 1)[-1]
        return segment or None
    return None
