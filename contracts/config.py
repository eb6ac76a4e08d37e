"""The harness configuration: what a team writes once about its API.

    # harness.yaml
    spec: openapi.yaml                 # a file (relative to this one) or a URL
    base_url: http://127.0.0.1:8000    # the server `harness contract` checks
    roles:                             # what the document's operations are for
      login: Login
      register: CreateUser
      current_user: GetCurrentUser
    auth:
      scheme: Token                    # the securitySchemes entry the session token goes in
      prefix: Token                    # Authorization: Token <jwt>
      login:
        body: {user: {email: "{email}", password: "{password}"}}
        token: /user/token             # JSON pointer into the login answer
      identities:
        - {email: "${HARNESS_EMAIL}", password: "${HARNESS_PASSWORD}"}

Precedence, lowest first: defaults, the file, `HARNESS_*` environment
variables (one per scalar field, named by its path: `HARNESS_BASE_URL`,
`HARNESS_CONTRACT_MAX_EXAMPLES`, `HARNESS_AUTH_PREFIX`, ...), command-line
flags. Strings in the file may use `${NAME}` and `${NAME:-default}` to read
the environment (secrets stay out of the file). Without a file and without
`--spec`, the demo API's own configuration (`contracts/harness.yaml`) applies.

A bad file is rejected with its line, the field and the reason
(`ConfigError`); nothing of it is used.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts.yaml_source import dotted as _dotted
from contracts.yaml_source import line_of as _line_of

CONFIG_FILE = "harness.yaml"
DEMO_CONFIG_PATH = Path(__file__).with_name("harness.yaml")
ENV_PREFIX = "HARNESS_"

# What an operation can be for. Auth roles drive sessions (suite, mock, clients);
# resource roles let conformance rules and load users find a safe read, a create...
AUTH_ROLES = ("register", "login", "refresh", "logout", "current_user", "update_current_user")
RESOURCE_ROLES = ("read", "create", "list", "update", "delete")
ROLES = AUTH_ROLES + RESOURCE_ROLES
Role = Literal[
    "register", "login", "refresh", "logout", "current_user", "update_current_user",
    "read", "create", "list", "update", "delete",
]  # fmt: skip
PHASES = ("examples", "coverage", "fuzzing", "stateful")
# What `mock.behaviours` can switch on, beyond what a document states (docs/mock.md).
MOCK_BEHAVIOURS = {
    "idempotency_keys": "Idempotency-Key on every POST, not only where declared: the same key "
    "and body replay the first answer, another body is refused (422)",
    "link_pagination": "listings carry an RFC 8288 Link header (first, prev, next, last)",
    "total_count": "listings carry X-Total-Count, the number of items in the whole listing",
    "ownership": "an item belongs to the user who created it; others get 403 (or 404) on "
    "changes, and on reads that declare 403 and are not shared",
    "request_signing": "every request must be signed (X-App-* HMAC; auth.signing_secret)",
    "api_key": "every request must send X-API-Key (auth.api_key)",
    "strict_query": "a query parameter the operation does not declare is a 400",
    "problem_details": "every error is RFC 9457 problem+json, whatever shape the document declares",
}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenExchange(_Strict):
    """An operation that answers tokens (login, register, refresh) and how to read them."""

    body: Any = Field(
        None,
        description="The request body; strings name identity fields as {email}, {password}, "
        "{refresh_token}. Default: built from the operation's request schema.",
    )
    token: str | None = Field(
        None, description="JSON pointer of the access token in the answer (default: found)"
    )
    refresh_token: str | None = Field(
        None, description="JSON pointer of the refresh token (default: found, if any)"
    )
    expires_in: str | None = Field(
        None, description="JSON pointer of the lifetime in seconds (default: found, if any)"
    )

    @field_validator("token", "refresh_token", "expires_in")
    @classmethod
    def _pointer(cls, value: str | None) -> str | None:
        if value is not None and not (value == "" or value.startswith("/")):
            raise ValueError(f"{value!r} is not a JSON pointer (they start with /, e.g. /token)")
        return value


class Logout(_Strict):
    body: Any = None


class SchemeCredentials(_Strict):
    """Static credentials for one of the document's security schemes."""

    token: str | None = Field(None, description="bearer token or API key value")
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scopes: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never print a secret
        return f"SchemeCredentials({', '.join(k for k, v in self if v)})"


# `register` is a field here; pydantic warns that it shadows ABCMeta.register, unused.
warnings.filterwarnings("ignore", r'Field name "register" in "Auth" shadows', UserWarning)


