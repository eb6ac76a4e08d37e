"""Any team's OpenAPI document, loaded once and read the way every job needs it.

    doc = load_document("openapi.yaml")          # or a URL, YAML or JSON
    doc.base_path                                 # "/api" from servers[0].url
    op = doc.operation("getArticle")              # method, path, parameters, security...
    doc.find("GET", "/api/articles/abc")          # (operation, path parameters) or None

The document is validated with openapi-spec-validator (3.0 and 3.1); an
invalid one raises `DocumentError` with the validator's message and the JSON
pointer of the offending node. `$ref`s are resolved with `referencing`
(local pointers and relative files). Nothing here sends requests except
loading a document from a URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import yaml

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PROBLEM_MEDIA_TYPE = "application/problem+json"


class DocumentError(ValueError):
    """The document cannot be used; the message says where and why."""


# --- loading and validating ------------------------------------------------------------


def _parse(text: str, source: str) -> Any:
    try:
        # JSON is YAML too; libyaml's loader, when present, parses ~10x faster.
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise DocumentError(
            f"{source}:{where} not YAML or JSON: {getattr(e, 'problem', e)}"
        ) from None


def _read(source: str) -> tuple[str, str]:
    """The text of a document and the base its relative references resolve against."""
    if urlsplit(source).scheme in ("http", "https"):
        import httpx  # only when a document comes from a URL

        try:
            answer = httpx.get(source, timeout=30.0, follow_redirects=True)
        except httpx.HTTPError as e:
            raise DocumentError(f"{source}: cannot fetch the document: {e}") from None
        if answer.status_code != 200:
            raise DocumentError(f"{source}: fetching the document answered {answer.status_code}")
        return answer.text, source
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), path.resolve().as_uri()
    except OSError as e:
        raise DocumentError(f"{source}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise DocumentError(f"{source}: not UTF-8 text") from None


def pointer(parts: Iterator[Any] | list[Any] | tuple[Any, ...]) -> str:
    """An RFC 6901 JSON pointer for path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts) or "/"


def _walk(node: Any, parts: list[Any]) -> Any:
    for part in parts:
        node = node[part]
    return node


def _locate(root: Any, relative: list[Any], instance: Any) -> list[Any]:
    """Where in the document a validator error points: its path may be relative to a
    nested schema, so find the node from which that path reaches the failing value."""
    stack: list[tuple[Any, list[Any]]] = [(root, [])]
    while stack:
        node, here = stack.pop()
        try:
            found = _walk(node, relative)
        except (KeyError, IndexError, TypeError):
            found = _MISSING
        if found is instance or (found is not _MISSING and found == instance and relative):
            return here + relative
        children = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        stack.extend((child, [*here, key]) for key, child in reversed(list(children)))
    return relative


_MISSING = object()


def validate_document(raw: Any, source: str) -> None:
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import (
        OpenAPIValidationError,
        ValidatorDetectError,
    )

    if not isinstance(raw, dict):
        raise DocumentError(f"{source}: an OpenAPI document is a mapping, not {type(raw).__name__}")
    version = str(raw.get("openapi", ""))
    if not version.startswith("3."):
        found = "Swagger 2.0" if "swagger" in raw else f"openapi: {version or 'missing'}"
        raise DocumentError(f"{source}: /openapi: only OpenAPI 3.0 and 3.1 are supported ({found})")
    try:
        validate(raw)
    except ValidatorDetectError as e:
        raise DocumentError(f"{source}: /openapi: {e}") from None
    except OpenAPIValidationError as e:
        where = pointer(_locate(raw, list(e.path), e.instance))
        message = e.message.splitlines()[0]
        if message.startswith(("{", "[")) and " is not " in message:
            message = "this node is not " + message.rsplit(" is not ", 1)[1]  # no dump of it
        raise DocumentError(f"{source}: {where}: {message[:300]}") from None
    except Exception as e:  # e.g. referencing's PointerToNowhere for a dangling $ref
        message = str(e).splitlines()[0][:300]
        raise DocumentError(f"{source}: cannot resolve the document: {message}") from None
    _check_security_names(raw, source)


