"""Answers that conform to the document: the prepared success answer of each
operation, and `fit`, which puts live data (an item, a token) into a valid
answer without ever breaking its schema.

`SpecAnswers` answers every routed request no other addon answered, with the
operation's example or pre-generated body and declared headers.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from mitmproxy import http

from mocks.notes import note
from mocks.spec_api import Answer, OperationPlan
from mocks.spec_routes import plan_of
from mocks.spec_schemas import Compiled


def fit(template: Any, data: dict[str, Any], compiled: Compiled | None, wrapper: str | None) -> Any:
    """`data` as the answer: itself, or in its envelope, if valid; else the valid
    `template` with each field of `data` that keeps it valid."""
    if compiled is None:
        return data
    if compiled.is_valid(data):
        return data
    if wrapper is not None and compiled.is_valid({wrapper: data}):
        return {wrapper: data}
    base = copy.deepcopy(template)
    target = base.get(wrapper) if wrapper and isinstance(base, dict) else base
    if not isinstance(target, dict):
        return base
    for key, value in data.items():
        before = target.get(key, _ABSENT)
        target[key] = value
        if not compiled.is_valid(base):
            if before is _ABSENT:
                del target[key]
            else:
                target[key] = before
    return base


_ABSENT = object()


def set_pointer(value: Any, pointer: str, new: Any) -> bool:
    """Set a JSON pointer's target that exists (or whose parent object exists)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    if not parts:
        return False
    node = value
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    if isinstance(node, dict):
        node[parts[-1]] = new
        return True
    return False


def get_pointer(value: Any, pointer: str) -> Any:
    for part in [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def respond(
    answer: Answer, body: Any = None, headers: dict[str, str] | None = None
) -> http.Response:
    all_headers = dict(answer.headers)
    if answer.media_type is not None:
        all_headers["content-type"] = answer.media_type
    all_headers.update(headers or {})
    if body is None:
        content = answer.encoded() if answer.media_type else b""
    else:
        content = json.dumps(body, separators=(",", ":")).encode()
    return http.Response.make(answer.status, content, all_headers)


def location_header(plan: OperationPlan, answer: Answer, url_path: str) -> dict[str, str]:
    """Location when the answer declares it (a 201 usually must)."""
    for r in plan.op.responses:
        if r.status == str(answer.status) and any(h.lower() == "location" for h in r.headers):
            return {"Location": url_path}
    return {}


class SpecAnswers:
    """The operation's prepared answer, for requests no stateful addon answered."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, bytes, dict[str, str]]] = {}

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        plan = plan_of(flow)
        if plan is None:
            return
        note(flow)
        headers = location_header(plan, plan.success, flow.request.path.partition("?")[0])
        cached = self._cache.get(plan.op.operation_id) if not headers else None
        if cached is None:
            response = respond(plan.success, headers=headers)
            cached = (response.status_code, response.content or b"", _headers(response))
            if not headers:
                self._cache[plan.op.operation_id] = cached
        flow.response = http.Response.make(*cached)


def _headers(response: http.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
