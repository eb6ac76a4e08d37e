"""Any API's requests by role, for the load users that need no locust file of their own.

`RoleApi.load(spec, config)` compiles the document once per process and binds
the configuration's roles (`login`, `register`, `refresh`, `list`, `create`,
`read`, `update`, `delete`) to its operations. It then answers, for a role,
the request a careful client would send: the method, the URL path under the
document's base path, path parameters from an item id, a page size under the
name the list operation takes, and a body valid against the request schema
(the document's example, else generated; see `SpecRequests`).

Every create and update gets a body of its own (`RoleApi.body`): one string
member of the valid body is marked with the user's tag and a serial, kept
only if the body still validates. Two logical creates then never look like
one retried call in the journal, and a mock that derives ids from a title
never answers 409 for a clash between users.

Pure: no locust, no sockets; `loadtests/role_client.py` sends what this says.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.auth_plan import AuthPlan, plan_auth
from contracts.config import HarnessConfig, load_config
from harness.conformance.binding import SpecRequests
from mocks.spec_chain import compile_spec

CRUD_ROLES = ("list", "create", "read", "update", "delete")
PAGE_SIZE = 20
# Members worth marking first: a unique title reads well in the mock's log and the journal.
_MARKABLE_FIRST = ("title", "name", "summary", "subject", "label", "description")


class RoleApiError(ValueError):
    """The configuration gives the role users nothing to do; the message says why."""


@dataclass(frozen=True)
class RoleRequest:
    role: str
    operation: str
    method: str
    path: str  # under the base path, path parameters filled in
    query: Mapping[str, Any]
    body: Any = None
    declares_idempotency_key: bool = False


class RoleApi:
    def __init__(self, api: Any, config: HarnessConfig, auth: AuthPlan) -> None:
        self._api = api
        self._requests = SpecRequests(api)
        self.config = config
        self.auth = auth
        self.base_path: str = api.base_path
        self.roles: dict[str, str] = {
            str(role): op for role, op in config.roles.items() if op in api.plans
        }
        self.title = str((api.document.raw.get("info") or {}).get("title") or config.spec)

    @classmethod
    def load(cls, spec: str | None, config_path: str) -> RoleApi:
        """The document and configuration a load run was given (ConfigError, DocumentError)."""
        overrides = {"spec": spec} if spec else {}
        config = load_config(config_path, overrides=overrides, default=None)
        if config.spec_location is None:
            raise RoleApiError(f"{config_path}: names no document (spec:) and none was given")
        api = compile_spec(config.spec_location, config)
        api_roles = cls(api, config, plan_auth(config, api.document))
        if not api_roles.crud_roles:
            raise RoleApiError(
                f"{config_path}: roles names none of {', '.join(CRUD_ROLES)}: the role users "
                "would have nothing to call; map them to operationIds, or give --locustfile"
            )
        return api_roles

    @property
    def crud_roles(self) -> tuple[str, ...]:
        return tuple(r for r in CRUD_ROLES if r in self.roles)

    def has(self, role: str) -> bool:
        return role in self.roles

    def _op(self, role: str) -> Any:
        return self._api.plans[self.roles[role]].op

    def request(self, role: str, *, item_id: str | None = None, body: Any = None) -> RoleRequest:
        operation = self.roles[role]
        intent: dict[str, Any] = {}
        if item_id is not None:
            intent["id"] = item_id
        if role == "list":
            intent["page_size"] = PAGE_SIZE
        args = self._requests.call_args(role, operation, intent)
        op = self._op(role)
        path = op.path
        for name, value in args["path"].items():
            path = path.replace("{" + name + "}", _quoted(value))
        return RoleRequest(
            role=role,
            operation=operation,
            method=op.method,
            path=path,
            query=args["query"],
            body=body if body is not None else args.get("body"),
            declares_idempotency_key=op.parameter("Idempotency-Key", "header") is not None,
        )

    def url_path(self, request: RoleRequest) -> str:
        return f"{self.base_path}{request.path}"

    def needs_item(self, role: str) -> bool:
        return any(p.location == "path" for p in self._op(role).parameters)

    def body(self, role: str, tag: str, serial: int) -> Any:
        """A valid body for the role's operation, marked `tag-serial` where the schema allows."""
        operation = self.roles[role]
        base = self._requests.body(operation)
        if base is None:
            return None
        compiled = next(iter(self._api.plans[operation].bodies.values()), None)
        mark = f"{tag}-{serial}"
        for pointer in _markable(base):
            candidate = copy.deepcopy(base)
            _append(candidate, pointer, f" {mark}")
            if compiled is None or compiled.is_valid(candidate):
                return candidate
        return base

    def item_ids(self, result: Any) -> list[str]:
        """Ids of the items a list answered, as the read role takes them."""
        if not self.has("read"):
            return []
        return self._requests.item_ids(self.roles["read"], result)

    def created_id(self, result: Any) -> str | None:
        """The id of the item a create answered (the body itself or one envelope down)."""
        if not self.has("read"):
            return None
        names = [p.name for p in self._op("read").parameters if p.location == "path"][-1:]
        names += [r.id_field for r in self.config.mock.resources.values() if r.id_field]
        for candidate in _objects(result):
            for name in (*names, "id"):
                value = candidate.get(name)
                if isinstance(value, str | int) and not isinstance(value, bool):
                    return str(value)
        return None


def _quoted(value: Any) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


def _objects(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict) and depth <= 2:
        yield value
        for child in value.values():
            if isinstance(child, dict):
                yield from _objects(child, depth + 1)


def _markable(body: Any, here: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Pointers (as key tuples) to the body's string members, preferred names first."""
    found: list[tuple[str, ...]] = []
    if isinstance(body, dict):
        for key, value in body.items():
            if isinstance(value, str):
                found.append((*here, key))
            elif isinstance(value, dict):
                found += _markable(value, (*here, key))
    return sorted(
        found,
        key=lambda p: _MARKABLE_FIRST.index(p[-1]) if p[-1] in _MARKABLE_FIRST else 99,
    )


def _append(body: dict[str, Any], pointer: tuple[str, ...], suffix: str) -> None:
    node = body
    for key in pointer[:-1]:
        node = node[key]
    node[pointer[-1]] = f"{node[pointer[-1]]}{suffix}"


@functools.cache
def cached(spec: str | None, config_path: str) -> RoleApi:
    """One compiled document per process: every user of a locust process shares it."""
    return RoleApi.load(spec, config_path)
