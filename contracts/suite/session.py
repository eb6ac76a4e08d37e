"""The suite's own session with the server under test, for any API: it signs
in the way the configuration says (`contracts/auth_plan.py`), keeps the token
fresh, and adds what a gateway needs.

- `SessionKeeper` holds one login session. `access_token()` refreshes ahead of
  expiry when the answer said how long the token lives; `renew(rejected)`
  answers a 401: refresh when the API can, else sign in again. Without an
  identity it registers a throwaway account (the register role). Thread-safe:
  schemathesis's workers share it.
- `SuiteAuth` is a `requests` auth: it adds static headers, `X-API-Key` and the
  harness's request signature (`contracts/signing.py`) to the prepared request,
  after the body is final, so the signature covers exactly the bytes sent.
- Fuzzed updates of the current user may change the identity's email or
  password; the keeper follows a successful change (`follow_update`) and
  `restore_profile()` puts the original values back at the end of a run.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import requests
import requests.auth

from contracts import signing
from contracts.auth_plan import AuthPlan, Exchange
from contracts.document import Document, Operation
from contracts.templates import (
    EXPIRES_NAMES,
    REFRESH_NAMES,
    TOKEN_NAMES,
    TemplateError,
    fields_in,
    find_pointer,
    generated_identity,
    get_pointer,
    names_in,
    render,
)

# Refresh this long before the server's expiry, so no request carries a token in its last moments.
EXPIRY_MARGIN_S = 5.0
REQUEST_TIMEOUT_S = 10.0


class SessionError(RuntimeError):
    """The suite could not sign in; the message says what the server answered."""


@dataclass(frozen=True)
class Credentials:
    """An account given on the command line: the primary identity's email and password."""

    email: str
    password: str

    def __repr__(self) -> str:  # never print a password
        return f"Credentials(email={self.email!r}, password='***')"

    def identity(self) -> dict[str, str]:
        return {"email": self.email, "password": self.password, "username": self.email}


@dataclass(frozen=True)
class Gateway:
    """What a deployment may require of every request besides the session token."""

    api_key: str | None = None
    signing_secret: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


class SuiteAuth(requests.auth.AuthBase):
    """Adds the gateway's headers and signature to a prepared request (and a token, if given)."""

    def __init__(
        self, gateway: Gateway, token: str | None = None, plan: AuthPlan | None = None
    ) -> None:
        self.gateway = gateway
        self.token = token
        self.plan = plan

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        for name, value in self.gateway.headers:
            request.headers.setdefault(name, value)
        placement = self.plan.placement if self.plan is not None else None
        if self.token is not None and placement is not None and placement.location == "header":
            request.headers[placement.name] = placement.value(self.token)
        if self.gateway.api_key is not None:
            request.headers[signing.API_KEY_HEADER] = self.gateway.api_key
        if self.gateway.signing_secret is not None:
            body = request.body or b""
            raw = body.encode() if isinstance(body, str) else body
            if not isinstance(raw, bytes):
                raise TypeError("SuiteAuth signs whole bodies, not streamed ones")
            timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
            request.headers[signing.TIMESTAMP_HEADER] = timestamp
            request.headers[signing.NONCE_HEADER] = nonce
            request.headers[signing.SIGNATURE_HEADER] = signing.sign(
                self.gateway.signing_secret,
                timestamp,
                nonce,
                request.method or "GET",
                request.path_url,
                raw,
            )
        return request


@dataclass
class _Tokens:
    access: str
    refresh: str | None
    expires_at: float | None  # time.monotonic(); None: the answer did not say


@dataclass(frozen=True)
class SessionStats:
    logins: int
    registrations: int
    refreshes: int
    rejected_refreshes: int


def path_of(operation: Operation, params: Mapping[str, Any] | None = None) -> str:
    """The operation's path with its path parameters filled in."""
    path = operation.path
    for name, value in (params or {}).items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    return path


