"""How a session with any API is obtained and carried, decided once from the
configuration and the document, before any request is sent.

`plan_auth(config, document)` binds the configured roles to operations, picks
the security scheme the session token travels in (and its prefix), and fills
what the configuration leaves out from the document: a login body built from
the login operation's request schema, the token's place in the answer found
by name. Everything wrong with that binding is a `ConfigError` naming the
setting, so a bad configuration fails before the first case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from contracts.config import ConfigError, HarnessConfig, SchemeCredentials, TokenExchange
from contracts.document import Document, Operation, SecurityScheme
from contracts.templates import names_in

IDENTITY_FIELDS = ("email", "username", "password", "login", "name", "phone")


@dataclass(frozen=True)
class Exchange:
    """An operation that answers tokens: what to send, where the tokens are in the answer."""

    operation: Operation
    body: Any
    token: str | None = None  # JSON pointer; None: find it by name
    refresh_token: str | None = None
    expires_in: str | None = None


@dataclass(frozen=True)
class Placement:
    """Where the session token goes in a request."""

    scheme: str | None  # the securitySchemes name (None: not in the document)
    location: str  # header, query, cookie
    name: str  # e.g. Authorization
    prefix: str  # e.g. "Bearer " (with its space), "" for a bare key

    def value(self, token: str) -> str:
        return f"{self.prefix}{token}"

    def token_of(self, value: str | None) -> str | None:
        """The token in a header value this placement wrote, if it is one."""
        if not isinstance(value, str) or not value.startswith(self.prefix):
            return None
        return value.removeprefix(self.prefix) or None


@dataclass(frozen=True)
class OAuthFlow:
    scheme: str
    grant: str  # password, client_credentials
    token_url: str  # absolute, or relative to the server URL


@dataclass(frozen=True)
class AuthPlan:
    placement: Placement | None = None
    login: Exchange | None = None
    register: Exchange | None = None
    refresh: Exchange | None = None
    logout: Operation | None = None
    current_user: Operation | None = None
    update_current_user: Operation | None = None
    identities: tuple[dict[str, str], ...] = ()
    static: dict[str, SchemeCredentials] = field(default_factory=dict)
    oauth: OAuthFlow | None = None
    api_key: str | None = None
    signing_secret: str | None = None

    @property
    def has_session(self) -> bool:
        """Some way to obtain a session token at run time."""
        return self.placement is not None and (
            self.login is not None or self.register is not None or self.oauth is not None
        )

    def carries_session(self, operation: Operation) -> bool:
        """The session token goes on this operation: one of its alternatives names its scheme
        (or the token's scheme is not in the document and the operation is secured)."""
        if self.placement is None:
            return False
        if self.placement.scheme is None:
            return operation.secured
        return any(self.placement.scheme in alt for alt in operation.security)


def _role_operation(config: HarnessConfig, document: Document, role: str) -> Operation | None:
    operation_id = config.roles.get(role)  # type: ignore[call-overload]
    if operation_id is None:
        return None
    if operation_id not in document.by_id:
        known = ", ".join(sorted(document.by_id)) or "none"
        raise ConfigError(
            f"roles.{role}: the document has no operation {operation_id!r} (it has: {known})"
        )
    return document.by_id[operation_id]


def _json_schema(document: Document, operation: Operation) -> dict[str, Any]:
    for media, schema in operation.request_media_types.items():
        if "json" in media:
            resolved = document.deref(schema)
            return resolved if isinstance(resolved, dict) else {}
    return {}


def body_template(document: Document, operation: Operation, fields: set[str]) -> Any:
    """A body for a token operation from its request schema: each property named like a
    field the identity has, inside the one wrapper object the schema may have."""
    schema = _json_schema(document, operation)
    properties = schema.get("properties") or {}
    named = {name: f"{{{name}}}" for name in properties if name in fields}
    if named:
        return named
    required = schema.get("required") or list(properties)
    if len(required) == 1 and isinstance(properties.get(required[0]), dict):
        inner = body_template_from_schema(properties[required[0]], fields)
        if inner:
            return {required[0]: inner}
    return None


def body_template_from_schema(schema: dict[str, Any], fields: set[str]) -> dict[str, str]:
    return {n: f"{{{n}}}" for n in (schema.get("properties") or {}) if n in fields}


def _exchange(
    document: Document,
    operation: Operation | None,
    configured: TokenExchange | None,
    fields: set[str],
    role: str,
) -> Exchange | None:
    if operation is None:
        if configured is not None:
            raise ConfigError(f"auth.{role} is set, but roles.{role} names no operation")
        return None
    body = configured.body if configured is not None else None
    if body is None:
        body = body_template(document, operation, fields)
    if body is None and operation.request_media_types:
        raise ConfigError(
            f"auth.{role}.body: cannot build the body of {operation.operation_id} from its "
            f"schema; write it as a template, e.g. {{email: '{{email}}', password: '{{password}}'}}"
        )
    return Exchange(
        operation,
        body,
        configured.token if configured else None,
        configured.refresh_token if configured else None,
        configured.expires_in if configured else None,
    )


def _placement(config: HarnessConfig, document: Document) -> Placement | None:
    schemes = document.security_schemes
    name = config.auth.scheme
    if name is not None and name not in schemes:
        known = ", ".join(schemes) or "none"
        raise ConfigError(
            f"auth.scheme: the document declares no security scheme {name!r} (it has: {known})"
        )
    scheme: SecurityScheme | None = schemes[name] if name else None
    if scheme is None:
        scheme = next((s for s in document.schemes_used() if s.carries_token), None)
    if scheme is None:
        if config.auth.prefix is None:
            return None
        return Placement(None, "header", "Authorization", _prefix(config.auth.prefix))
    if not scheme.carries_token:
        raise ConfigError(f"auth.scheme: {scheme.name} ({scheme.type}) cannot carry a token")
    default_prefix = "" if scheme.type == "apiKey" else "Bearer"
    prefix = _prefix(config.auth.prefix if config.auth.prefix is not None else default_prefix)
    if scheme.type == "apiKey":
        return Placement(scheme.name, scheme.location or "header", scheme.parameter or "", prefix)
    return Placement(scheme.name, "header", "Authorization", prefix)


def _prefix(prefix: str) -> str:
    return f"{prefix.strip()} " if prefix.strip() else ""


def _oauth(config: HarnessConfig, document: Document) -> OAuthFlow | None:
    for scheme in document.schemes_used():
        if scheme.type != "oauth2" or scheme.name not in config.auth.credentials:
            continue
        creds = config.auth.credentials[scheme.name]
        for flow, grant in (("password", "password"), ("clientCredentials", "client_credentials")):
            spec = scheme.flows.get(flow)
            wanted = (creds.username and creds.password) if grant == "password" else creds.client_id
            if isinstance(spec, dict) and spec.get("tokenUrl") and wanted:
                url = urljoin(document.server_url.rstrip("/") + "/", str(spec["tokenUrl"]))
                return OAuthFlow(scheme.name, grant, url)
    return None


def _update_of(document: Document, current: Operation | None) -> Operation | None:
    """Without an update_current_user role: a PUT or PATCH on the current user's path."""
    if current is None:
        return None
    return next(
        (
            op
            for op in document.operations
            if op.path == current.path and op.method in ("PUT", "PATCH")
        ),
        None,
    )


def plan_auth(config: HarnessConfig, document: Document) -> AuthPlan:
    auth = config.auth
    for role in config.roles:
        _role_operation(config, document, role)  # every role names a real operation
    for name in auth.credentials:
        if name not in document.security_schemes:
            known = ", ".join(document.security_schemes) or "none"
            raise ConfigError(f"auth.credentials.{name}: no such security scheme (has: {known})")
    fields = set(IDENTITY_FIELDS).union(*(set(i) for i in auth.identities))
    login = _exchange(
        document, _role_operation(config, document, "login"), auth.login, fields, "login"
    )
    register = _exchange(
        document, _role_operation(config, document, "register"), auth.register, fields, "register"
    )
    refresh = _exchange(
        document,
        _role_operation(config, document, "refresh"),
        auth.refresh,
        {"refresh_token", "refreshToken"},
        "refresh",
    )
    if login is not None and not auth.identities and register is None:
        raise ConfigError(
            "auth.identities: roles.login is set but no identity is given and no register "
            "role can create one; add an identity (e.g. {email: ..., password: ...})"
        )
    for identity_index, identity in enumerate(auth.identities):
        if login is not None:
            missing = names_in(login.body) - set(identity)
            if missing:
                raise ConfigError(
                    f"auth.identities.{identity_index}: the login body names "
                    f"{', '.join(sorted(missing))}, which this identity does not give"
                )
    return AuthPlan(
        placement=_placement(config, document),
        login=login,
        register=register,
        refresh=refresh,
        logout=_role_operation(config, document, "logout"),
        current_user=_role_operation(config, document, "current_user"),
        update_current_user=_role_operation(config, document, "update_current_user")
        or _update_of(document, _role_operation(config, document, "current_user")),
        identities=auth.identities,
        static=dict(auth.credentials),
        oauth=_oauth(config, document),
        api_key=auth.api_key,
        signing_secret=auth.signing_secret,
    )
