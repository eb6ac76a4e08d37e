"""The suite's own session with the server under test: it logs in, keeps the
token fresh, and signs what it sends.

- `SessionKeeper` holds one login session. `access_token()` refreshes ahead of
  expiry (`expires_in`, on this process's clock); `renew(rejected)` answers a
  401: refresh, and log in again if the refresh token is refused. Without
  credentials it registers a throwaway user first. Thread-safe: workers share it.
- `SuiteAuth` is a `requests` auth: it adds `X-API-Key` and the request
  signature (`contracts/signing.py`) to the prepared request, after the body
  is final, so the signature covers exactly the bytes sent.
- Generated `updateProfile` calls may change the account's email; the keeper
  follows the change (`follow_profile`) and `restore_profile()` puts the
  account's name and email back at the end of a run.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests
import requests.auth

from contracts import signing

API = "/v1"
# Refresh this long before the server's expiry, so no request carries a token in its last moments.
EXPIRY_MARGIN_S = 5.0
REQUEST_TIMEOUT_S = 10.0


class SessionError(RuntimeError):
    """The suite could not sign in; the message says what the server answered."""


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str

    def __repr__(self) -> str:  # never print a password
        return f"Credentials(email={self.email!r}, password='***')"


@dataclass(frozen=True)
class Gateway:
    """What a deployment may require of every request besides the bearer token."""

    api_key: str | None = None
    signing_secret: str | None = None


class SuiteAuth(requests.auth.AuthBase):
    """Adds the API key and the signature to a prepared request (and a bearer, if given)."""

    def __init__(self, gateway: Gateway, bearer: str | None = None) -> None:
        self.gateway = gateway
        self.bearer = bearer

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.bearer is not None:
            request.headers["Authorization"] = f"Bearer {self.bearer}"
        if self.gateway.api_key is not None:
            request.headers[signing.API_KEY_HEADER] = self.gateway.api_key
        if self.gateway.signing_secret is not None:
            body = request.body or b""
            raw = body.encode() if isinstance(body, str) else body
            if not isinstance(raw, bytes):
                raise TypeError("SuiteAuth signs whole bodies, not streamed ones")
            timestamp, nonce = str(int(time.time() * 1000)), uuid.uuid4().hex
            target = request.path_url
            request.headers[signing.TIMESTAMP_HEADER] = timestamp
            request.headers[signing.NONCE_HEADER] = nonce
            request.headers[signing.SIGNATURE_HEADER] = signing.sign(
                self.gateway.signing_secret, timestamp, nonce, request.method or "GET", target, raw
            )
        return request


@dataclass
class _Tokens:
    access: str
    refresh: str
    expires_at: float  # time.monotonic()


@dataclass(frozen=True)
class SessionStats:
    logins: int
    registrations: int
    refreshes: int
    rejected_refreshes: int


class SessionKeeper:
    def __init__(
        self, base_url: str, credentials: Credentials | None, gateway: Gateway | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.gateway = gateway or Gateway()
        self._credentials = credentials
        self._http = requests.Session()
        self._lock = threading.RLock()
        self._tokens: _Tokens | None = None
        self._original_profile: dict[str, Any] | None = None
        self._logins = self._registrations = self._refreshes = self._rejected = 0

    # --- plumbing ----------------------------------------------------------------

    def send(
        self, method: str, path: str, *, bearer: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """One request to the server under test, with the gateway's headers (and a bearer)."""
        url = path if "://" in path else self.base_url + path
        kwargs.setdefault("timeout", REQUEST_TIMEOUT_S)
        return self._http.request(
            method, url, auth=SuiteAuth(self.gateway, bearer), allow_redirects=False, **kwargs
        )

    def close(self) -> None:
        self._http.close()

    @property
    def stats(self) -> SessionStats:
        return SessionStats(self._logins, self._registrations, self._refreshes, self._rejected)

    @property
    def credentials(self) -> Credentials | None:
        return self._credentials

    def _take(self, response: requests.Response, what: str) -> _Tokens:
        if response.status_code not in (200, 201):
            raise SessionError(f"{what} answered {response.status_code}: {response.text[:300]}")
        body = response.json()
        try:
            expires_in = float(body["expires_in"])
            tokens = _Tokens(
                body["access_token"], body["refresh_token"], time.monotonic() + expires_in
            )
        except (KeyError, TypeError, ValueError) as e:
            raise SessionError(f"{what} answered a body without tokens: {body!r}") from e
        self._tokens = tokens
        return tokens

    # --- signing in --------------------------------------------------------------

    def login(self) -> str:
        """A fresh session (registering a throwaway user first when there are no credentials)."""
        with self._lock:
            if self._credentials is None:
                email = f"contract-{uuid.uuid4().hex[:12]}@example.com"
                self._credentials = Credentials(email, uuid.uuid4().hex)
                body = {"email": email, "password": self._credentials.password, "name": "Contract"}
                self._registrations += 1
                answer = self.send("POST", f"{API}/auth/register", json=body)
                return self._take(answer, "register").access
            creds = self._credentials
            body = {"email": creds.email, "password": creds.password}
            self._logins += 1
            tokens = self._take(self.send("POST", f"{API}/auth/login", json=body), "login")
            if self._original_profile is None:
                profile = self.send("GET", f"{API}/users/profile", bearer=tokens.access)
                if profile.status_code == 200:
                    self._original_profile = profile.json()
            return tokens.access

    def access_token(self) -> str:
        """The current access token, refreshed first when it is about to expire."""
        with self._lock:
            tokens = self._tokens
            if tokens is None:
                return self.login()
            if time.monotonic() < tokens.expires_at - EXPIRY_MARGIN_S:
                return tokens.access
            return self._refresh_or_login(tokens)

    def renew(self, rejected: str | None) -> str:
        """After a 401 for `rejected`: a new token (one renewal however many workers saw it)."""
        with self._lock:
            tokens = self._tokens
            if tokens is None:
                return self.login()
            if rejected is not None and rejected != tokens.access:
                return tokens.access  # another worker already renewed it
            return self._refresh_or_login(tokens)

    def _refresh_or_login(self, tokens: _Tokens) -> str:
        self._refreshes += 1
        body = {"refresh_token": tokens.refresh}
        response = self.send("POST", f"{API}/auth/refresh", json=body)
        if response.status_code == 200:
            return self._take(response, "refresh").access
        self._rejected += 1
        return self.login()

    # --- the account's profile ---------------------------------------------------

    def follow_profile(self, access_token: str, profile: dict[str, Any]) -> None:
        """A successful updateProfile by this session: later logins use the new email."""
        with self._lock:
            creds = self._credentials
            email = profile.get("email")
            if self._tokens is None or access_token != self._tokens.access or creds is None:
                return
            if isinstance(email, str) and email != creds.email:
                self._credentials = Credentials(email, creds.password)

    def restore_profile(self) -> bool:
        """Put back the name and email the account had at the first login; True if it did."""
        original = self._original_profile
        if original is None:
            return False
        body = {"name": original.get("name"), "email": original.get("email")}
        response = self.send("PUT", f"{API}/users/update", bearer=self.access_token(), json=body)
        if response.status_code == 200:
            self.follow_profile(self.access_token(), response.json())
        return response.status_code == 200


def bearer_of(headers: Any) -> str | None:
    """The token of an `Authorization: Bearer ...` header in `headers`, if any."""
    value = headers.get("Authorization") if headers is not None else None
    if isinstance(value, list):  # schemathesis keeps response-side headers as lists
        value = value[0] if value else None
    if not isinstance(value, str) or not value.startswith("Bearer "):
        return None
    return value.removeprefix("Bearer ")