class SessionKeeper:
    def __init__(
        self,
        base_url: str,
        plan: AuthPlan,
        document: Document | None = None,
        gateway: Gateway | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.plan = plan
        self.document = document
        self.gateway = gateway or Gateway(plan.api_key, plan.signing_secret)
        self._identity: dict[str, str] | None = (
            dict(plan.identities[0]) if plan.identities else None
        )
        self._original_identity = dict(self._identity) if self._identity else None
        self._http = requests.Session()
        self._lock = threading.RLock()
        self._tokens: _Tokens | None = None
        self._original_profile: Any = None
        self._issued: set[str] = set()
        self._signed_in = False
        self._logins = self._registrations = self._refreshes = self._rejected = 0

    # --- plumbing ----------------------------------------------------------------

    def send(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """One request to the server under test, with the gateway's headers (and a token)."""
        url = path if "://" in path else self.base_url + path
        kwargs.setdefault("timeout", REQUEST_TIMEOUT_S)
        placement = self.plan.placement
        if token is not None and placement is not None and placement.location != "header":
            where = "params" if placement.location == "query" else "cookies"
            kwargs[where] = {**(kwargs.get(where) or {}), placement.name: placement.value(token)}
        return self._http.request(
            method,
            url,
            auth=SuiteAuth(self.gateway, token, self.plan),
            allow_redirects=False,
            **kwargs,
        )

    def call(
        self,
        operation: Operation,
        *,
        params: Mapping[str, Any] | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        return self.send(operation.method, path_of(operation, params), token=token, **kwargs)

    def close(self) -> None:
        self._http.close()

    @property
    def stats(self) -> SessionStats:
        return SessionStats(self._logins, self._registrations, self._refreshes, self._rejected)

    @property
    def plan_update(self) -> Operation | None:
        """The operation that changes the signed-in account (its identity may change)."""
        return self.plan.update_current_user

    @property
    def identity(self) -> dict[str, str] | None:
        return dict(self._identity) if self._identity else None

    def secrets(self) -> set[str]:
        """Values that must not be printed (tokens issued, passwords, keys)."""
        found = set(self._issued)
        # Not the current identity: a password the fuzzer set ("00000000") is no secret,
        # and masking it would garble every message that contains those characters.
        for identity in (self._original_identity, *self.plan.identities):
            if identity and identity.get("password"):
                found.add(identity["password"])
        for creds in self.plan.static.values():
            found.update(v for v in (creds.token, creds.password, creds.client_secret) if v)
        found.update(v for v in (self.gateway.api_key, self.gateway.signing_secret) if v)
        return {s for s in found if len(s) >= 4}

    # --- tokens in answers -------------------------------------------------------

    def _take(self, response: requests.Response, exchange: Exchange, role: str) -> _Tokens:
        label = f"{role} ({exchange.operation.label})"
        if not 200 <= response.status_code < 300:
            raise SessionError(f"{label} answered {response.status_code}: {response.text[:300]}")
        try:
            body = response.json()
        except ValueError:
            raise SessionError(f"{label} answered no JSON: {response.text[:300]!r}") from None
        pointer = exchange.token or find_pointer(body, TOKEN_NAMES)
        if pointer is None:
            raise SessionError(
                f"{label} answered no token this harness can find; set auth.{role}.token "
                f"to its JSON pointer (keys of the answer: {_shape(body)})"
            )
        try:
            access = get_pointer(body, pointer)
        except KeyError:
            raise SessionError(
                f"auth.{role}.token: {pointer} matches nothing in the {role} answer "
                f"(keys of the answer: {_shape(body)})"
            ) from None
        if not isinstance(access, str) or not access:
            raise SessionError(f"auth.{role}.token: {pointer} is {type(access).__name__}, no token")
        refresh = self._optional(body, exchange.refresh_token, REFRESH_NAMES, role, "refresh_token")
        expires = self._optional(body, exchange.expires_in, EXPIRES_NAMES, role, "expires_in")
        expires_at = None
        if isinstance(expires, int | float) or (isinstance(expires, str) and expires.isdigit()):
            expires_at = time.monotonic() + float(expires)
        tokens = _Tokens(access, refresh if isinstance(refresh, str) else None, expires_at)
        self._issued.update(t for t in (tokens.access, tokens.refresh) if t)
        self._tokens = tokens
        return tokens

    @staticmethod
    def _optional(
        body: Any, pointer: str | None, names: tuple[str, ...], role: str, what: str
    ) -> Any:
        if pointer is None:
            found = find_pointer(body, names)
            return get_pointer(body, found) if found else None
        try:
            return get_pointer(body, pointer)
        except KeyError:
            raise SessionError(
                f"auth.{role}.{what}: {pointer} matches nothing in the {role} answer "
                f"(keys of the answer: {_shape(body)})"
            ) from None

    # --- signing in --------------------------------------------------------------

    def _exchange(self, exchange: Exchange, role: str, values: Mapping[str, Any]) -> _Tokens:
        try:
            body = render(exchange.body, values) if exchange.body is not None else None
        except TemplateError as e:
            raise SessionError(f"auth.{role}.body: {e}") from None
        answer = self.call(exchange.operation, json=body)
        return self._take(answer, exchange, role)

    def login(self) -> str:
        """A fresh session: log in, register a throwaway account, or use an OAuth flow.

        When the identity no longer signs in (a fuzzed call deleted the account or
        changed its password) and the API can register, a new account takes over."""
        with self._lock:
            plan = self.plan
            if plan.oauth is not None:
                return self._oauth_login()
            if self._identity is None and plan.register is not None:
                return self._register()
            if plan.login is None or self._identity is None:
                raise SessionError(
                    "no way to sign in: the configuration names no login role with an identity, "
                    "no register role and no OAuth credentials"
                )
            self._logins += 1
            try:
                tokens = self._exchange(plan.login, "login", self._identity)
            except SessionError:
                if plan.register is None or not self._signed_in:
                    raise  # the first sign-in: the configuration is wrong, say so
                return self._register()
            self._signed_in = True
            self._remember_profile(tokens.access)
            return tokens.access

    def _register(self) -> str:
        assert self.plan.register is not None
        self._identity = generated_identity(names_in(self.plan.register.body) | {"email"})
        if self._original_identity is None:
            self._original_identity = dict(self._identity)
        self._registrations += 1
        tokens = self._exchange(self.plan.register, "register", self._identity)
        self._signed_in = True
        self._remember_profile(tokens.access)
        return tokens.access

    def _oauth_login(self) -> str:
        flow = self.plan.oauth
        assert flow is not None
        creds = self.plan.static[flow.scheme]
        form: dict[str, str] = {"grant_type": flow.grant}
        if flow.grant == "password":
            form |= {"username": creds.username or "", "password": creds.password or ""}
        if creds.scopes:
            form["scope"] = " ".join(creds.scopes)
        auth = (creds.client_id, creds.client_secret or "") if creds.client_id else None
        url = flow.token_url if "://" in flow.token_url else self.base_url + flow.token_url
        self._logins += 1
        answer = self._http.post(url, data=form, auth=auth, timeout=REQUEST_TIMEOUT_S)
        op = Operation("oauth2-token", "POST", flow.token_url, (), {}, False, (), ())
        return self._take(answer, Exchange(op, None, "/access_token"), "oauth2").access

    def _remember_profile(self, access: str) -> None:
        current = self.plan.current_user
        if self._original_profile is not None or current is None:
            return
        answer = self.call(current, token=access)
        if answer.status_code == 200:
            with contextlib.suppress(ValueError):
                self._original_profile = answer.json()

    def static_token(self) -> str | None:
        """A token given in the configuration for the session's scheme, if any."""
        placement = self.plan.placement
        if placement is None or placement.scheme is None:
            return None
        creds = self.plan.static.get(placement.scheme)
        return creds.token if creds is not None else None

    def access_token(self) -> str | None:
        """The current token (refreshed first when about to expire); None: no session."""
        with self._lock:
            static = self.static_token()
            if static is not None:
                return static
            if not self.plan.has_session:
                return None
            tokens = self._tokens
            if tokens is None:
                return self.login()
            if tokens.expires_at is None or time.monotonic() < tokens.expires_at - EXPIRY_MARGIN_S:
                return tokens.access
            return self._refresh_or_login(tokens)

    def renew(self, rejected: str | None) -> str | None:
        """After a 401 for `rejected`: a new token (one renewal however many workers saw it)."""
        with self._lock:
            if self.static_token() is not None or not self.plan.has_session:
                return self.access_token()
            tokens = self._tokens
            if tokens is None:
                return self.login()
            if rejected is not None and rejected != tokens.access:
                return tokens.access  # another worker already renewed it
            return self._refresh_or_login(tokens)

    def _refresh_or_login(self, tokens: _Tokens) -> str:
        refresh = self.plan.refresh
        if refresh is not None and tokens.refresh is not None:
            self._refreshes += 1
            try:
                return self._exchange(refresh, "refresh", {"refresh_token": tokens.refresh}).access
            except SessionError:
                self._rejected += 1
        return self.login()

    # --- the account's profile ---------------------------------------------------

    def follow_update(self, access_token: str, request_body: Any) -> None:
        """A successful update of the current user by this session: later logins use the
        identity fields (email, password, ...) it set."""
        login = self.plan.login
        with self._lock:
            if self._tokens is None or access_token != self._tokens.access or login is None:
                return
            if self._identity is None:
                return
            changed = {
                k: v for k, v in fields_in(login.body, request_body).items() if isinstance(v, str)
            }
            if changed:
                self._identity = self._identity | changed

    def restore_profile(self, update: Operation | None) -> bool:
        """Put the configured account back as the run found it; True if it signs in as before.

        A fuzzed call may have changed its email or password (put back through the update
        operation) or deleted it (registered again with its configured fields)."""
        original, identity = self._original_profile, self._original_identity
        if identity is None or not self.plan.identities or self.plan.login is None:
            return False
        with self._lock:
            if self._signs_in(identity):
                return True
            if self._identity != identity and update is not None and self.document is not None:
                schema: Any = {}
                for media, found in update.request_media_types.items():
                    if "json" in media:
                        schema = self.document.deref(found)
                token = self.access_token()
                body = _project(original or {}, schema, identity)
                self.call(update, token=token, json=body)
                if self._signs_in(identity):
                    return True
            if self.plan.register is not None:
                with contextlib.suppress(SessionError, requests.RequestException):
                    self._exchange(self.plan.register, "register", identity)
            return self._signs_in(identity)

    def _signs_in(self, identity: dict[str, str]) -> bool:
        assert self.plan.login is not None
        try:
            self._exchange(self.plan.login, "login", identity)
        except (SessionError, requests.RequestException):
            return False
        self._identity = dict(identity)
        return True

    def deletes_account(self, operation: Operation) -> bool:
        """A DELETE of the signed-in account (the current user's path)."""
        current = self.plan.current_user
        return (
            current is not None and operation.method == "DELETE" and operation.path == current.path
        )

    def throwaway_token(self) -> str | None:
        """A token of a fresh account (None when the API cannot register one)."""
        if self.plan.register is None:
            return None
        other = SessionKeeper(
            self.base_url, replace(self.plan, identities=()), self.document, self.gateway
        )
        try:
            token = other.login()
        except (SessionError, requests.RequestException):
            return None
        finally:
            other.close()
        self._issued.add(token)
        self._registrations += 1
        return token

    def with_identity(self, identity: dict[str, str]) -> SessionKeeper:
        """Another session of the same API for another account (same plan and gateway)."""
        plan = replace(self.plan, identities=(identity,))
        return SessionKeeper(self.base_url, plan, self.document, self.gateway)


def _project(value: Any, schema: Any, identity: Mapping[str, str]) -> Any:
    """`value` cut to what `schema` accepts, identity fields put back (passwords too)."""
    if not isinstance(schema, dict) or not isinstance(value, dict):
        return value
    properties = schema.get("properties") or {}
    out = {k: _project(v, properties[k], identity) for k, v in value.items() if k in properties}
    for name in properties:
        if name in identity and (name not in out or isinstance(out[name], str)):
            out[name] = identity[name]
    return {k: v for k, v in out.items() if v is not None or k in (schema.get("required") or [])}


def _shape(body: Any) -> str:
    if isinstance(body, dict):
        return ", ".join(
            f"{k}{{{_shape(v)}}}" if isinstance(v, dict) else str(k)
            for k, v in list(body.items())[:12]
        )
    return type(body).__name__


def token_in(headers: Any, plan: AuthPlan) -> str | None:
    """The session token a request carried in its header, if any."""
    placement = plan.placement
    if headers is None or placement is None or placement.location != "header":
        return None
    value = None
    for key, found in headers.items():
        if key.lower() == placement.name.lower():
            value = found
    if isinstance(value, list):  # schemathesis keeps response-side headers as lists
        value = value[0] if value else None
    return placement.token_of(value)
