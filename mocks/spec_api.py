"""A team's document compiled for serving: one `OperationPlan` per operation.

Everything a request needs is decided here, once, at startup: parameter and
body validators, the success answer (status, media type, pre-generated body
and headers), the error shapes the operation declares, its role and its
resource. The addons (`spec_routes`, `spec_auth`, `resources`, `spec_answers`)
only look things up.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from contracts.config import HarnessConfig
from contracts.document import (
    Document,
    Operation,
    Parameter,
    ResponseSpec,
    compile_routes,
    find_route,
    route_methods,
)
from mocks.problems import problem_body
from mocks.spec_data import DataGenerator
from mocks.spec_schemas import Compiled, SchemaCompiler

log = logging.getLogger(__name__)

JSON = "application/json"
PROBLEM = "application/problem+json"
# Where an error's reason goes in a document's own error shape, best first.
_REASON_FIELDS = (
    "detail",
    "message",
    "error_description",
    "error",
    "title",
    "description",
    "reason",
    "msg",
)


def is_json(media_type: str) -> bool:
    media = media_type.split(";", 1)[0].strip().lower()
    return media == JSON or media.endswith("+json") or media == "*/*"


@dataclass
class Answer:
    """A prepared response: status, media type, body value (None: empty) and headers."""

    status: int
    media_type: str | None
    schema: Compiled | None
    body: Any
    headers: dict[str, str]

    def encoded(self, body: Any = None) -> bytes:
        value = self.body if body is None else body
        if value is None or self.media_type is None:
            return b""
        if isinstance(value, str) and not is_json(self.media_type):
            return value.encode()
        return json.dumps(value, separators=(",", ":")).encode()


@dataclass
class ErrorShape:
    """How the operation answers one error status: its declared shape, or RFC 9457."""

    status: int
    media_type: str
    template: Any  # a valid instance of the declared schema (None: problem+json)
    schema: Compiled | None
    headers: dict[str, str]

    def body(self, code: str, reason: str, errors: list[dict[str, str]] | None = None) -> Any:
        """The error's body; `errors` (each invalid field) go into a problem's `errors`
        member (RFC 9457 extension), or a declared shape's, where its schema allows."""
        if self.template is None:
            body = problem_body(self.status, code, reason)
            if errors:
                body["errors"] = errors
            return body
        for short in (True, False):
            placed = _place_reason(json.loads(json.dumps(self.template)), reason, short)
            if self.schema is None or self.schema.is_valid(placed):
                if errors and isinstance(placed, dict) and "errors" not in placed:
                    placed["errors"] = errors
                    if self.schema is not None and not self.schema.is_valid(placed):
                        del placed["errors"]
                return placed
        return self.template


def _place_reason(value: Any, reason: str, short: bool) -> Any:
    """The reason in the most telling string field of a generated error body
    (`short`: lists cut to that one element)."""
    if isinstance(value, str):
        return reason
    if isinstance(value, list):
        if not value:
            return [reason] if short else value
        first = _place_reason(value[0], reason, short)
        return [first] if short else [first, *value[1:]]
    if not isinstance(value, dict):
        return value
    for name in _REASON_FIELDS:
        if isinstance(value.get(name), str):
            value[name] = reason
            return value
    for name, child in value.items():
        if isinstance(child, str | dict | list):
            value[name] = _place_reason(child, reason, short)
            return value
    return value


@dataclass
class ParameterCheck:
    parameter: Parameter
    compiled: Compiled
    kind: str  # the schema's type, to coerce strings: string, integer, number, boolean, array
    item_kind: str


@dataclass
class OperationPlan:
    op: Operation
    role: str | None
    parameters: list[ParameterCheck]
    bodies: dict[str, Compiled]  # request media type -> validator
    success: Answer
    answers: dict[int, Answer] = field(default_factory=dict)  # every declared 2xx
    errors: dict[int, ErrorShape] = field(default_factory=dict)
    resource: Any = None  # resources.Binding, set by the resource inference


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None and "properties" in schema:
        kind = "object"
    return str(kind or "string")


