"""Stateful resources for any document: created items read back, updates
persist, deletes answer 404 afterwards (where the operation declares a 404;
where it declares none, an unknown id reads as a generated item, as a
stateless mock would, so the answer stays within the document).

Items live behind `ItemStore` (resource_store.py), seeded at startup and on
reset; the `Resources` addon answers the bound operations. Listings page as
the operation's parameters say (resource_pages.py). Actions on an item
(`POST /books/{slug}/favorite`) answer the item with their effect applied
(resource_actions.py). With the `ownership` behaviour an item belongs to the
user who created it.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

from mitmproxy import http

from mocks.notes import RequestNote, note
from mocks.resource_model import Binding, Resource, new_id
from mocks.resource_pages import cursor as page_cursor
from mocks.resource_pages import filtered, paging_headers, props, query_of, window
from mocks.resource_store import ItemStore, parents_of
from mocks.spec_answers import fit, location_header, respond
from mocks.spec_api import OperationPlan, SpecApi
from mocks.spec_routes import BODY_KEY, error_response, plan_of


def _fields(r: Resource, body: Any) -> dict[str, Any]:
    """The item fields a request body carries (unwrapped from `{"book": {...}}`)."""
    if not isinstance(body, dict):
        return {}
    if len(body) == 1:
        ((key, inner),) = body.items()
        if isinstance(inner, dict) and (key == r.wrapper or key not in props(r)):
            return inner
    return body


def _overlay(
    r: Resource, item: dict[str, Any], fields: dict[str, Any], others: list[dict[str, Any]]
) -> None:
    """Each sent field the item's schema knows, kept only if the item stays valid: as
    sent, else completed (objects in a list take the fields they must have, a fresh
    `id` among them); a reference (`category_id: home`) becomes the object the item
    holds (`category: {id: home, ...}`), as `others` (the other items) show it."""
    known = props(r)
    for key, value in fields.items():
        if key == r.id_field:
            continue
        if key not in known:
            target = _referenced(key, known)
            if target is not None:
                _try(r, item, target, [_reference(target, value, item, others)])
            continue
        _try(r, item, key, [value, _completed(value, known[key], item.get(key))])


def _try(r: Resource, item: dict[str, Any], key: str, candidates: list[Any]) -> None:
    before = item.get(key, _ABSENT)
    for candidate in candidates:
        if candidate is _ABSENT:
            continue
        item[key] = candidate
        if r.schema.is_valid(item):
            return
    if before is _ABSENT:
        item.pop(key, None)
    else:
        item[key] = before


def _referenced(key: str, known: dict[str, Any]) -> str | None:
    """`category_id` / `categoryId` -> `category`, when the item holds it as an object."""
    for suffix in ("_id", "Id"):
        base = key.removesuffix(suffix)
        if base != key and isinstance(known.get(base), dict) and known[base].get("properties"):
            return base
    return None


def _reference(target: str, value: Any, item: dict[str, Any], others: list[dict[str, Any]]) -> Any:
    for other in others:
        held = other.get(target)
        if isinstance(held, dict) and held.get("id") == value:
            return copy.deepcopy(held)
    current = item.get(target)
    return {**current, "id": value} if isinstance(current, dict) else {"id": value}


_element_ids = itertools.count(1)


def _completed(value: Any, schema: Any, current: Any) -> Any:
    """A sent list of objects (or an object) with what the schema requires of each and
    the sender cannot know: an `id` (fresh), else the item's own values."""
    if not isinstance(schema, dict):
        return _ABSENT
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        model = current[0] if isinstance(current, list) and current else {}
        done = [_completed(v, schema["items"], model) for v in value]
        return _ABSENT if any(d is _ABSENT for d in done) else done
    if not isinstance(value, dict):
        return value
    required = schema.get("required") or []
    filled = {}
    for name in required:
        if name in value:
            continue
        if name == "id":
            filled["id"] = f"{next(_element_ids):x}".rjust(8, "0")
        elif isinstance(current, dict) and name in current:
            filled[name] = copy.deepcopy(current[name])
    return {**filled, **value}


_ABSENT = object()


