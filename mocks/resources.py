"""Stateful resources for any document: created items read back, updates
persist, deletes answer 404 afterwards (where the operation declares a 404;
where it declares none, an unknown id reads as a generated item, as a
stateless mock would, so the answer stays within the document).

Items live in `ResourceStore` (one dict per resource and parent, seeded at
startup and on reset); the `Resources` addon answers the bound operations.
Listings page as the operation's parameters say (limit/offset, page numbers
or cursors), fill count fields, and next cursors.
"""

from __future__ import annotations

import base64
import copy
from typing import Any
from urllib.parse import parse_qsl

from mitmproxy import http

from mocks.clock import VirtualClock
from mocks.notes import RequestNote, note
from mocks.resource_model import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PAGE_CURSOR,
    PAGE_LIMIT,
    PAGE_NUMBER,
    PAGE_OFFSET,
    Binding,
    Resource,
    _norm,
    new_id,
)
from mocks.spec_answers import fit, location_header, respond
from mocks.spec_api import OperationPlan, SpecApi
from mocks.spec_routes import BODY_KEY, error_response, plan_of


class ResourceStore:
    def __init__(self, resources: list[Resource], clock: VirtualClock) -> None:
        self.resources = resources
        self._clock = clock
        self.reset()

    def reset(self) -> None:
        self.generation = getattr(self, "generation", 0) + 1  # bumped by every write
        self.items: dict[tuple[str, tuple[str, ...]], dict[str, dict[str, Any]]] = {}
        self.serials: dict[str, int] = {}
        for r in self.resources:
            bucket = self.items.setdefault((r.collection, ()), {})
            for index, item in enumerate(r.seeded):
                key = str(item[r.id_field]) if r.id_field else str(index + 1)
                bucket[key] = copy.deepcopy(item)
            self.serials[r.collection] = len(r.seeded)

    def bucket(self, r: Resource, params: dict[str, str]) -> dict[str, dict[str, Any]]:
        parents = tuple(params.get(p, "") for p in r.parents)
        return self.items.setdefault((r.collection, parents), {})

    def changed(self) -> None:
        self.generation += 1

    def next_serial(self, r: Resource) -> int:
        self.serials[r.collection] = self.serials.get(r.collection, 0) + 1
        return self.serials[r.collection]

    def now_iso(self) -> str:
        return self._clock.now_datetime().isoformat().replace("+00:00", "Z")


def _fields(r: Resource, body: Any) -> dict[str, Any]:
    """The item fields a request body carries (unwrapped from `{"book": {...}}`)."""
    if not isinstance(body, dict):
        return {}
    if len(body) == 1:
        ((key, inner),) = body.items()
        if isinstance(inner, dict) and (key == r.wrapper or key not in _props(r)):
            return inner
    return body


def _props(r: Resource) -> dict[str, Any]:
    schema = r.schema.schema
    return schema.get("properties", {}) if isinstance(schema, dict) else {}


def _overlay(r: Resource, item: dict[str, Any], fields: dict[str, Any]) -> None:
    """Each sent field the item's schema knows, kept only if the item stays valid."""
    props = _props(r)
    for key, value in fields.items():
        if key not in props or key == r.id_field:
            continue
        before = item.get(key, _ABSENT)
        item[key] = value
        if not r.schema.is_valid(item):
            if before is _ABSENT:
                del item[key]
            else:
                item[key] = before


_ABSENT = object()


def _stamp(r: Resource, item: dict[str, Any], now: str, *, created: bool) -> None:
    for key, prop in _props(r).items():
        if not isinstance(prop, dict) or prop.get("format") != "date-time":
            continue
        lowered = key.lower()
        if (
            lowered.startswith("updated")
            or lowered.startswith("modified")
            or (created and lowered.startswith("created"))
        ):
            before = item.get(key, _ABSENT)
            item[key] = now
            if not r.schema.is_valid(item):
                item[key] = before if before is not _ABSENT else item.pop(key)