class SpecApi:
    """The compiled document. `plan(op_id)` and `find(method, path)` serve requests."""

    def __init__(self, document: Document, config: HarnessConfig | None = None) -> None:
        self.document = document
        self.config = config or HarnessConfig()
        self.base_path = (self.config.base_path or document.base_path).rstrip("/")
        self.compiler = SchemaCompiler(openapi_30=document.version.startswith("3.0"))
        self.data = DataGenerator(self.config.mock.seed)
        self.behaviours = frozenset(self.config.mock.behaviours)
        roles = {op_id: role for role, op_id in self.config.roles.items()}
        self.plans: dict[str, OperationPlan] = {}
        for op in document.operations:
            self.plans[op.operation_id] = self._plan(op, roles.get(op.operation_id))
        # Strict, as the document is (and Prism): `/books/` is not `/books` unless declared.
        self._routes = compile_routes(document.operations, self.base_path)
        self.roles_by_name = {role: op_id for op_id, role in roles.items() if op_id in self.plans}

    # --- routing -------------------------------------------------------------------

    def find(self, method: str, path: str) -> tuple[OperationPlan, dict[str, str]] | None:
        found = find_route(self._routes, method, path)
        return (self.plans[found[0].operation_id], found[1]) if found else None

    def methods_at(self, path: str) -> list[str]:
        return route_methods(self._routes, path)

    # --- compiling -----------------------------------------------------------------

    def _schema(self, schema: Any, direction: str) -> Compiled:
        return self.compiler.compile(self.document.deref(schema or {}), direction)  # type: ignore[arg-type]

    def _plan(self, op: Operation, role: str | None) -> OperationPlan:
        checks = []
        for p in op.parameters:
            compiled = self._schema(p.schema, "request")
            schema = compiled.schema if isinstance(compiled.schema, dict) else {}
            items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
            checks.append(ParameterCheck(p, compiled, _kind(schema), _kind(items or {})))
        bodies = {
            media: self._schema(schema, "request")
            for media, schema in op.request_media_types.items()
        }
        answers = {
            int(r.status): self._answer(op, r)
            for r in op.responses
            if r.status.isdigit() and 200 <= int(r.status) < 300
        }
        if answers:
            preferred = 201 if op.method == "POST" and 201 in answers else min(answers)
            success = answers[preferred]
        else:
            fallback = op.response(200)
            success = self._answer(op, fallback) if fallback else Answer(200, None, None, None, {})
            success.status = 200
        errors = {
            status: self._error(op, status) for status in (400, 401, 403, 404, 405, 409, 415, 422)
        }
        return OperationPlan(op, role, checks, bodies, success, answers, errors)

    def _answer(self, op: Operation, spec: ResponseSpec) -> Answer:
        status = int(spec.status) if spec.status.isdigit() else 200
        media = _pick_media(spec.media_types)
        compiled = None
        body: Any = None
        if media is not None:
            compiled = self._schema(spec.media_types[media], "response")
            body = self.data.example(compiled, self._examples(op, spec, media))
        headers = self._headers(spec)
        return Answer(status, media, compiled, body, headers)

    def _examples(self, op: Operation, spec: ResponseSpec, media: str) -> list[Any]:
        raw = self.document.resolve((op.raw.get("responses") or {}).get(spec.status) or {})
        content = self.document.resolve(((raw.get("content") or {}).get(media)) or {})
        found = []
        if "example" in content:
            found.append(content["example"])
        for example in (content.get("examples") or {}).values():
            example = self.document.resolve(example)
            if isinstance(example, dict) and "value" in example:
                found.append(example["value"])
        return found

    def _headers(self, spec: ResponseSpec) -> dict[str, str]:
        headers = {}
        for name, header in spec.headers.items():
            if name.lower() in ("content-type", "content-length", "location"):
                continue
            compiled = self._schema(header.get("schema") or {"type": "string"}, "response")
            value = self.data.example(compiled, [header["example"]] if "example" in header else [])
            headers[name] = _header_text(value)
        return headers

    def _error(self, op: Operation, status: int) -> ErrorShape:
        spec = op.response(status)
        if spec is None:
            return ErrorShape(status, PROBLEM, None, None, {})
        declared = int(spec.status) if spec.status.isdigit() else status
        media = _pick_media(spec.media_types)
        if media is None or not is_json(media):
            return ErrorShape(declared, media or PROBLEM, None, None, self._headers(spec))
        if media == PROBLEM and not spec.media_types[media]:
            return ErrorShape(declared, PROBLEM, None, None, self._headers(spec))
        compiled = self._schema(spec.media_types[media], "response")
        template = self.data.example(compiled, self._examples(op, spec, media))
        if template is None and not compiled.is_valid(None):
            return ErrorShape(declared, media, None, None, self._headers(spec))
        return ErrorShape(declared, media, template, compiled, self._headers(spec))

    def error(
        self, plan: OperationPlan | None, wanted: tuple[int, ...], *, nearest: bool = True
    ) -> ErrorShape:
        """The first of `wanted` statuses the operation declares, else (`nearest`) its 400,
        422 or other client error (never its 401 or 403: those mean credentials, and a
        client would answer them by signing in again), else the first of `wanted` as a
        problem. With the `problem_details` behaviour, always a problem."""
        shape = self._declared_error(plan, wanted, nearest)
        if "problem_details" in self.behaviours and shape.template is not None:
            return ErrorShape(shape.status, PROBLEM, None, None, shape.headers)
        return shape

    def _declared_error(
        self, plan: OperationPlan | None, wanted: tuple[int, ...], nearest: bool
    ) -> ErrorShape:
        if plan is not None:
            declared = {int(r.status) for r in plan.op.responses if r.status.isdigit()}
            for status in wanted:
                if status in declared:
                    return plan.errors.get(status) or self._error(plan.op, status)
            first = plan.errors.get(wanted[0])
            if first is not None and first.template is not None:
                return first  # a 4XX or default response covers it
            # None of them: the operation's own client-error answer beats an undeclared one.
            others = sorted(s for s in declared if 400 <= s < 500 and s not in (401, 403))
            nearby = (400, 422, *others) if nearest else ()
            for status in nearby:
                if status in declared:
                    return plan.errors.get(status) or self._error(plan.op, status)
        return ErrorShape(wanted[0], PROBLEM, None, None, {})


def _pick_media(media_types: dict[str, Any]) -> str | None:
    if not media_types:
        return None
    for media in media_types:
        if media.split(";")[0].strip() == JSON:
            return media
    for media in media_types:
        if is_json(media):
            return media
    return next(iter(media_types))


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_header_text(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k},{_header_text(v)}" for k, v in value.items())
    return str(value)