def _check_security_names(raw: dict[str, Any], source: str) -> None:
    """Every security requirement names a declared scheme (the validator lets any name by)."""
    schemes = set((raw.get("components") or {}).get("securitySchemes") or {})
    places: list[tuple[list[Any], Any]] = [(["security"], raw.get("security"))]
    for path, item in (raw.get("paths") or {}).items():
        for method in HTTP_METHODS:
            if isinstance(item, dict) and isinstance(item.get(method), dict):
                places.append((["paths", path, method, "security"], item[method].get("security")))
    for where, requirements in places:
        for index, requirement in enumerate(requirements or []):
            for name in requirement or {}:
                if name not in schemes:
                    known = ", ".join(sorted(schemes)) or "none"
                    raise DocumentError(
                        f"{source}: {pointer([*where, index])}: security names {name!r}, "
                        f"which components.securitySchemes does not declare (it has: {known})"
                    )


# --- the document's parts ---------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path, query, header, cookie
    required: bool
    schema: dict[str, Any]
    style: str | None = None
    explode: bool | None = None


@dataclass(frozen=True)
class ResponseSpec:
    status: str  # "200", "4XX", "default"
    media_types: dict[str, dict[str, Any]]  # media type -> schema ({} when none)
    headers: dict[str, dict[str, Any]]  # header name -> header object (resolved)


@dataclass(frozen=True)
class Operation:
    operation_id: str  # the document's, or METHOD /path when it has none
    method: str  # upper case
    path: str  # the template as the document writes it, e.g. /articles/{slug}
    parameters: tuple[Parameter, ...]
    request_media_types: dict[str, dict[str, Any]]  # media type -> schema
    request_required: bool
    responses: tuple[ResponseSpec, ...]
    security: tuple[dict[str, tuple[str, ...]], ...]  # alternatives; () = public
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def secured(self) -> bool:
        """Some credential is required: no alternative of its security is empty."""
        return bool(self.security) and all(self.security)

    def parameter(self, name: str, location: str | None = None) -> Parameter | None:
        wanted = name.lower()
        for p in self.parameters:
            if p.name.lower() == wanted and (location is None or p.location == location):
                return p
        return None

    def response(self, status: int) -> ResponseSpec | None:
        """The response the document declares for a status (exact, then 4XX, then default)."""
        by_key = {r.status.upper(): r for r in self.responses}
        return by_key.get(str(status)) or by_key.get(f"{status // 100}XX") or by_key.get("DEFAULT")

    def success_statuses(self) -> tuple[int, ...]:
        return tuple(
            int(r.status) for r in self.responses if r.status.isdigit() and r.status[0] == "2"
        )

    def declares_media_type(self, media_type: str, *, errors_only: bool = True) -> bool:
        return any(
            media_type in r.media_types
            for r in self.responses
            if not errors_only or r.status[0] in "45" or r.status.upper() == "DEFAULT"
        )

    def declares_response_header(self, name: str, statuses: tuple[int, ...] | None = None) -> bool:
        wanted = name.lower()
        for r in self.responses:
            if statuses is not None and not (r.status.isdigit() and int(r.status) in statuses):
                continue
            if any(h.lower() == wanted for h in r.headers):
                return True
        return False


@dataclass(frozen=True)
class SecurityScheme:
    name: str
    type: str  # apiKey, http, oauth2, openIdConnect, mutualTLS
    scheme: str | None = None  # http: bearer, basic, ...
    location: str | None = None  # apiKey: header, query, cookie
    parameter: str | None = None  # apiKey: the header/query/cookie name
    flows: dict[str, Any] = field(default_factory=dict)  # oauth2
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def carries_token(self) -> bool:
        """A scheme through which a session token travels (not basic, not mTLS)."""
        if self.type == "http":
            return (self.scheme or "").lower() == "bearer"
        return self.type in ("apiKey", "oauth2", "openIdConnect")

    @property
    def header(self) -> str | None:
        """The request header it uses, if it is a header."""
        if self.type in ("http", "oauth2", "openIdConnect"):
            return "Authorization"
        return self.parameter if self.location == "header" else None


# --- the document -----------------------------------------------------------------------


