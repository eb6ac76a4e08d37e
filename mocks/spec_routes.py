"""Routing and request validation for any document (`harness mock --spec`).

Names each request's operation and role, answers 404 and 405, and checks
what the document allows: path, query, header and cookie parameters (strings
coerced by their schema's type and style), the body's media type, and the
body against its schema. A request it rejects gets a 4xx in the error shape
the operation declares (its 400, 415 or 422: a body that breaks its schema
prefers 422, malformed input 400), RFC 9457 problem+json when it declares
none. In proxy mode it only names the operation.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from mitmproxy import http

from mocks.notes import note
from mocks.spec_api import JSON, ErrorShape, OperationPlan, ParameterCheck, SpecApi, is_json
from mocks.wire import MAX_BODY_BYTES

PLAN_KEY = "harness_plan"
BODY_KEY = "harness_body"
DEFERRED_KEY = "harness_body_rejection"
_NOT_SENT = object()
_UNCHECKED = object()
_INTEGER = re.compile(r"-?\d+")
# OpenAPI: header parameters by these names are ignored (they are described elsewhere).
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
# Parameters of the behaviours the mock implements itself get their own codes.
_INVALID_CODES = {("header", "idempotency-key"): "invalid_idempotency_key"}


class Rejected(Exception):
    def __init__(
        self,
        statuses: tuple[int, ...],
        code: str,
        reason: str,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(reason)
        self.statuses = statuses
        self.code = code
        self.reason = reason
        self.errors = errors  # each invalid field: {field, message}


def error_response(
    shape: ErrorShape,
    code: str,
    reason: str,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
) -> http.Response:
    body = json.dumps(shape.body(code, reason, errors)).encode()
    all_headers = {"content-type": shape.media_type, "cache-control": "no-store"}
    all_headers.update(shape.headers)
    all_headers.update(headers or {})
    return http.Response.make(shape.status, body, all_headers)


def plan_of(flow: http.HTTPFlow) -> OperationPlan | None:
    return flow.metadata.get(PLAN_KEY)


class BodyCheck:
    """After `Enforcement`: the body's rejection that `SpecRouting` deferred, unless
    `first` (the ownership check) refuses the request for another reason."""

    def __init__(self, first: Callable[[http.HTTPFlow], http.Response | None]) -> None:
        self._first = first

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        deferred = flow.metadata.pop(DEFERRED_KEY, None)
        if deferred is not None:
            flow.response = self._first(flow) or deferred


class SpecRouting:
    def __init__(self, api: SpecApi, *, strict: bool = True) -> None:
        self._api = api
        self._strict = strict

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        path, _, query = flow.request.path.partition("?")
        found = self._api.find(flow.request.method, path)
        if found is None:
            if self._strict:
                flow.response = self._unrouted(flow.request.method, path)
            return
        plan, params = found
        n = note(flow)
        n.operation = plan.op.operation_id
        n.role = plan.role
        n.params = params
        flow.metadata[PLAN_KEY] = plan
        if not self._strict:
            return
        try:
            if "strict_query" in self._api.behaviours:
                _check_query_names(plan, query)
            _check_parameters(plan, flow, params, query)
        except Rejected as e:
            flow.response = self._rejection(plan, e)
            return
        try:
            flow.metadata[BODY_KEY] = _check_body(plan, flow)
        except Rejected as e:
            # Answered by `BodyCheck`, after credentials (and ownership) are judged: a
            # caller without them learns nothing about what a valid body would be.
            flow.metadata[DEFERRED_KEY] = self._rejection(plan, e)

    def _rejection(self, plan: OperationPlan, e: Rejected) -> http.Response:
        return error_response(self._api.error(plan, e.statuses), e.code, e.reason, errors=e.errors)

    def _unrouted(self, method: str, path: str) -> http.Response:
        allowed = self._api.methods_at(path)
        if allowed:
            shape = self._api.error(None, (405,))
            return error_response(
                shape,
                "method_not_allowed",
                f"{method} is not allowed on {path}; use {', '.join(allowed)}.",
                {"Allow": ", ".join(allowed)},
            )
        return error_response(
            self._api.error(None, (404,)), "not_found", f"No operation at {path}."
        )


# --- parameters ------------------------------------------------------------------------


def _check_query_names(plan: OperationPlan, query: str) -> None:
    """`strict_query`: a typo like `pagesize` fails loudly instead of being ignored."""
    if not query:
        return
    declared = {c.parameter.name for c in plan.parameters if c.parameter.location == "query"}
    for name in parse_qs(query, keep_blank_values=True):
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise Rejected(
                (400, 422),
                "invalid_parameter",
                f"Unknown query parameter {name!r} for {plan.op.operation_id}; known: {known}.",
            )


def _check_parameters(
    plan: OperationPlan, flow: http.HTTPFlow, path_params: dict[str, str], query: str
) -> None:
    queries = parse_qs(query, keep_blank_values=True) if query else {}
    for check in plan.parameters:
        p = check.parameter
        if p.location == "header" and p.name.lower() in _IGNORED_HEADERS:
            continue
        raw = _raw(check, flow, path_params, queries)
        if raw is _NOT_SENT:
            if p.required:
                raise Rejected(
                    (400, 422),
                    "missing_parameter",
                    f"The {p.location} parameter {p.name!r} is required.",
                )
            continue
        value = _coerce(check, raw)
        if value is _UNCHECKED:
            continue
        error = check.compiled.first_error(value)
        if error is not None:
            raise Rejected(
                (400, 422),
                _INVALID_CODES.get((p.location, p.name.lower()), "invalid_parameter"),
                f"The {p.location} parameter {p.name!r} is invalid: {error}",
            )


def _raw(
    check: ParameterCheck,
    flow: http.HTTPFlow,
    path_params: dict[str, str],
    queries: dict[str, list[str]],
) -> Any:
    p = check.parameter
    if p.location == "path":
        return [path_params[p.name]] if p.name in path_params else _NOT_SENT
    if p.location == "query":
        if check.kind == "object" and (p.style or "form") == "deepObject":
            return _UNCHECKED
        return queries.get(p.name, _NOT_SENT)
    if p.location == "header":
        values = flow.request.headers.get_all(p.name)
        return values or _NOT_SENT
    if p.location == "cookie":
        value = flow.request.cookies.get(p.name)
        return [value] if value is not None else _NOT_SENT
    return _NOT_SENT


def _coerce(check: ParameterCheck, raw: Any) -> Any:
    if raw is _UNCHECKED:
        return raw
    values: list[str] = raw
    p = check.parameter
    if check.kind == "array":
        explode = p.explode if p.explode is not None else (p.style or "form") == "form"
        if p.location == "query" and explode:
            items = values
        else:
            separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(p.style or "", ",")
            items = [part for v in values for part in v.split(separator)] if values[0] else []
        return [_scalar(v, check.item_kind) for v in items]
    if check.kind == "object":
        return _UNCHECKED  # styled objects (form, simple) are rare; not judged
    if len(values) > 1:
        return values  # a repeated scalar: the schema will reject a list
    return _scalar(values[0], check.kind)


def _scalar(text: str, kind: str) -> Any:
    if kind == "integer" and _INTEGER.fullmatch(text):
        return int(text)
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return text
        if math.isfinite(number):
            return int(number) if _INTEGER.fullmatch(text) else number
        return text
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


# --- bodies ----------------------------------------------------------------------------


def _check_body(plan: OperationPlan, flow: http.HTTPFlow) -> Any:
    if not plan.bodies:
        return None
    raw = flow.request.raw_content or b""
    if len(raw) > MAX_BODY_BYTES:
        raise Rejected(
            (413, 400), "payload_too_large", f"Bodies are limited to {MAX_BODY_BYTES} bytes."
        )
    content_type = flow.request.headers.get("content-type", "")
    if not raw:
        if plan.op.request_required and is_json(content_type) and content_type:
            # Declared as JSON and empty: not a JSON text (RFC 8259).
            raise Rejected((400, 422), "malformed_json", "The body is not valid JSON.")
        if plan.op.request_required:
            raise Rejected((400, 422), "missing_body", "This operation needs a request body.")
        return None
    coding = flow.request.headers.get("content-encoding", "identity").strip().lower()
    if coding != "identity":  # no document declares codings: RFC 7694 answers 415
        raise Rejected(
            (415, 400), "unsupported_media_type", f"Bodies in {coding} coding are not accepted."
        )
    media = _declared_media(plan, content_type)
    if media is None:
        declared = ", ".join(plan.bodies)
        raise Rejected(
            (415, 400),
            "unsupported_media_type",
            f"Send the body as {declared}, not {content_type or 'no content type'}.",
        )
    compiled = plan.bodies[media]
    if is_json(media):
        try:
            value = json.loads(raw)
        except ValueError:
            raise Rejected((400, 422), "malformed_json", "The body is not valid JSON.") from None
    elif media.startswith("application/x-www-form-urlencoded"):
        value = _form(raw, compiled.schema)
    else:
        return raw  # multipart, text, binary: passed on unjudged
    error = compiled.first_error(value)
    if error is not None:
        errors = compiled.field_errors(value)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        raise Rejected((422, 400), "validation_failed", f"The body is invalid: {summary}", errors)
    return value


def _declared_media(plan: OperationPlan, content_type: str) -> str | None:
    sent = content_type.split(";", 1)[0].strip().lower()
    if not sent:
        return None
    for media in plan.bodies:
        declared = media.split(";", 1)[0].strip().lower()
        if declared in (sent, "*/*"):
            return media
        kind, _, sub = declared.partition("/")
        if sub == "*" and sent.startswith(kind + "/"):
            return media
    if is_json(sent):  # application/merge-patch+json where application/json is declared
        return next((m for m in plan.bodies if m.split(";", 1)[0].strip().lower() == JSON), None)
    return None


def _form(raw: bytes, schema: Any) -> dict[str, Any]:
    try:
        fields = parse_qs(raw.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise Rejected((400, 422), "invalid_body", "The form body is not UTF-8.") from None
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    out: dict[str, Any] = {}
    for name, values in fields.items():
        found = properties.get(name)
        prop: dict[str, Any] = found if isinstance(found, dict) else {}
        kind = prop.get("type", "string")
        if kind == "array":
            item = (prop.get("items") or {}).get("type", "string")
            out[name] = [_scalar(v, item) for v in values]
        else:
            out[name] = _scalar(values[0], str(kind))
    return out
