"""A careful client of any API, by role: what the role users (`loadtests/role_users.py`) drive.

One `RoleClient` is one app install: its own account, session and retry
throttle. It behaves as the reference client does for the demo:

- Session: a throwaway account through the register role (one per user, so
  users never share an identity), else the configuration's first identity
  through the login role. The access token is renewed ahead of its expiry when
  the answer says when (`expires_in`, or a JWT's `exp`), a short margin before.
- A 401 renews once (refresh when the API has that role and gave a refresh
  token, else log in again) and replays the call once; a second 401 is the
  caller's error (rule R4).
- Retries follow `harness.client.retry.RetryPolicy`: failures before sending
  for any method, 408/429/5xx and timeouts only for idempotent methods or a
  call carrying an Idempotency-Key (sent where the operation declares one,
  the same on every attempt); Retry-After honoured within the cap; a gRPC A6
  throttle stops retries while most calls fail.

`retry_everything=True` is the DEFECTIVE variant the tests and
`defective_roles_locustfile.py` use: every failed call is resent, keyed or
not, so a create applied and then answered 502 is created again.

Sleeps are `time.sleep` and sockets are httpx's: gevent's under locust.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from contracts.auth_plan import Exchange
from contracts.templates import (
    EXPIRES_NAMES,
    REFRESH_NAMES,
    TOKEN_NAMES,
    find_pointer,
    generated_identity,
    get_pointer,
    names_in,
    render,
)
from harness.client.retry import (
    Attempt,
    GiveUp,
    Phase,
    RetryPolicy,
    RetryThrottle,
    parse_retry_after,
)
from loadtests.role_api import RoleApi, RoleRequest

# Load runs fail faster than a client's defaults, so a run's tail stays short
# (the same policy as the demo's load users, loadtests/users.py).
LOAD_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.1, deadline_s=10.0, max_retry_after_s=5.0)
LOAD_TIMEOUT = httpx.Timeout(2.0)
# Renew this long before expiry, at most a fifth of the token's lifetime.
EXPIRY_MARGIN_S = 5.0


class SessionLost(RuntimeError):
    """The client could not sign in; the message says what the API answered."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    body: Any
    attempts: int
    renewed: bool = False
    kind: str | None = None  # why it failed: status, timeout, connection, session


@dataclass
class _Tokens:
    access: str
    refresh: str | None
    renew_at: float | None  # time.monotonic(); None: the answer did not say


def _token_lifetime(access: str) -> float | None:
    """Seconds until a JWT's `exp` (unverified: the client only plans its renewal)."""
    try:
        claims = jwt.decode(access, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) - time.time() if isinstance(exp, int | float) else None