class Document:
    """A validated OpenAPI 3.x document with `$ref`s resolved on demand."""

    def __init__(self, raw: dict[str, Any], source: str = "document", base_uri: str = "") -> None:
        self.raw = raw
        self.source = source
        self._base_uri = base_uri or "urn:harness:document"
        self._external: dict[str, Any] = {}

    # --- references ----------------------------------------------------------------

    def _retrieve(self, uri: str) -> Any:
        if uri not in self._external:
            text, _ = _read(uri.removeprefix("file://") if uri.startswith("file://") else uri)
            self._external[uri] = _parse(text, uri)
        return self._external[uri]

    def resolve(self, node: Any, base: str | None = None) -> Any:
        """`node` with a top-level `$ref` followed (repeatedly); other nodes as they are."""
        seen = 0
        base = base or self._base_uri
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            seen += 1
            if seen > 32:
                raise DocumentError(f"{self.source}: $ref chain too long at {node['$ref']}")
            node, base = self._follow(node["$ref"], base)
        return node

    def _follow(self, ref: str, base: str) -> tuple[Any, str]:
        target, _, fragment = urljoin(base, ref).partition("#")
        root = self.raw if target in ("", self._base_uri.partition("#")[0]) else None
        if root is None:
            root = self._retrieve(target)
        parts = [unquote(p).replace("~1", "/").replace("~0", "~") for p in fragment.split("/")[1:]]
        try:
            return _walk(root, parts), target
        except (KeyError, IndexError, TypeError):
            raise DocumentError(f"{self.source}: $ref {ref!r} points at nothing") from None

    def deref(self, node: Any, _depth: int = 0) -> Any:
        """A copy of `node` with every `$ref` inlined (recursive schemas stop at depth 16)."""
        if _depth > 16:
            return {}
        node = self.resolve(node)
        if isinstance(node, dict):
            return {k: self.deref(v, _depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [self.deref(v, _depth + 1) for v in node]
        return node

    # --- servers and base path -----------------------------------------------------

    @property
    def version(self) -> str:
        return str(self.raw.get("openapi", ""))

    @property
    def server_url(self) -> str:
        """servers[0].url with its variables at their defaults ("/" when there is none)."""
        servers = self.raw.get("servers") or [{"url": "/"}]
        first: dict[str, Any] = servers[0] if isinstance(servers[0], dict) else {"url": "/"}
        url = str(first.get("url") or "/")
        for name, variable in (first.get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(variable.get("default", "")))
        return url

    @property
    def base_path(self) -> str:
        """The path every operation is mounted under ("" for the root)."""
        return urlsplit(self.server_url).path.rstrip("/")

    # --- operations and schemes ----------------------------------------------------

    @cached_property
    def operations(self) -> tuple[Operation, ...]:
        found: list[Operation] = []
        global_security = self.raw.get("security")
        for path, item in (self.raw.get("paths") or {}).items():
            item = self.resolve(item)
            shared = [self.resolve(p) for p in item.get("parameters") or []]
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                found.append(self._operation(method, path, item[method], shared, global_security))
        return tuple(found)

    def _operation(
        self,
        method: str,
        path: str,
        raw: dict[str, Any],
        shared: list[dict[str, Any]],
        global_security: Any,
    ) -> Operation:
        own = [self.resolve(p) for p in raw.get("parameters") or []]
        merged = {(p["name"], p["in"]): p for p in [*shared, *own]}  # the operation's win
        parameters = tuple(
            Parameter(
                name=p["name"],
                location=p["in"],
                required=bool(p.get("required")) or p["in"] == "path",
                schema=self._parameter_schema(p),
                style=p.get("style"),
                explode=p.get("explode"),
            )
            for p in merged.values()
        )
        body = self.resolve(raw.get("requestBody") or {})
        request_media = {
            media: self.resolve((spec or {}).get("schema") or {})
            for media, spec in (body.get("content") or {}).items()
        }
        responses = tuple(
            self._response(str(status), self.resolve(spec))
            for status, spec in (raw.get("responses") or {}).items()
        )
        security = raw.get("security", global_security) or []
        return Operation(
            operation_id=str(raw.get("operationId") or f"{method.upper()} {path}"),
            method=method.upper(),
            path=path,
            parameters=parameters,
            request_media_types=request_media,
            request_required=bool(body.get("required")),
            responses=responses,
            security=tuple(
                {name: tuple(scopes or ()) for name, scopes in alternative.items()}
                for alternative in security
            ),
            raw=raw,
        )

    def _parameter_schema(self, parameter: dict[str, Any]) -> dict[str, Any]:
        if "schema" in parameter:
            schema = self.resolve(parameter["schema"])
            return schema if isinstance(schema, dict) else {}
        for spec in (parameter.get("content") or {}).values():
            schema = self.resolve((spec or {}).get("schema") or {})
            return schema if isinstance(schema, dict) else {}
        return {}

    def _response(self, status: str, spec: dict[str, Any]) -> ResponseSpec:
        media = {
            name: self.resolve((value or {}).get("schema") or {})
            for name, value in (spec.get("content") or {}).items()
        }
        headers = {name: self.resolve(value) for name, value in (spec.get("headers") or {}).items()}
        return ResponseSpec(status, media, headers)

    @cached_property
    def by_id(self) -> dict[str, Operation]:
        return {op.operation_id: op for op in self.operations}

    def operation(self, operation_id: str) -> Operation:
        try:
            return self.by_id[operation_id]
        except KeyError:
            raise DocumentError(
                f"{self.source}: no operation {operation_id!r}; "
                f"it has {', '.join(sorted(self.by_id)) or 'none'}"
            ) from None

    @cached_property
    def security_schemes(self) -> dict[str, SecurityScheme]:
        schemes = (self.raw.get("components") or {}).get("securitySchemes") or {}
        out: dict[str, SecurityScheme] = {}
        for name, spec in schemes.items():
            spec = self.resolve(spec)
            out[name] = SecurityScheme(
                name=name,
                type=str(spec.get("type", "")),
                scheme=spec.get("scheme"),
                location=spec.get("in"),
                parameter=spec.get("name"),
                flows=spec.get("flows") or {},
                raw=spec,
            )
        return out

    def schemes_used(self) -> list[SecurityScheme]:
        """The schemes some operation requires, in the order the document declares them."""
        names = {name for op in self.operations for alt in op.security for name in alt}
        return [s for n, s in self.security_schemes.items() if n in names]

    # --- routing -------------------------------------------------------------------

    @cached_property
    def _routes(self) -> list[Route]:
        return compile_routes(self.operations, self.base_path)

    def find(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation serving `method path` (a full request path, query excluded)."""
        return find_route(self._routes, method, path)

    def methods_at(self, path: str) -> list[str]:
        """The methods the document allows at a full request path (for 405 vs 404)."""
        return route_methods(self._routes, path)


Route = tuple[re.Pattern[str], tuple[str, ...], Operation]


def compile_routes(
    operations: Iterable[Operation], base_path: str, *, trailing_slash: bool = False
) -> list[Route]:
    """One pattern per operation under `base_path`, literal segments first
    (/users/me before /users/{id}); `trailing_slash`: `/books/` is `/books` too."""
    routes = []
    end = "/?$" if trailing_slash else "$"
    for op in operations:
        names = tuple(re.findall(r"\{([^}]+)\}", op.path))
        regex = "".join(
            "([^/]+)" if m.group(1) else re.escape(m.group(2))
            for m in re.finditer(r"\{([^}]+)\}|([^{]+)", op.path)
        )
        routes.append((re.compile(f"^{re.escape(base_path)}{regex}{end}"), names, op))
    routes.sort(key=lambda r: -len(re.sub(r"\{[^}]+\}", "", r[2].path)))
    return routes


def find_route(
    routes: list[Route], method: str, path: str
) -> tuple[Operation, dict[str, str]] | None:
    wanted = method.upper()
    for regex, names, op in routes:
        if op.method != wanted:
            continue
        found = regex.match(path)
        if found:
            return op, {n: unquote(v) for n, v in zip(names, found.groups(), strict=True)}
    return None


def route_methods(routes: list[Route], path: str) -> list[str]:
    return sorted({op.method for regex, _, op in routes if regex.match(path)})


def load_document(source: str | Path, *, validate: bool = True) -> Document:
    """Load (from a file or an http(s) URL), validate and wrap an OpenAPI 3.x document."""
    text, base = _read(str(source))
    raw = _parse(text, str(source))
    if validate:
        validate_document(raw, str(source))
    elif not isinstance(raw, dict):
        raise DocumentError(f"{source}: an OpenAPI document is a mapping")
    return Document(raw, str(source), base)


def document_from_dict(raw: dict[str, Any], source: str = "document") -> Document:
    validate_document(raw, source)
    return Document(json.loads(json.dumps(raw)), source)
