"""Which API the rules are judged against: its roles, and how a rule's call reaches it.

The rules speak of roles (a safe read, a create, the refresh, the current user),
never of one API's operations. An `ApiBinding` maps each role to the document's
operationId (the configuration's `roles:`), and turns a rule's call into a
request of the adapter protocol:

- v1 (the demo API): the demo's named ops, `get_profile`, `create_product`...;
- v2 (any API): `{"op": "call", "args": {"operation": ..., "path": ..., "query": ...,
  "body": ...}}`, the request built from the document (`SpecRequests`).

The binding in force is a context variable: the runner binds it for a run, and
every scenario's `Op` reads it. Without a run (a scenario called directly in a
test) the demo's binding applies.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from contracts.config import DEMO_CONFIG_PATH, HarnessConfig, load_config
from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD

PROTOCOL_V1 = 1
PROTOCOL_V2 = 2
# The demo's v1 ops, by the role they play.
V1_OPS = {
    "login": "login",
    "current_user": "get_profile",
    "update_current_user": "update_profile",
    "list": "list_products",
    "read": "get_product",
    "create": "create_product",
    "update": "update_product",
    "delete": "delete_product",
}
PAGE_SIZE_NAMES = ("limit", "page_size", "per_page", "pageSize", "perPage", "size", "count")
DEMO_LOGIN = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
DEMO_ITEM_PATH = "/v1/products/{id}"


class RequestBuilder(Protocol):
    """Builds a v2 `call`'s arguments for a role from a rule's intent."""

    def call_args(self, role: str, operation: str, intent: Mapping[str, Any]) -> dict[str, Any]: ...

    def item_path(self, operation: str, item_id: str) -> str: ...

    def item_ids(self, operation: str, result: Any) -> list[str]: ...

    def awkward_answer(self, operation: str) -> tuple[Any, list[str]] | None: ...

    def awkward_request(self, operation: str) -> tuple[Any, list[str]] | None: ...

    def page_size_limit(self, operation: str) -> tuple[str, int] | None: ...

    def kept_fields(self, operation: str, sent: Any, stored: Any) -> set[str] | None: ...


@dataclass(frozen=True)
class ApiBinding:
    roles: Mapping[str, str]  # role -> operationId
    protocol: int = PROTOCOL_V1
    demo: bool = True
    identity: Mapping[str, str] = field(default_factory=lambda: dict(DEMO_LOGIN))
    token_prefix: str = "Bearer"
    requests: RequestBuilder | None = None
    title: str = "the demo API"

    def operation(self, role: str) -> str:
        try:
            return self.roles[role]
        except KeyError:
            raise MissingRole(role) from None

    def missing(self, roles: tuple[str, ...]) -> list[str]:
        return [r for r in roles if r not in self.roles]

    def request(
        self, role: str, v1_name: str, intent: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """The adapter op and args for a rule's call in this binding's protocol."""
        if role == "login":
            return "login", dict(self.identity) if self.protocol != PROTOCOL_V1 else dict(intent)
        if self.protocol == PROTOCOL_V1 or self.requests is None:
            return v1_name, dict(intent)
        operation = self.operation(role)
        return "call", self.requests.call_args(role, operation, intent)

    def item_path(self, item_id: str) -> str:
        """The path a read of `item_id` is journaled under."""
        if self.requests is None:
            return DEMO_ITEM_PATH.format(id=item_id)
        return self.requests.item_path(self.operation("read"), item_id)

    def awkward_answer(self, role: str) -> tuple[Any, list[str]] | None:
        """The role's success answer made awkward within the document's schema."""
        if self.requests is None:
            return None
        return self.requests.awkward_answer(self.operation(role))

    def kept_fields(self, role: str, sent: Any, stored: Any) -> set[str] | None:
        """Fields of a sent item that the item's schema lets a server keep as sent."""
        if self.requests is None:
            return None
        return self.requests.kept_fields(self.operation(role), sent, stored)

    def page_size_limit(self) -> tuple[str, int] | None:
        """The list operation's page-size parameter and its maximum, when it has one."""
        if self.requests is None or "list" not in self.roles:
            return None
        return self.requests.page_size_limit(self.operation("list"))

    def awkward_request(self, role: str) -> tuple[Any, list[str]] | None:
        """A request body of the role made awkward within the document's schema."""
        if self.requests is None:
            return None
        return self.requests.awkward_request(self.operation(role))

    def item_ids(self, result: Any) -> list[str]:
        """The ids of the items a list call answered, as the read role takes them."""
        if self.requests is None:
            items = result if isinstance(result, list) else []
            return [str(p["id"]) for p in items if isinstance(p, dict) and "id" in p]
        return self.requests.item_ids(self.operation("read"), result)

    def bearer(self, token: str | None) -> str:
        return f"{self.token_prefix} {token}" if self.token_prefix else str(token)

    def environment(self) -> dict[str, str]:
        """What the adapter is told about the run: the protocol and the roles."""
        return {"HARNESS_PROTOCOL": str(self.protocol), "HARNESS_ROLES": json.dumps(self.roles)}