def _stamp(r: Resource, item: dict[str, Any], now: str, *, created: bool) -> None:
    for key, prop in props(r).items():
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
    def __init__(
        self, api: SpecApi, store: ItemStore, unowned: Callable[[], bool] = lambda: False
    ) -> None:
        self._api = api
        self._store = store
        self._unowned = unowned  # the broken profile's `no_ownership`
        self._ownership = "ownership" in api.behaviours
        shared = api.config.contract.security
        self._shared = frozenset(shared.shared_operations)
        self._owner_only = frozenset(shared.owner_only)
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
        refused = self._refused(plan, binding, n)
        if refused is not None:
            flow.response = refused
            return
        if binding.action == "read":
            flow.response = self._cached_read(flow, plan, binding.resource, n)
            return
        handler = getattr(self, "_" + binding.action)
        flow.response = handler(flow, plan, binding.resource, n)

    # --- ownership -----------------------------------------------------------------

    def refusal(self, flow: http.HTTPFlow) -> http.Response | None:
        """The ownership refusal this request gets, if any (judged before its body)."""
        plan = plan_of(flow)
        if plan is None or plan.resource is None:
            return None
        return self._refused(plan, plan.resource, note(flow))

    def _refused(
        self, plan: OperationPlan, binding: Binding, n: RequestNote
    ) -> http.Response | None:
        """`ownership`: another user's item may not be changed, nor read where the
        read is the owner's (it declares 403, or contract.security.owner_only names it)
        and not shared. 403 where the operation declares it, else 404."""
        if not self._ownership or binding.action in ("create", "list") or self._unowned():
            return None
        op = plan.op
        if op.operation_id in self._shared or not op.secured or n.user_id is None:
            return None
        if binding.action in ("read", "action") and not (
            op.operation_id in self._owner_only or op.response(403) is not None
        ):
            return None
        r = binding.resource
        key = n.params.get(r.param, "")
        owner = self._store.owner(r, parents_of(r, n.params), key)
        if owner is None or owner == n.user_id:
            return None
        if op.response(403) is not None or op.response(404) is None:
            shape = self._api.error(plan, (403,), nearest=False)
            reason = f"{r.singular.capitalize()} {key!r} belongs to another user; only its owner "
            reason += "may change it." if binding.action != "read" else "may read it."
            return error_response(shape, f"not_{r.singular}_owner", reason)
        return self._not_found(plan, r, key)

    def _not_found(self, plan: OperationPlan, r: Resource, key: str) -> http.Response:
        reason = f"No {r.singular} with id {key!r}."
        return error_response(self._api.error(plan, (404,)), f"{r.singular}_not_found", reason)

    # --- one item ------------------------------------------------------------------

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
        if response.status_code < 300:  # a 404 is answered afresh each time
            headers = {k: v for k, v in response.headers.items() if k != "content-length"}
            entry = (self._store.generation, response.status_code, response.content or b"", headers)
            self._reads[key] = entry
        return response

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
        return self._not_found(plan, r, key)

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
        key = n.params.get(r.param, "")
        item = self._store.get(r, parents_of(r, n.params), key)
        if item is None:
            return self._missing(plan, r, n, key) or self._answer_item(
                plan, r, self._stand_in(r, key), flow.request.path
            )
        return self._answer_item(plan, r, item, flow.request.path)

    def _create(
        self, flow: http.HTTPFlow, plan: OperationPlan, r: Resource, n: RequestNote
    ) -> http.Response:
        parents = parents_of(r, n.params)
        serial = self._store.next_serial(r)
        item = r.fresh(serial)
        fields = _fields(r, flow.metadata.get(BODY_KEY))
        _overlay(r, item, fields, self._store.items(r, parents))
        if r.id_field is not None:
            sent = fields.get(r.id_field)
            trial = dict(item, **{r.id_field: sent})
            if (
                sent is not None
                and not self._store.contains(r, parents, str(sent))
                and r.schema.is_valid(trial)
                and r.key_is_valid(str(sent))
            ):
                item = trial
            else:
                item[r.id_field] = new_id(r, serial, item)
                while self._store.contains(r, parents, str(item[r.id_field])):
                    serial = self._store.next_serial(r)
                    item[r.id_field] = new_id(r, serial, item, retry=True)
        _stamp(r, item, self._store.now_iso(), created=True)
        key = str(item[r.id_field]) if r.id_field else str(serial)
        self._store.put(r, parents, key, item)
        if n.user_id is not None:
            self._store.set_owner(r, parents, key, n.user_id)
        n.effect = {"kind": f"{r.singular}_created", "id": key}
        base = flow.request.path.partition("?")[0].rstrip("/")
        return self._answer_item(plan, r, item, f"{base}/{key}")

    def _update(
        self, flow: http.HTTPFlow, plan: OperationPlan, r: Resource, n: RequestNote
    ) -> http.Response:
        parents, key = parents_of(r, n.params), n.params.get(r.param, "")
        item = self._store.get(r, parents, key)
        if item is None:
            missing = self._missing(plan, r, n, key)
            if missing is not None:
                return missing
            item = self._stand_in(r, key)
        _overlay(r, item, _fields(r, flow.metadata.get(BODY_KEY)), self._store.items(r, parents))
        _stamp(r, item, self._store.now_iso(), created=False)
        self._store.put(r, parents, key, item)
        n.effect = {"kind": f"{r.singular}_updated", "id": key}
        return self._answer_item(plan, r, item, flow.request.path)

    def _delete(
        self, flow: http.HTTPFlow, plan: OperationPlan, r: Resource, n: RequestNote
    ) -> http.Response:
        key = n.params.get(r.param, "")
        item = self._store.delete(r, parents_of(r, n.params), key)
        if item is None:
            missing = self._missing(plan, r, n, key)
            if missing is not None:
                return missing
            item = self._stand_in(r, key)
        n.effect = {"kind": f"{r.singular}_deleted", "id": key}
        return self._answer_item(plan, r, item, flow.request.path)

    def _action(
        self, flow: http.HTTPFlow, plan: OperationPlan, r: Resource, n: RequestNote
    ) -> http.Response:
        """An action on an item (`POST /books/{slug}/favorite`): its effect on the item
        (resource_actions.py), kept, and the item answered where the answer is one."""
        from mocks.resource_actions import apply_action

        parents, key = parents_of(r, n.params), n.params.get(r.param, "")
        item = self._store.get(r, parents, key)
        if item is None:
            missing = self._missing(plan, r, n, key)
            if missing is not None:
                return missing
            return respond(plan.success)
        changed = apply_action(r, item, plan.op.path, plan.op.method)
        if changed:
            _stamp(r, item, self._store.now_iso(), created=False)
            self._store.put(r, parents, key, item)
        n.effect = {"kind": "action", "resource": r.name, "id": key, "changed": changed}
        answer = plan.success
        if answer.media_type is None or answer.schema is None:
            return respond(answer)
        body = fit(answer.body, item, answer.schema, r.wrapper)
        return respond(answer, body)

    # --- listings ------------------------------------------------------------------

    def _list(
        self, flow: http.HTTPFlow, plan: OperationPlan, r: Resource, n: RequestNote
    ) -> http.Response:
        shape = r.list_shapes.get(plan.op.operation_id)
        answer = plan.success
        if shape is None or shape.element is None or answer.media_type is None:
            return respond(answer)
        query = query_of(flow.request.path)
        items = filtered(self._store.items(r, parents_of(r, n.params)), query, r)
        offset, limit = window(query, plan, len(items))
        headers = paging_headers(
            plan, flow.request.path, offset, limit, len(items), self._api.behaviours
        )
        page = items[offset : offset + limit]
        elements = [fit(shape.element_template, item, shape.element, None) for item in page]
        if shape.array_at is None:
            return respond(answer, elements, headers)
        body = copy.deepcopy(answer.body) if isinstance(answer.body, dict) else {}
        body[shape.array_at] = elements
        for name in shape.counts:
            body[name] = len(items)
        more = offset + limit < len(items)
        for name in shape.cursors:
            body[name] = page_cursor(offset + limit) if more else None
        if answer.schema is not None and not answer.schema.is_valid(body):
            for name in shape.cursors:  # a cursor field that may not be null: drop it
                if body.get(name) is None:
                    body.pop(name, None)
            if not answer.schema.is_valid(body):
                body = fit(answer.body, body, answer.schema, None)
        return respond(answer, body, headers)


def _typed(r: Resource, key: str) -> Any:
    if r.id_kind == "integer" and key.lstrip("-").isdigit():
        return int(key)
    return key