class Auth(_Strict):
    scheme: str | None = Field(
        None, description="securitySchemes name the session token goes in (default: inferred)"
    )
    prefix: str | None = Field(
        None,
        description="what precedes the token in its header: Bearer for http bearer and "
        "oauth2, nothing for apiKey (set Token, JWT, ...)",
    )
    login: TokenExchange | None = None
    register: TokenExchange | None = None
    refresh: TokenExchange | None = None
    logout: Logout | None = None
    identities: tuple[dict[str, str], ...] = Field(
        (),
        description="accounts, first the one the suite uses; their fields fill body templates",
    )
    credentials: dict[str, SchemeCredentials] = Field(
        default_factory=dict, description="static credentials by security scheme name"
    )
    api_key: str | None = Field(None, description="X-API-Key sent on every request (gateways)")
    signing_secret: str | None = Field(
        None, description="sign every request (the harness's HMAC scheme, docs/mock.md)"
    )

    def __repr__(self) -> str:
        return f"Auth(scheme={self.scheme!r}, identities={len(self.identities)})"


class Security(_Strict):
    """The security checks (docs/contract-suite.md, "Security checks")."""

    enabled: bool = True
    shared_operations: tuple[str, ...] = Field(
        (), description="operationIds any signed-in identity may call on another's resource"
    )
    owner_only: tuple[str, ...] = Field(
        (), description="reads that belong to the resource's owner (probed without a 403)"
    )
    expiry_wait_s: float = Field(
        0.0, ge=0, le=600, description="wait at most this long for a short-lived token to expire"
    )
    privileged_identity: int | None = Field(
        None, ge=0, description="index in auth.identities of the high-privilege account"
    )
    privileged_operations: tuple[str, ...] = Field(
        (), description="operationIds only the privileged identity may call"
    )
    privileged_scopes: tuple[str, ...] = Field(
        (), description="security scopes that reserve an operation for the privileged identity"
    )


class Contract(_Strict):
    max_examples: int = Field(25, ge=1, description="cases per operation and phase")
    workers: int = Field(2, ge=1, le=64)
    phases: tuple[str, ...] = PHASES
    checks: tuple[str, ...] | None = Field(None, description="only these checks (by name)")
    exclude_checks: tuple[str, ...] = ()
    lifecycle: bool = True
    seed: int | None = None
    request_timeout_s: float = Field(10.0, gt=0)
    security: Security = Field(default_factory=Security)

    @field_validator("phases")
    @classmethod
    def _phases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(PHASES))
        if unknown:
            raise ValueError(f"unknown phases {unknown}; known: {', '.join(PHASES)}")
        return value


class Resource(_Strict):
    id_field: str | None = Field(None, description="the item's id field (default: inferred)")
    seed_items: int | None = Field(None, ge=0, le=10_000, description="items seeded at start")
    seed_owner: str | None = Field(
        None, description="id of the account (mock.accounts) that owns the seeded items"
    )


class Mock(_Strict):
    seed: int = 1
    items_per_resource: int = Field(20, ge=0, le=10_000)
    behaviours: tuple[str, ...] = Field(
        (), description="named behaviours to switch on (docs/mock.md lists them)"
    )
    resources: dict[str, Resource] = Field(default_factory=dict)
    accounts: tuple[dict[str, str], ...] = Field(
        (),
        description="accounts the mock starts with, beside auth.identities (their fields, "
        "an `id` among them, fill the current user's answer)",
    )

    @field_validator("behaviours")
    @classmethod
    def _behaviours(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in MOCK_BEHAVIOURS]
        if unknown:
            known = ", ".join(MOCK_BEHAVIOURS)
            raise ValueError(f"unknown behaviours {unknown}; known: {known}")
        return value