class MissingRole(LookupError):
    """A rule asked for a role the API's configuration does not map."""

    def __init__(self, role: str) -> None:
        super().__init__(f"the API has no {role} role")
        self.role = role


@functools.cache
def demo_binding() -> ApiBinding:
    """The demo API through its own configuration (contracts/harness.yaml), v1."""
    config = load_config(DEMO_CONFIG_PATH, env={})
    return ApiBinding(roles={str(k): v for k, v in config.roles.items()})


def is_demo(config: HarnessConfig) -> bool:
    location = config.spec_location
    demo = load_config(DEMO_CONFIG_PATH, env={}).spec_location
    if location is None or demo is None:
        return False
    return Path(location).resolve() == Path(demo).resolve()


_CURRENT: contextvars.ContextVar[ApiBinding | None] = contextvars.ContextVar(
    "harness_conformance_api", default=None
)


def current() -> ApiBinding:
    return _CURRENT.get() or demo_binding()


@contextlib.contextmanager
def bound(binding: ApiBinding) -> Iterator[ApiBinding]:
    token = _CURRENT.set(binding)
    try:
        yield binding
    finally:
        _CURRENT.reset(token)


# --- requests of any document ---------------------------------------------------------


class SpecRequests:
    """v2 calls built from a compiled document (`mocks.spec_chain.compile_spec`):
    path parameters from the rule's item id, a page size under the name the list
    operation takes, and a valid body (the document's example, else generated)."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self._bodies: dict[str, Any] = {}

    def _op(self, operation: str) -> Any:
        return self._api.plans[operation].op

    def call_args(self, role: str, operation: str, intent: Mapping[str, Any]) -> dict[str, Any]:
        op = self._op(operation)
        args: dict[str, Any] = {"operation": operation, "path": {}, "query": {}}
        path_params = [p for p in op.parameters if p.location == "path"]
        if "id" in intent and path_params:
            args["path"] = {path_params[-1].name: _typed_id(path_params[-1], intent["id"])}
        if "page_size" in intent:
            size = self._page_size(op, int(intent["page_size"]))
            if size is not None:
                args["query"] = {size[0]: size[1]}
        if op.request_media_types and role in ("create", "update"):
            args["body"] = self.body(operation)
        return args

    def _page_size(self, op: Any, wanted: int) -> tuple[str, int] | None:
        for name in PAGE_SIZE_NAMES:
            p = op.parameter(name, "query")
            if p is not None:
                top = p.schema.get("maximum")
                return p.name, min(wanted, int(top)) if isinstance(top, int | float) else wanted
        return None

    def kept_fields(self, operation: str, sent: Any, stored: Any) -> set[str] | None:
        """The top-level fields of `sent` (an item's fields, unwrapped) that the item's
        schema lets a store keep as they were sent: a field the answer names otherwise
        (`category_id` sent, `category` answered) or holds in another shape (variants
        with ids) cannot be compared. None when the operation has no inferred resource."""
        from mocks.resource_pages import props

        binding = self._api.plans[operation].resource
        if binding is None or not isinstance(sent, dict) or not isinstance(stored, dict):
            return None
        resource = binding.resource
        known = props(resource)
        return {
            key
            for key, value in sent.items()
            if key in known
            and key != resource.id_field
            and resource.schema.is_valid({**stored, key: value})
        }

    def page_size_limit(self, operation: str) -> tuple[str, int] | None:
        """(name, maximum) of the operation's page-size parameter, if it declares one."""
        op = self._op(operation)
        for name in PAGE_SIZE_NAMES:
            p = op.parameter(name, "query")
            if p is not None:
                top = p.schema.get("maximum")
                return (p.name, int(top)) if isinstance(top, int | float) else None
        return None

    def body(self, operation: str) -> Any:
        """A valid request body of the operation, the same every time."""
        if operation not in self._bodies:
            plan = self._api.plans[operation]
            media = next(iter(plan.bodies), None)
            if media is None:
                self._bodies[operation] = None
            else:
                examples = _request_examples(self._api.document, plan.op, media)
                self._bodies[operation] = self._api.data.example(plan.bodies[media], examples)
        return json.loads(json.dumps(self._bodies[operation]))

    def awkward_answer(self, operation: str) -> tuple[Any, list[str]] | None:
        """The operation's success answer made awkward within its schema, and what was
        changed; None when the answer has no JSON schema to respect."""
        from harness.conformance.awkward import Awkward

        success = self._api.plans[operation].success
        if success.schema is None or not isinstance(success.body, dict | list):
            return None
        awkward = Awkward(success.body, success.schema.is_valid)
        return awkward.run(success.schema.schema), awkward.changed

    def awkward_request(self, operation: str) -> tuple[Any, list[str]] | None:
        """The operation's valid request body made awkward within its schema, and what
        was changed; None when it takes no JSON body with a schema."""
        from harness.conformance.awkward import Awkward

        base = self.body(operation)
        compiled = next(iter(self._api.plans[operation].bodies.values()), None)
        if compiled is None or not isinstance(base, dict | list):
            return None
        awkward = Awkward(base, compiled.is_valid)
        return awkward.run(compiled.schema), awkward.changed

    def item_path(self, operation: str, item_id: str) -> str:
        op = self._op(operation)
        path = op.path
        params = [p for p in op.parameters if p.location == "path"]
        if params:
            path = path.replace("{" + params[-1].name + "}", quote(str(item_id), safe=""))
        return f"{self._api.base_path}{path}"

    def item_ids(self, operation: str, result: Any) -> list[str]:
        op = self._op(operation)
        params = [p.name for p in op.parameters if p.location == "path"]
        items = _items(result)
        for key in (*params[-1:], *self._configured_ids(), "id"):
            found = [str(i[key]) for i in items if isinstance(i, dict) and key in i]
            if found:
                return found
        return []

    def _configured_ids(self) -> list[str]:
        resources = self._api.config.mock.resources.values()
        return [r.id_field for r in resources if r.id_field]


def _typed_id(parameter: Any, value: Any) -> Any:
    kind = parameter.schema.get("type")
    if kind == "integer":
        try:
            return int(value)
        except (TypeError, ValueError):
            return 1  # a placeholder id that routes; a fault answers for it
    return str(value)


def _items(result: Any) -> list[Any]:
    """The items of a list answer: the body itself, or its first list of objects
    (an envelope such as {"books": [...], "next_cursor": ...})."""
    if isinstance(result, list):
        return result
    if isinstance(result, dict):
        for value in result.values():
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                return value
    return []


def _request_examples(document: Any, op: Any, media: str) -> list[Any]:
    body = document.resolve(op.raw.get("requestBody") or {})
    content = document.resolve((body.get("content") or {}).get(media) or {})
    found = [content["example"]] if "example" in content else []
    for example in (content.get("examples") or {}).values():
        example = document.resolve(example)
        if isinstance(example, dict) and "value" in example:
            found.append(example["value"])
    return found


def spec_binding(api: Any, config: HarnessConfig) -> ApiBinding:
    """The v2 binding of a compiled document and its configuration."""
    identities = config.auth.identities
    identity = dict(identities[0]) if identities else {}
    scheme = api.document.security_schemes.get(config.auth.scheme or "")
    default_prefix = "" if scheme is not None and scheme.type == "apiKey" else "Bearer"
    prefix = config.auth.prefix if config.auth.prefix is not None else default_prefix
    title = (api.document.raw.get("info") or {}).get("title") or str(config.spec)
    return ApiBinding(
        roles={str(k): v for k, v in config.roles.items()},
        protocol=PROTOCOL_V2,
        demo=False,
        identity=identity,
        token_prefix=prefix,
        requests=SpecRequests(api),
        title=str(title),
    )


def unknown_operations(roles: Mapping[str, str], operations: set[str]) -> list[str]:
    """`role -> operationId` pairs whose operationId the document does not have."""
    return [f"{role} -> {op}" for role, op in roles.items() if op not in operations]
