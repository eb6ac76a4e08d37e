"""Resources inferred from a document: which operations create, list, read,
update and delete which items, and where the item sits in their bodies.

A path `C/{p}` whose parent `C` is also a path makes a resource: POST on `C`
creates, GET on `C` lists, GET/PUT/PATCH/DELETE on `C/{p}` read, change and
remove. The item's schema is the item GET's answer, unwrapped when the answer
is a one-property envelope (`{"book": {...}}`). The id field is the
configuration's, else the path parameter if the item has it (`slug`), else
`id` (`bookId` -> `id`), else a property ending in `id`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from mocks.spec_api import OperationPlan, SpecApi
from mocks.spec_data import merge_all_of
from mocks.spec_schemas import Compiled

PAGE_LIMIT = (
    "limit",
    "per_page",
    "perpage",
    "page_size",
    "pagesize",
    "size",
    "count",
    "max",
    "take",
    "first",
)
PAGE_OFFSET = ("offset", "skip", "start")
PAGE_NUMBER = ("page", "page_number", "pagenumber", "pageindex")
PAGE_CURSOR = (
    "cursor",
    "after",
    "page_token",
    "pagetoken",
    "next",
    "starting_after",
    "next_token",
    "continuation",
)
DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


def _norm(name: str) -> str:
    return name.replace("-", "_").lower()


@dataclass
class ListShape:
    """Where a listing's items, counts and next cursor go in its answer."""

    array_at: str | None  # property of the envelope holding items; None: the body is the array
    element: Compiled | None  # the schema of one listed element
    element_template: Any
    counts: tuple[str, ...] = ()
    cursors: tuple[str, ...] = ()


@dataclass
class Resource:
    name: str
    collection: str  # path templates
    item: str
    param: str
    parents: tuple[str, ...]  # path parameters of the collection (nested resources)
    id_field: str | None
    id_kind: str  # integer, uuid, string
    schema: Compiled  # one item
    wrapper: str | None
    templates: list[dict[str, Any]]  # valid fresh items, cycled through on create
    seeded: list[dict[str, Any]] = field(default_factory=list)
    list_shapes: dict[str, ListShape] = field(default_factory=dict)  # by operation id
    key_schema: Compiled | None = None  # the item path parameter's schema: ids must fit it
    seed_owner: str | None = None  # the account that owns the seeded items (`ownership`)

    def fresh(self, n: int) -> dict[str, Any]:
        return copy.deepcopy(self.templates[n % len(self.templates)]) if self.templates else {}

    @property
    def singular(self) -> str:
        """One item's name, for error codes (`products` -> `product_not_found`)."""
        name = re.sub(r"[^A-Za-z0-9]+", "_", self.name).strip("_").lower() or "item"
        if name.endswith("ies") and len(name) > 4:
            return name[:-3] + "y"
        if name.endswith("s") and not name.endswith("ss") and len(name) > 2:
            return name[:-1]
        return name

    def key_is_valid(self, key: str) -> bool:
        """Whether `key` can be sent back in the item's path (its parameter's schema)."""
        if self.key_schema is None:
            return True
        value: Any = int(key) if self.id_kind == "integer" and key.lstrip("-").isdigit() else key
        return self.key_schema.is_valid(value)

    @property
    def key_max_length(self) -> int | None:
        schema = self.key_schema.schema if self.key_schema is not None else None
        found = schema.get("maxLength") if isinstance(schema, dict) else None
        return found if isinstance(found, int) else None


@dataclass(frozen=True)
class Binding:
    resource: Resource
    action: str  # create, list, read, update, delete, action (on one item)


def _unwrap(schema: Any) -> tuple[Any, str | None]:
    if not isinstance(schema, dict):
        return schema, None
    props = schema.get("properties")
    if isinstance(props, dict) and len(props) == 1:
        ((key, inner),) = props.items()
        if isinstance(inner, dict) and (inner.get("type") == "object" or "properties" in inner):
            return inner, key
    return schema, None