class Resources:
    def __init__(self, api: SpecApi, store: ResourceStore) -> None:
        self._api = api
        self._store = store
        # Reads between writes answer the same bytes: fitted and encoded once.
        self._reads: dict[tuple[str, str], tuple[int, int, bytes, dict[str, str]]] = {}

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        plan = plan_of(flow)
        if plan is None or plan.resource is None:
            return
        binding: Binding = plan.resource
        n = note(flow)
        if binding.action == "read":
            flow.response = self._cached_read(flow, plan, binding.resource, n)
            return
        handler = getattr(self, "_" + binding.action)
        flow.response = handler(flow, plan, binding.resource, n)
        if binding.action != "list":
            self._store.changed()

    def _cached_read(
        self, flow: http.HTTPFlow, plan: OperationPlan, r: Resource, n: RequestNote
    ) -> http.Response:
        key = (plan.op.operation_id, flow.request.path)
        cached = self._reads.get(key)
        if cached is not None and cached[0] == self._store.generation:
            return http.Response.make(cached[1], cached[2], cached[3])
        response = self._read(flow, plan, r, n)
        if len(self._reads) > 4096:
            self._reads.clear()
        if response.status_code < 300:  # a 404 is journaled with its effect each time
            headers = {k: v for k, v in response.headers.items() if k != "content-length"}
            entry = (self._store.generation, response.status_code, response.content or b"", headers)
            self._reads[key] = entry
        return response

    # --- one item ------------------------------------------------------------------

    def _answer_item(
        self, plan: OperationPlan, r: Resource, item: dict[str, Any], path: str
    ) -> http.Response:
        answer = plan.success
        if answer.media_type is None:
            return respond(answer, headers=location_header(plan, answer, path))
        body = fit(answer.body, item, answer.schema, r.wrapper)
        return respond(answer, body, location_header(plan, answer, path))

    def _missing(
        self, plan: OperationPlan, r: Resource, n: RequestNote, key: str
    ) -> http.Response | None:
        """404 where declared; where not, None (the caller answers a generated item)."""
        declared = plan.op.response(404)
        if declared is None:
            return None
        n.effect = {"kind": "not_found", "resource": r.name, "id": key}
        return error_response(self._api.error(plan, (404,)), "not_found", f"No {r.name} {key!r}.")

    def _lookup(self, r: Resource, n: RequestNote) -> tuple[dict[str, dict[str, Any]], str]:
        return self._store.bucket(r, n.params), n.params.get(r.param, "")

    def _stand_in(self, r: Resource, key: str) -> dict[str, Any]:
        item = r.fresh(len(key))
        if r.id_field is not None:
            trial = dict(item, **{r.id_field: _typed(r, key)})
            if r.schema.is_valid(trial):
                return trial
        return item

    def _read(
        self, flow: http.HTTPFlow, plan: OperationPlan, r: Resource, n: RequestNote
    ) -> http.Response:
        bucket, key = self._lookup(r, n)
        item = bucket.get(key)
        if item is None:
            return self._missing(plan, r, n, key) or self._answer_item(
                plan, r, self._stand_in(r, key), flow.request.path
            )
        return self._answer_item(plan, r, item, flow.request.path)

    def _create(
        self, flow: http.HTTPFlow, plan: OperationPlan, r: Resource, n: RequestNote
    ) -> http.Response:
        bucket = self._store.bucket(r, n.params)
        serial = self._store.next_serial(r)
        item = r.fresh(serial)
        fields = _fields(r, flow.metadata.get(BODY_KEY))
        _overlay(r, item, fields)
        if r.id_field is not None:
            sent = fields.get(r.id_field)
            trial = dict(item, **{r.id_field: sent})
            if sent is not None and str(sent) not in bucket and r.schema.is_valid(trial):
                item = trial
            else:
                item[r.id_field] = new_id(r, serial, item)
                while str(item[r.id_field]) in bucket:
                    serial = self._store.next_serial(r)
                    item[r.id_field] = new_id(r, serial, item, retry=True)
        _stamp(r, item, self._store.now_iso(), created=True)
        key = str(item[r.id_field]) if r.id_field else str(serial)
        bucket[key] = item
        n.effect = {"kind": "created", "resource": r.name, "id": key}
        base = flow.request.path.partition("?")[0].rstrip("/")
        return self._answer_item(plan, r, item, f"{base}/{key}")

    def _update(
        self, flow: http.HTTPFlow, plan: OperationPlan, r: Resource, n: RequestNote
    ) -> http.Response:
        bucket, key = self._lookup(r, n)
        item = bucket.get(key)
        if item is None:
            missing = self._missing(plan, r, n, key)
            if missing is not None:
                return missing
            item = bucket[key] = self._stand_in(r, key)
        _overlay(r, item, _fields(r, flow.metadata.get(BODY_KEY)))
        _stamp(r, item, self._store.now_iso(), created=False)
        n.effect = {"kind": "updated", "resource": r.name, "id": key}
        return self._answer_item(plan, r, item, flow.request.path)

    def _delete(
        self, flow: http.HTTPFlow, plan: OperationPlan, r: Resource, n: RequestNote
    ) -> http.Response:
        bucket, key = self._lookup(r, n)
        item = bucket.pop(key, None)
        if item is None:
            missing = self._missing(plan, r, n, key)
            if missing is not None:
                return missing
            item = self._stand_in(r, key)
        n.effect = {"kind": "deleted", "resource": r.name, "id": key}
        return self._answer_item(plan, r, item, flow.request.path)

    # --- listings ------------------------------------------------------------------

    def _list(
        self, flow: http.HTTPFlow, plan: OperationPlan, r: Resource, n: RequestNote
    ) -> http.Response:
        shape = r.list_shapes.get(plan.op.operation_id)
        answer = plan.success
        if shape is None or shape.element is None or answer.media_type is None:
            return respond(answer)
        query = {_norm(k): v for k, v in parse_qsl(flow.request.path.partition("?")[2])}
        items = _filtered(list(self._store.bucket(r, n.params).values()), query, plan, r)
        offset, limit = _window(query, plan, len(items))
        page = items[offset : offset + limit]
        elements = [fit(shape.element_template, item, shape.element, None) for item in page]
        if shape.array_at is None:
            return respond(answer, elements)
        body = copy.deepcopy(answer.body) if isinstance(answer.body, dict) else {}
        body[shape.array_at] = elements
        for name in shape.counts:
            body[name] = len(items)
        more = offset + limit < len(items)
        for name in shape.cursors:
            body[name] = _cursor(offset + limit) if more else None
        if answer.schema is not None and not answer.schema.is_valid(body):
            for name in shape.cursors:  # a cursor field that may not be null: drop it
                if body.get(name) is None:
                    body.pop(name, None)
            if not answer.schema.is_valid(body):
                body = fit(answer.body, body, answer.schema, None)
        return respond(answer, body)


