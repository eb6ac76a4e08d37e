"""The call engine: everything a call does, with no I/O of its own.

`run_call` is a generator. It yields commands (`Send`, `Sleep`, `Refresh`)
and receives their results from a shell that does the I/O (`sync_client.py`
with httpx.Client, threads and time.sleep; `async_client.py` with
httpx.AsyncClient and asyncio). So the policy is written once and tested
without sockets, and the shells stay thin.

One call:
1. Every attempt builds its request anew through the whole header pipeline:
   the current access token, the API key, a fresh timestamp and a random
   128-bit nonce when signing, and the call's Idempotency-Key (one per call,
   the same on every attempt).
2. Every attempt has a deadline (`Send.timeout_s`): the per-attempt deadline
   or what is left of the call's `deadline_s`, whichever is shorter; the
   shell cuts the attempt off there, connect, send and body read included
   (deadlines.py), and reads at most `max_response_bytes` (bodies.py).
3. A 401 for the token it sent asks the shell to refresh (single-flight, in
   the shell, within what is left of the call) and replays once with the new
   token; a second 401 gives up.
4. Anything else that failed goes to the retry policy and the throttle; no
   sleep is planned past the call's deadline.
5. The error raised is the last attempt's, mapped to the seed's kinds.

Redirects are never followed: a 3xx is an `unexpected` error naming its
Location. Following one would mean deciding which of the Authorization
header, the API key and the signature (which covers the path) may go to the
new target; httpx itself strips only Authorization across origins.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import ValidationError

from contracts import signing
from harness.client import calls, errors
from harness.client.bodies import ACCEPT_ENCODING, Answer
from harness.client.calls import Call
from harness.client.retry import (
    Attempt,
    GiveUp,
    Phase,
    Retry,
    RetryPolicy,
    RetryThrottle,
    parse_retry_after,
)
from harness.client.tokens import TokenPair, TokenStore

log = logging.getLogger("harness.client")

IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "api-contract-harness-client/0.1"
DEFAULT_ATTEMPT_DEADLINE_S = 20.0
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class RetryEvent:
    """What a retry hook receives: one record per retry, immutable."""

    operation: str
    method: str
    path: str
    attempt: int  # the attempt that failed (1 = the first)
    delay_s: float
    reason: str
    status: int | None
    error_kind: str


@dataclass(frozen=True)
class Failure:
    """A failed attempt, classified by how far it got. `malformed`: an answer
    came but cannot be used (too large, badly encoded); never retried."""

    phase: Phase
    error: errors.ApiError
    malformed: bool = False


@dataclass(frozen=True)
class Send:
    request: httpx.Request
    timeout_s: float | None = None  # the attempt's deadline, from when it starts


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Refresh:
    stale_access_token: str | None
    budget_s: float | None = None  # what is left of the calling call's deadline


@dataclass(frozen=True)
class RefreshOutcome:
    refreshed: bool
    error: errors.ApiError | None = None  # set when the refresh failed


Command = Send | Sleep | Refresh
# What a Send comes back as: an answer read whole (or an httpx.Response, which
# reads the same), or the Failure that stopped the attempt.
Received = Answer | httpx.Response
Flow = Generator[Command, Any, Any]


@dataclass
class Settings:
    """What the engine needs from its client; shared by every call."""

    base_url: str
    tokens: TokenStore
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    throttle: RetryThrottle = field(default_factory=RetryThrottle)
    api_key: str | None = None
    signing_secret: str | None = None
    auto_idempotency_keys: bool = True
    on_retry: Callable[[RetryEvent], None] | None = None
    attempt_deadline_s: float | None = DEFAULT_ATTEMPT_DEADLINE_S
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    monotonic: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    rng: Any = field(default_factory=lambda: secrets.SystemRandom())


def build_request(
    call: Call[Any], settings: Settings, access_token: str | None, idempotency_key: str | None
) -> httpx.Request:
    """One attempt's request, through the whole header pipeline."""
    body = call.body or b""
    query = f"?{urlencode(call.params)}" if call.params else ""
    target = call.path + query
    headers = {
        "Accept": "application/json",
        "Accept-Encoding": ACCEPT_ENCODING,
        "User-Agent": USER_AGENT,
    }
    if call.body is not None:
        headers["Content-Type"] = "application/json"
    if call.authenticated and access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    if settings.api_key:
        headers[signing.API_KEY_HEADER] = settings.api_key
    if idempotency_key:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    if settings.signing_secret:
        timestamp = str(int(settings.wall_clock() * 1000))
        nonce = secrets.token_hex(16)
        headers[signing.TIMESTAMP_HEADER] = timestamp
        headers[signing.NONCE_HEADER] = nonce
        headers[signing.SIGNATURE_HEADER] = signing.sign(
            settings.signing_secret, timestamp, nonce, call.method, target, body
        )
    return httpx.Request(
        call.method, settings.base_url.rstrip("/") + target, headers=headers, content=body
    )