def _id_field(schema: Any, param: str, configured: str | None) -> str | None:
    if configured:
        return configured
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    if param in props:
        return param
    for candidate in ("id", re.sub(r"(_id|Id|ID)$", "", param) + "_id", "uuid", "key"):
        if candidate in props:
            return candidate
    return next((p for p in props if p.lower().endswith("id")), None)


def _id_kind(schema: Any, id_field: str | None) -> str:
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    prop = props.get(id_field or "", {}) if isinstance(props, dict) else {}
    kind = prop.get("type") if isinstance(prop, dict) else None
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind in ("integer", "number"):
        return "integer"
    if isinstance(prop, dict) and prop.get("format") == "uuid":
        return "uuid"
    return "string"


def infer_resources(api: SpecApi) -> list[Resource]:
    """Resources of the document, with seeded items; binds their plans in place."""
    by_path: dict[str, dict[str, OperationPlan]] = {}
    for plan in api.plans.values():
        by_path.setdefault(plan.op.path, {})[plan.op.method] = plan
    resources = []
    for item_path, item_ops in by_path.items():
        found = re.fullmatch(r"(.*)/\{([^}/]+)\}/?", item_path)
        if not found or found.group(1) not in by_path:
            continue
        collection, param = found.groups()
        coll_ops = by_path[collection]
        source = item_ops.get("GET") or coll_ops.get("POST") or item_ops.get("PUT")
        if source is None or source.success.schema is None:
            continue
        resource = _resource(api, collection, item_path, param, source)
        if resource is None:
            continue
        actions = {
            (collection, "POST"): "create",
            (collection, "GET"): "list",
            (item_path, "GET"): "read",
            (item_path, "PUT"): "update",
            (item_path, "PATCH"): "update",
            (item_path, "DELETE"): "delete",
        }
        for (path, method), action in actions.items():
            bound = by_path[path].get(method)
            if bound is not None and bound.resource is None:
                bound.resource = Binding(resource, action)
                if action == "list":
                    resource.list_shapes[bound.op.operation_id] = _list_shape(api, bound)
        resources.append(resource)
    _bind_actions(by_path, resources)
    return resources


def _bind_actions(by_path: dict[str, dict[str, OperationPlan]], resources: list[Resource]) -> None:
    """`C/{p}/verb` paths that no resource owns (`/books/{slug}/favorite`): actions on
    the item of `C/{p}`, answered by `Resources` with their effect applied."""
    by_item = {r.item.rstrip("/"): r for r in resources}
    for path, ops in by_path.items():
        found = re.fullmatch(r"(.*\})/([^{}/]+)/?", path)
        if not found or found.group(1) not in by_item:
            continue
        for method, plan in ops.items():
            if plan.resource is None and method in ("POST", "PUT", "PATCH", "DELETE"):
                plan.resource = Binding(by_item[found.group(1)], "action")