class RoleClient:
    def __init__(
        self,
        base_url: str,
        api: RoleApi,
        *,
        policy: RetryPolicy = LOAD_RETRY,
        retry_everything: bool = False,
        timeout: httpx.Timeout = LOAD_TIMEOUT,
    ) -> None:
        self.api = api
        self.policy = policy
        self.retry_everything = retry_everything
        self.throttle = RetryThrottle()
        self.rng = random.Random()
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.identity: dict[str, str] | None = None
        self._tokens: _Tokens | None = None
        self.sign_ins = 0

    def close(self) -> None:
        self.http.close()

    # --- the session -----------------------------------------------------------------

    @property
    def signed_in(self) -> bool:
        return self._tokens is not None

    def sign_in(self) -> None:
        """Register this user's account (register role), else log in the identity."""
        plan = self.api.auth
        if plan.register is not None and self.identity is None:
            identity = generated_identity(names_in(plan.register.body) | {"email"})
            self._exchange(plan.register, identity)
            self.identity = identity
            return
        if plan.login is None:
            raise SessionLost("the configuration names no login or register role")
        if self.identity is None:
            if not plan.identities:
                raise SessionLost("the login role needs an identity (auth.identities)")
            self.identity = dict(plan.identities[0])
        self._exchange(plan.login, self.identity)

    def _exchange(self, exchange: Exchange, values: dict[str, Any]) -> None:
        self.sign_ins += 1
        body = render(exchange.body, values) if exchange.body is not None else None
        op = exchange.operation
        answer = self.http.request(op.method, f"{self.api.base_path}{op.path}", json=body)
        if not 200 <= answer.status_code < 300:
            self._tokens = None
            raise SessionLost(f"{op.operation_id} answered {answer.status_code}")
        self._take(answer.json(), exchange)

    def _take(self, body: Any, exchange: Exchange) -> None:
        pointer = exchange.token or find_pointer(body, TOKEN_NAMES)
        access = get_pointer(body, pointer) if pointer else None
        if not isinstance(access, str) or not access:
            raise SessionLost(f"{exchange.operation.operation_id} answered no token")
        refresh_at = exchange.refresh_token or find_pointer(body, REFRESH_NAMES)
        refresh = _optional(body, refresh_at)
        expires = _optional(body, exchange.expires_in or find_pointer(body, EXPIRES_NAMES))
        lifetime = float(expires) if isinstance(expires, int | float) else _token_lifetime(access)
        renew_at = None
        if lifetime is not None:
            renew_at = time.monotonic() + lifetime - min(EXPIRY_MARGIN_S, lifetime / 5)
        self._tokens = _Tokens(access, refresh if isinstance(refresh, str) else None, renew_at)

    def renew(self) -> None:
        """Refresh when the API can, else sign in again."""
        plan = self.api.auth
        tokens = self._tokens
        if plan.refresh is not None and tokens is not None and tokens.refresh:
            self.sign_ins += 1
            body = render(plan.refresh.body, {"refresh_token": tokens.refresh})
            op = plan.refresh.operation
            answer = self.http.request(
                op.method, f"{self.api.base_path}{op.path}", json=body, headers=self._auth()
            )
            if 200 <= answer.status_code < 300:
                self._take(answer.json(), plan.refresh)
                return
        self.sign_in()

    def access_token(self) -> str | None:
        tokens = self._tokens
        if tokens is None:
            return None
        if tokens.renew_at is not None and time.monotonic() >= tokens.renew_at:
            self.renew()
        return self._tokens.access if self._tokens else None

    def _auth(self, token: str | None = None) -> dict[str, str]:
        placement = self.api.auth.placement
        token = token or (self._tokens.access if self._tokens else None)
        if placement is None or token is None or placement.location != "header":
            return {}
        return {placement.name: placement.value(token)}

    # --- one logical call --------------------------------------------------------------

    def call(self, request: RoleRequest) -> Outcome:
        """Send the call, retrying and renewing as a careful client does."""
        key = None
        if request.declares_idempotency_key and request.method not in ("GET", "HEAD"):
            key = str(uuid.uuid4())
        started = time.monotonic()
        renewed = False
        number = 0
        while True:
            number += 1
            try:
                token = self.access_token()
            except (SessionLost, httpx.HTTPError):
                return Outcome(False, None, None, number - 1, renewed, "session")
            headers = self._auth(token)
            if key:
                headers["Idempotency-Key"] = key
            status: int | None = None
            phase = Phase.RESPONSE
            answer: httpx.Response | None = None
            try:
                answer = self.http.request(
                    request.method,
                    self.api.url_path(request),
                    params=dict(request.query),
                    json=request.body,
                    headers=headers,
                )
                status = answer.status_code
            except (httpx.ConnectError, httpx.ConnectTimeout):
                phase = Phase.CONNECT
            except httpx.TimeoutException:
                phase = Phase.RECEIVE
            except httpx.HTTPError:
                phase = Phase.SEND
            if answer is not None and 200 <= answer.status_code < 300:
                self.throttle.record_success()
                return Outcome(True, status, _json(answer), number, renewed)
            if status == 401 and not renewed and self._tokens is not None:
                renewed = True  # one renewal and one replay per call (R4), then give up
                try:
                    self.renew()
                except (SessionLost, httpx.HTTPError):
                    return Outcome(False, 401, None, number, renewed, "session")
                continue
            self.throttle.record_failure()
            attempt = Attempt(
                number=number,
                method=request.method,
                phase=phase,
                status=status,
                retry_after=parse_retry_after(answer.headers.get("retry-after"))
                if answer is not None
                else None,
                has_idempotency_key=bool(key) or self.retry_everything,
            )
            decision = self.policy.decide(
                attempt, elapsed_s=time.monotonic() - started, rng=self.rng
            )
            if isinstance(decision, GiveUp) or not (
                self.throttle.allows_retry() or self.retry_everything
            ):
                kind = "status" if status is not None else phase.value
                return Outcome(False, status, None, number, renewed, kind)
            time.sleep(decision.delay_s)


def _optional(body: Any, pointer: str | None) -> Any:
    if not pointer:
        return None
    try:
        return get_pointer(body, pointer)
    except KeyError:
        return None


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None