def _problem(response: Received) -> dict[str, Any] | None:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return None
    return body if isinstance(body, dict) else None


def error_from_response(response: Received, attempts: int) -> errors.ApiError:
    problem = _problem(response)
    code = problem.get("code") if problem else None
    detail = (problem or {}).get("detail") or f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        location = response.headers.get("location", "")[:200]
        detail = (
            f"HTTP {response.status_code} redirect to {location!r}, not followed: the client "
            "never follows redirects (is the base URL right?)"
        )
    return errors.error_for_status(response.status_code)(
        str(detail),
        status=response.status_code,
        code=code if isinstance(code, str) else None,
        problem=problem,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        attempts=attempts,
    )


def _token_rejected(response: Received) -> bool:
    """A 401 that a refresh can cure: the token was bad, not the credentials."""
    challenge = response.headers.get("www-authenticate", "")
    if 'error="invalid_token"' in challenge:
        return True
    problem = _problem(response) or {}
    return str(problem.get("code", "")).startswith("token_")


def run_call(call: Call[Any], settings: Settings, budget_s: float | None = None) -> Flow:
    """The whole call; `budget_s` (a refresh inside another call) narrows its deadline."""
    started = settings.monotonic()
    deadline_s = settings.policy.deadline_s
    if budget_s is not None:
        deadline_s = min(deadline_s, budget_s)
    key = call.idempotency_key
    if key is None and call.method == "POST" and call.authenticated:
        key = secrets.token_hex(16) if settings.auto_idempotency_keys else None
    refreshed = False
    number = 0
    error: errors.ApiError | None = None
    while True:
        number += 1
        left = deadline_s - (settings.monotonic() - started)
        if left <= 0:
            raise error or errors.ReceiveTimeout(
                f"{call.operation}: the call's {deadline_s:g} s deadline passed",
                attempts=number if refreshed else number - 1,
            )
        if settings.attempt_deadline_s is not None:
            left = min(left, settings.attempt_deadline_s)
        pair = settings.tokens.get() if call.authenticated else None
        sent_token = pair.access_token if pair else None
        outcome = yield Send(build_request(call, settings, sent_token, key), left)

        if not isinstance(outcome, Failure):
            status = outcome.status_code
            if 200 <= status < 300:
                settings.throttle.record_success()
                try:
                    return call.parse(outcome.content)
                except (ValidationError, ValueError, RecursionError) as e:
                    raise errors.Unexpected(
                        f"{call.operation}: the response is not what the contract says: {e}",
                        status=status,
                        attempts=number,
                    ) from None
            # One refresh and one replay per call (R4); a second 401 is final.
            if status == 401 and not refreshed and sent_token and _token_rejected(outcome):
                refreshed = True
                budget = deadline_s - (settings.monotonic() - started)
                result: RefreshOutcome = yield Refresh(sent_token, budget)
                if result.refreshed:
                    number -= 1  # the replay is part of this attempt, not a retry
                    continue
                raise result.error or errors.Unauthorized("the session has ended")
            error = error_from_response(outcome, number)
            attempt = Attempt(
                number,
                call.method,
                Phase.RESPONSE,
                status=status,
                retry_after=error.retry_after,
                has_idempotency_key=key is not None,
            )
        else:
            failure: Failure = outcome
            error = failure.error
            error.attempts = number
            attempt = Attempt(
                number,
                call.method,
                failure.phase,
                status=error.status,
                has_idempotency_key=bool(key),
                malformed=failure.malformed,
            )

        retryable = settings.policy.is_retryable(attempt) is not None
        if retryable:
            settings.throttle.record_failure()
        else:
            settings.throttle.record_success()
        elapsed = settings.monotonic() - started
        decision = settings.policy.decide(attempt, elapsed_s=elapsed, rng=settings.rng)
        if isinstance(decision, Retry) and elapsed + decision.delay_s > deadline_s:
            decision = GiveUp(f"the {deadline_s:g} s deadline would pass")  # a narrowed budget
        if not isinstance(decision, Retry):
            log.debug("%s: giving up after attempt %d: %s", call.operation, number, decision.reason)
            raise error
        if not settings.throttle.allows_retry():
            log.debug("%s: retry throttled (most recent calls failed)", call.operation)
            raise error
        event = RetryEvent(
            call.operation,
            call.method,
            call.path,
            number,
            decision.delay_s,
            decision.reason,
            error.status,
            error.kind,
        )
        log.info(
            "%s %s: attempt %d failed (%s); retrying in %.3f s",
            call.method,
            call.path,
            number,
            decision.reason,
            decision.delay_s,
        )
        if settings.on_retry is not None:
            settings.on_retry(event)
        yield Sleep(decision.delay_s)