def _resource(
    api: SpecApi, collection: str, item_path: str, param: str, source: OperationPlan
) -> Resource | None:
    assert source.success.schema is not None
    whole = merge_all_of(source.success.schema.schema)  # allOf compositions, flattened
    schema, wrapper = _unwrap(whole)
    if not isinstance(schema, dict):
        return None
    name = collection.rstrip("/").rsplit("/", 1)[-1] or "items"
    settings = api.config.mock.resources.get(name) or api.config.mock.resources.get(collection)
    id_field = _id_field(schema, param, settings.id_field if settings else None)
    compiled = api.compiler.compile(schema, "response")
    item_plan = next((p for p in api.plans.values() if p.op.path == item_path), None)
    checks = item_plan.parameters if item_plan else []
    key_check = next(
        (c.compiled for c in checks if (c.parameter.name, c.parameter.location) == (param, "path")),
        None,
    )
    count = api.config.mock.items_per_resource
    if settings is not None and settings.seed_items is not None:
        count = settings.seed_items
    parents = tuple(re.findall(r"\{([^}]+)\}", collection))
    values = [v for v in api.data.values(compiled, count + 8) if isinstance(v, dict)]
    resource = Resource(
        name=name,
        collection=collection,
        item=item_path,
        param=param,
        parents=parents,
        id_field=id_field,
        id_kind=_id_kind(schema, id_field),
        schema=compiled,
        wrapper=wrapper,
        templates=values[count:] or values[:1],
        key_schema=key_check,
        seed_owner=settings.seed_owner if settings else None,
    )
    seeded = [] if parents else values[:count]
    if id_field is not None:
        seen: set[str] = set()
        renumber = resource.id_kind == "integer" or "slug" in id_field.lower()
        for index, item in enumerate(seeded):
            if id_field not in item or renumber or not _URL_SAFE.fullmatch(str(item[id_field])):
                item[id_field] = new_id(resource, index + 1, item)
            if str(item[id_field]) in seen:
                item[id_field] = new_id(resource, index + 1, item, retry=True)
            seen.add(str(item[id_field]))
    resource.seeded = seeded
    return resource


# An id a client can put in a path as it is (RFC 3986 unreserved characters); a
# generated one with spaces or punctuation is renumbered (`products-7`).
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")


def new_id(resource: Resource, serial: int, item: dict[str, Any], *, retry: bool = False) -> Any:
    """A fresh id for the `serial`th item, of the id's type, valid if the schema allows
    (a slug from the title; `retry`: that one was taken, so with the serial)."""
    if resource.id_kind == "integer":
        return serial
    if resource.id_kind == "uuid":
        import uuid

        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource.collection}/{serial}"))
    previous = item.get(resource.id_field or "")
    plain = f"{resource.name}-{serial}"
    candidate = plain
    title = item.get("title") or item.get("name")
    if "slug" in (resource.id_field or "").lower() and isinstance(title, str):
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        if slug:
            # Cut to what the item's path parameter accepts (a 200-character title
            # must still give a slug its reads can send back).
            room = resource.key_max_length
            suffix = f"-{serial}" if retry else ""
            if room is not None:
                slug = slug[: max(1, room - len(suffix))].rstrip("-") or slug[:1]
            candidate = slug + suffix
    if not resource.key_is_valid(candidate):
        candidate = plain
    if resource.id_field:
        trial = dict(item, **{resource.id_field: candidate})
        if resource.schema.is_valid(trial) or not isinstance(previous, str):
            return candidate
        fallback = f"{previous}{serial}"
        return fallback if resource.key_is_valid(fallback) else candidate
    return candidate


def _list_shape(api: SpecApi, plan: OperationPlan) -> ListShape:
    schema = merge_all_of(plan.success.schema.schema) if plan.success.schema else {}
    if (isinstance(schema, dict) and schema.get("type") == "array") or "items" in (schema or {}):
        element = schema.get("items") or {}
        compiled = api.compiler.compile(element, "response")
        template = api.data.example(compiled, [])
        return ListShape(None, compiled, template)
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    array_at = next(
        (
            k
            for k, v in props.items()
            if isinstance(v, dict) and (v.get("type") == "array" or "items" in v)
        ),
        None,
    )
    if array_at is None:
        return ListShape(None, None, None)
    compiled = api.compiler.compile(props[array_at].get("items") or {}, "response")
    counts = tuple(
        k
        for k, v in props.items()
        if isinstance(v, dict) and v.get("type") == "integer" and re.search(r"count|total", k, re.I)
    )
    cursors = tuple(
        k
        for k, v in props.items()
        if k != array_at and re.search(r"cursor|next|token", k, re.I) and isinstance(v, dict)
    )
    return ListShape(array_at, compiled, api.data.example(compiled, []), counts, cursors)