def _typed(r: Resource, key: str) -> Any:
    if r.id_kind == "integer" and key.lstrip("-").isdigit():
        return int(key)
    return key


def _filtered(
    items: list[dict[str, Any]], query: dict[str, str], plan: OperationPlan, r: Resource
) -> list[dict[str, Any]]:
    props = {_norm(k): k for k in _props(r)}
    paging = set(PAGE_LIMIT + PAGE_OFFSET + PAGE_NUMBER + PAGE_CURSOR)
    for name, value in query.items():
        field = props.get(name)
        if field is None or name in paging:
            continue
        items = [
            i
            for i in items
            if not isinstance(i.get(field), dict | list)
            and str(i.get(field)).lower() == value.lower()
        ]
    return items


def _window(query: dict[str, str], plan: OperationPlan, total: int) -> tuple[int, int]:
    declared = {
        _norm(c.parameter.name): c for c in plan.parameters if c.parameter.location == "query"
    }
    limit = (
        DEFAULT_LIMIT
        if any(n in declared for n in PAGE_LIMIT + PAGE_NUMBER + PAGE_CURSOR)
        else MAX_LIMIT
    )
    for name in PAGE_LIMIT:
        if name in declared:
            default = (
                declared[name].compiled.schema.get("default")
                if isinstance(declared[name].compiled.schema, dict)
                else None
            )
            limit = _int(query.get(name), default if isinstance(default, int) else limit)
            break
    limit = max(1, min(limit, MAX_LIMIT))
    offset = 0
    for name in PAGE_OFFSET:
        if name in query:
            offset = _int(query[name], 0)
    for name in PAGE_NUMBER:
        if name in query and name in declared:
            schema = declared[name].compiled.schema
            first = schema.get("minimum", 1) if isinstance(schema, dict) else 1
            offset = max(0, (_int(query[name], 1) - int(first == 1)) * limit)
    for name in PAGE_CURSOR:
        if query.get(name):
            offset = _from_cursor(query[name])
    return max(0, min(offset, total)), limit


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _from_cursor(text: str) -> int:
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        return int(decoded.removeprefix("o:"))
    except (ValueError, UnicodeDecodeError):
        return 0