def refresh_flow(
    settings: Settings, stale_access_token: str | None, budget_s: float | None = None
) -> Flow:
    """Refresh the session unless another caller already did (single-flight: the
    shell runs this under its refresh lock), within `budget_s` if given (what is
    left of the call that needs it). Returns a RefreshOutcome."""
    current = settings.tokens.get()
    if current is None:
        return RefreshOutcome(False, errors.Unauthorized("signed out"))
    if current.access_token != stale_access_token:
        return RefreshOutcome(True)  # someone refreshed while we waited
    try:
        issued = yield from run_call(calls.refresh(current.refresh_token), settings, budget_s)
    except errors.Unauthorized as e:
        settings.tokens.clear()  # the refresh token is dead: log out, release everyone
        return RefreshOutcome(False, e)
    except errors.ApiError as e:
        return RefreshOutcome(False, e)  # transient: keep the session for a later try
    settings.tokens.set(TokenPair(issued.access_token, issued.refresh_token))
    return RefreshOutcome(True)


def refresh_timed_out() -> RefreshOutcome:
    """The call's deadline passed while it waited for another caller's refresh."""
    return RefreshOutcome(
        False, errors.ReceiveTimeout("the call's deadline passed while a refresh was running")
    )


def unusable(error: errors.ApiError) -> Failure:
    """An answer arrived but cannot be used (too large, badly encoded): never retried."""
    return Failure(Phase.RESPONSE, error, malformed=True)


def classify(exc: httpx.HTTPError) -> Failure:
    """Map an httpx exception to how far the attempt got and the seed's kind."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return Failure(Phase.CONNECT, errors.ConnectionTimeout(detail))
    if isinstance(exc, httpx.PoolTimeout):
        return Failure(Phase.CONNECT, errors.ConnectionTimeout(detail))
    if isinstance(exc, httpx.ConnectError):
        return Failure(Phase.CONNECT, errors.NoInternetConnection(detail))
    if isinstance(exc, httpx.WriteTimeout):
        return Failure(Phase.SEND, errors.SendTimeout(detail))
    if isinstance(exc, httpx.WriteError):
        return Failure(Phase.SEND, errors.NoInternetConnection(detail))
    if isinstance(exc, httpx.ReadTimeout):
        return Failure(Phase.RECEIVE, errors.ReceiveTimeout(detail))
    if isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError):
        return Failure(Phase.RECEIVE, errors.NoInternetConnection(f"connection lost: {detail}"))
    return Failure(Phase.RECEIVE, errors.Unexpected(detail))