class HarnessConfig(_Strict):
    spec: str | None = Field(None, description="OpenAPI document: a file or an http(s) URL")
    base_url: str | None = Field(None, description="the server under test")
    base_path: str | None = Field(
        None, description="path the API is mounted under (default: from servers[0].url)"
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="sent with every request (like schemathesis -H)"
    )
    roles: dict[Role, str] = Field(default_factory=dict, description="role -> operationId")
    auth: Auth = Field(default_factory=Auth)
    contract: Contract = Field(default_factory=Contract)
    mock: Mock = Field(default_factory=Mock)
    # Where it was read from (None: defaults only); relative paths resolve against it.
    source: str | None = Field(None, exclude=True)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value

    def __repr__(self) -> str:
        return f"HarnessConfig(spec={self.spec!r}, base_url={self.base_url!r}, roles={self.roles})"

    @property
    def spec_location(self) -> str | None:
        """The spec as a path or URL that can be opened from the current directory."""
        if self.spec is None or urlsplit(self.spec).scheme in ("http", "https"):
            return self.spec
        path = Path(self.spec)
        if not path.is_absolute() and self.source is not None:
            path = Path(self.source).parent / path
        return str(path)

    def role(self, role: Role) -> str | None:
        return self.roles.get(role)

    def updated(self, changes: Mapping[str, Any]) -> HarnessConfig:
        """A copy with dotted-path changes (`{"contract.max_examples": 5}`) applied and checked."""
        data = self.model_dump(exclude_none=False)
        for dotted, value in changes.items():
            if value is None:
                continue
            *parents, leaf = dotted.split(".")
            node = data
            for part in parents:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node[leaf] = value
        updated = _validated(data, self.source, lambda loc: _dotted(loc))
        return updated.model_copy(update={"source": self.source})  # relative paths still work


# --- reading ------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(node: Any, source: str, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):

        def value(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{source}: ${{{name}}} is not set in the environment")

        return _VARIABLE.sub(value, node)
    if isinstance(node, dict):
        return {k: _interpolate(v, source, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, source, env) for v in node]
    return node


def _scalar_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Dotted paths of every scalar field: the ones an environment variable can set."""
    paths = []
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        annotation = info.annotation
        if annotation is Any or _is_container(annotation):
            continue
        sub = next(
            (a for a in getattr(annotation, "__args__", (annotation,)) if _is_model(a)), None
        )
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            paths += _scalar_fields(sub, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_container(annotation: Any) -> bool:
    origin = getattr(annotation, "__origin__", None)
    args = getattr(annotation, "__args__", ())
    return origin in (dict, list, tuple) or any(_is_container(a) for a in args if a is not None)


def environment_variables() -> dict[str, str]:
    """`HARNESS_*` name -> the dotted field it sets (for docs and --help)."""
    return {
        ENV_PREFIX + "_".join(path).upper(): ".".join(path)
        for path in _scalar_fields(HarnessConfig)
    }


def _from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name, dotted in environment_variables().items():
        if env.get(name):
            changes[dotted] = env[name]
    return changes


def find_config_file(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """--config, else HARNESS_CONFIG, else ./harness.yaml when it exists."""
    if explicit is not None:
        return Path(explicit)
    if env.get("HARNESS_CONFIG"):
        return Path(env["HARNESS_CONFIG"])
    here = Path(CONFIG_FILE)
    return here if here.is_file() else None


def parse_config(text: str, source: str, env: Mapping[str, str] | None = None) -> HarnessConfig:
    env = os.environ if env is None else env
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigError(f"{source}: {line}invalid YAML: {getattr(e, 'problem', e)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a configuration is a mapping of settings")
    data = _interpolate(data, source, env)
    return _validated(data, source, lambda loc: f"line {_line_of(root, loc)}: {_dotted(loc)}")


def load_config(
    path: str | Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    default: Path | None = DEMO_CONFIG_PATH,
) -> HarnessConfig:
    """The configuration in force: file (or `default`), then HARNESS_* variables, then
    `overrides` (command-line flags, dotted paths). `default=None`: no file means defaults."""
    env = os.environ if env is None else env
    file = find_config_file(path, env)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if (
        file is None
        and default is not None
        and "spec" not in overrides
        and not env.get(ENV_PREFIX + "SPEC")
    ):
        file = default
    if file is None:
        config = HarnessConfig()
    else:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{file}: {e.strerror or e}") from None
        config = parse_config(text, str(file), env).model_copy(update={"source": str(file)})
    source = config.source
    config = config.updated(_from_environment(env) | dict(overrides))
    return config.model_copy(update={"source": source})


def _validated(data: dict[str, Any], source: str | None, where: Any) -> HarnessConfig:
    try:
        return HarnessConfig.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown setting" + _suggestion(first["loc"])
        where_ = where(tuple(first["loc"]))
        raise ConfigError(f"{source or 'configuration'}: {where_}: {message}") from None


def _suggestion(loc: tuple[Any, ...]) -> str:
    import difflib

    model: Any = HarnessConfig
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        args = getattr(field.annotation, "__args__", (field.annotation,))
        model = next((a for a in args if _is_model(a)), None)
        if model is None:
            return ""
    known = list(getattr(model, "model_fields", {}))
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(known)}"
