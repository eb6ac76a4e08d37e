"""Deliberately defective variants of the reference client, one defect each.

They exist to prove that every verdict can fail: a check that passes a
client breaking its rule is itself a defect. Never use them for anything else.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, cast

import httpx

from contracts import signing
from contracts.models import Product
from harness.client import (
    AsyncApiClient,
    ClientOptions,
    RetryPolicy,
    RetryThrottle,
    TokenPair,
    TokenStore,
    errors,
)
from harness.client.calls import Call
from harness.client.engine import RetryEvent, refresh_flow
from harness.client.retry import Attempt, Decision, Phase
from harness.conformance.defects_backoff import (
    ConstantBackoffPolicy,
    JitterFirstRetryOnlyPolicy,
    NeverRefillsThrottle,
    NoBackoffPolicy,
    NoCapPolicy,
    NoJitterPolicy,
    SecondsOnlyRetryAfterClient,
    SmallJitterPolicy,
)


class ParallelRefreshClient(AsyncApiClient):
    """Refreshes for every 401, concurrently: no lock, no "already replaced" check."""

    async def _refresh(self, stale_access_token: str | None) -> Any:
        current = self.settings.tokens.get()
        latest = current.access_token if current else None  # as if nobody had refreshed
        return await self._drive(refresh_flow(self.settings, latest))


@dataclass(frozen=True)
class PostsAreIdempotentPolicy(RetryPolicy):
    """Retries POSTs like GETs (the seed's RetryInterceptor does)."""

    def is_retryable(self, attempt: Attempt) -> str | None:
        return super().is_retryable(replace(attempt, has_idempotency_key=True))


@dataclass(frozen=True)
class IgnoresRetryAfterPolicy(RetryPolicy):
    """Backs off on its own schedule, whatever Retry-After says."""

    def decide(self, attempt: Attempt, *, elapsed_s: float, rng: random.Random) -> Decision:
        return super().decide(replace(attempt, retry_after=None), elapsed_s=elapsed_s, rng=rng)


class KeepsOldRefreshToken:
    """A token store that saves the new access token but keeps the first refresh token."""

    def __init__(self, inner: TokenStore) -> None:
        self._inner = inner

    def get(self) -> TokenPair | None:
        return self._inner.get()

    def set(self, pair: TokenPair) -> None:
        old = self._inner.get()
        self._inner.set(TokenPair(pair.access_token, old.refresh_token) if old else pair)

    def clear(self) -> None:
        self._inner.clear()


class NewKeyPerAttemptClient(AsyncApiClient):
    """Mints a new Idempotency-Key for every attempt, which defeats its purpose."""

    async def _send(self, request: httpx.Request) -> Any:
        if "Idempotency-Key" in request.headers:
            request.headers["Idempotency-Key"] = secrets.token_hex(16)
        return await super()._send(request)


class ClockNonceClient(AsyncApiClient):
    """Signs with a nonce derived from the clock in milliseconds, as the seed does."""

    async def _send(self, request: httpx.Request) -> Any:
        secret = self.settings.signing_secret
        if secret and signing.NONCE_HEADER in request.headers:
            timestamp = request.headers[signing.TIMESTAMP_HEADER]
            nonce = base64.b64encode(timestamp.encode()).decode()[:16]
            request.headers[signing.NONCE_HEADER] = nonce
            request.headers[signing.SIGNATURE_HEADER] = signing.sign(
                secret,
                timestamp,
                nonce,
                request.method,
                request.url.raw_path.decode(),
                request.content,
            )
        return await super()._send(request)


@dataclass(frozen=True)
class Retries4xxPolicy(RetryPolicy):
    """Treats every error status as worth another try."""

    def is_retryable(self, attempt: Attempt) -> str | None:
        if attempt.status is not None and attempt.status >= 400 and attempt.method == "GET":
            return f"status {attempt.status}"
        return super().is_retryable(attempt)


class RetriesUnexpectedClient(AsyncApiClient):
    """Wraps every call in its own retry loop for "unexpected" errors: a body it
    cannot read is asked for again and again."""

    async def call[T](self, call: Call[T]) -> T:
        for _ in range(3):
            try:
                return await super().call(call)
            except errors.Unexpected:
                await asyncio.sleep(0.01)
        return await super().call(call)


class RefreshesEvery401Client(AsyncApiClient):
    """Answers every unauthorized call with another refresh and another try."""

    async def call[T](self, call: Call[T]) -> T:
        for _ in range(3):
            try:
                return await super().call(call)
            except errors.Unauthorized:
                current = self.settings.tokens.get()
                await self._refresh(current.access_token if current else None)
        return await super().call(call)


class LogsSecretsClient(AsyncApiClient):
    """Logs every request with its headers, as a logging interceptor would."""

    async def _send(self, request: httpx.Request) -> Any:
        logging.getLogger("harness.client").debug(
            "%s %s headers=%s", request.method, request.url, dict(request.headers)
        )
        return await super()._send(request)


class ClearsSessionOnAnyRefreshFailure(AsyncApiClient):
    """Logs the user out when a refresh fails for any reason, a 503 included."""

    async def _refresh(self, stale_access_token: str | None) -> Any:
        outcome = await super()._refresh(stale_access_token)
        if not outcome.refreshed:
            self.settings.tokens.clear()
        return outcome


class NeverForgets:
    """A token store that cannot be cleared: a dead session lingers."""

    def __init__(self, inner: TokenStore) -> None:
        self._inner = inner

    def get(self) -> TokenPair | None:
        return self._inner.get()

    def set(self, pair: TokenPair) -> None:
        self._inner.set(pair)

    def clear(self) -> None:
        pass


@dataclass(frozen=True)
class RefusedIsFatalPolicy(RetryPolicy):
    """Treats a refused connection like a lost response: never retried for a POST."""

    def is_retryable(self, attempt: Attempt) -> str | None:
        if attempt.phase is Phase.CONNECT:
            attempt = replace(attempt, phase=Phase.RECEIVE)
        return super().is_retryable(attempt)


class SwappedRefreshFailuresClient(AsyncApiClient):
    """Gets both refresh failures the wrong way round: a rejected refresh (401) keeps
    the dead session, a refresh answered 503 throws the live one away."""

    async def _refresh(self, stale_access_token: str | None) -> Any:
        before = self.settings.tokens.get()
        outcome = await super()._refresh(stale_access_token)
        if not outcome.refreshed:
            if isinstance(outcome.error, errors.Unauthorized):
                if before is not None:
                    self.settings.tokens.set(before)
            else:
                self.settings.tokens.clear()
        return outcome


class RepeatingNonceClient(AsyncApiClient):
    """Draws nonces from a pool of 300 made at start, round and round: every nonce
    comes back after 300 requests."""

    POOL = 300

    def __init__(self, base_url: str, options: ClientOptions) -> None:
        super().__init__(base_url, options)
        self._pool = [secrets.token_hex(16) for _ in range(self.POOL)]
        self._sent = 0

    async def _send(self, request: httpx.Request) -> Any:
        secret = self.settings.signing_secret
        if secret and signing.NONCE_HEADER in request.headers:
            nonce = self._pool[self._sent % self.POOL]
            self._sent += 1
            timestamp = request.headers[signing.TIMESTAMP_HEADER]
            request.headers[signing.NONCE_HEADER] = nonce
            request.headers[signing.SIGNATURE_HEADER] = signing.sign(
                secret,
                timestamp,
                nonce,
                request.method,
                request.url.raw_path.decode(),
                request.content,
            )
        return await super()._send(request)


_first_signature: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "first_signature", default=None
)


class SignsOncePerCallClient(AsyncApiClient):
    """Signs a call's first attempt and sends the same timestamp, nonce and signature
    on every later attempt of that call."""

    async def call[T](self, call: Call[T]) -> T:
        token = _first_signature.set({})
        try:
            return await super().call(call)
        finally:
            _first_signature.reset(token)

    async def _send(self, request: httpx.Request) -> Any:
        kept = _first_signature.get()
        if kept is not None and not request.url.path.endswith("/auth/refresh"):
            names = (signing.TIMESTAMP_HEADER, signing.NONCE_HEADER, signing.SIGNATURE_HEADER)
            if kept:
                for name in names:
                    request.headers[name] = kept[name]
            elif signing.SIGNATURE_HEADER in request.headers:
                kept.update({name: request.headers[name] for name in names})
        return await super()._send(request)


_failures: contextvars.ContextVar[list[errors.ApiError] | None] = contextvars.ContextVar(
    "failures", default=None
)


class ReportsFirstErrorClient(AsyncApiClient):
    """Reports the error of a call's first failed attempt, not its last."""

    def __init__(self, base_url: str, options: ClientOptions) -> None:
        super().__init__(base_url, replace(options, on_retry=self._remember))

    def _remember(self, event: RetryEvent) -> None:
        failures = _failures.get()
        if failures is not None and not failures:
            kind = next(c for c in _KINDS if c.kind == event.error_kind)
            failures.append(kind(event.reason, status=event.status))

    async def call[T](self, call: Call[T]) -> T:
        token = _failures.set([])
        try:
            return await super().call(call)
        except errors.ApiError as e:
            first = _failures.get()
            raise (first[0] if first else e) from None
        finally:
            _failures.reset(token)


def _cents(value: Decimal) -> Decimal:
    return Decimal(f"{float(value):.2f}")


class LossyPricesClient(AsyncApiClient):
    """Keeps prices as doubles shown with two decimals, as many app models do."""

    async def call[T](self, call: Call[T]) -> T:
        result = await super().call(call)
        if isinstance(result, Product):
            variants = [v.model_copy(update={"price": _cents(v.price)}) for v in result.variants]
            lossy = result.model_copy(update={"price": _cents(result.price), "variants": variants})
            return cast(T, lossy)
        return result


class RetriesAfterCancelClient(AsyncApiClient):
    """Shields the call from cancellation: the caller is told it was cancelled, the
    call goes on retrying in the background."""

    async def call[T](self, call: Call[T]) -> T:
        return await asyncio.shield(super().call(call))


_KINDS = tuple(
    c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.ApiError)
)


Options = ClientOptions
Factory = Callable[[Options], tuple[type[AsyncApiClient], Options]]


def _policy(policy: type[RetryPolicy]) -> Factory:
    return lambda o: (AsyncApiClient, replace(o, retry=policy(**_fields(o.retry))))


def _client(client: type[AsyncApiClient]) -> Factory:
    return lambda o: (client, o)


def _statuses(change: Callable[[frozenset[int]], frozenset[int]]) -> Factory:
    def make(o: Options) -> tuple[type[AsyncApiClient], Options]:
        retry = replace(o.retry, retry_statuses=change(o.retry.retry_statuses))
        return AsyncApiClient, replace(o, retry=retry)

    return make


def _unbounded(o: Options) -> tuple[type[AsyncApiClient], Options]:
    # No attempt cap worth the name, no retry budget to stop it, a deadline of minutes,
    # and backoff capped at 50 ms.
    base = min(o.retry.base_delay_s, 0.05)
    endless = replace(o.retry, max_attempts=30, base_delay_s=base, max_delay_s=0.05, deadline_s=120)
    return AsyncApiClient, replace(o, retry=endless, throttle=RetryThrottle(max_tokens=1e9))


def _no_deadline(o: Options) -> tuple[type[AsyncApiClient], Options]:
    # Whatever deadline it was given, it has none: only its attempts are bounded.
    return AsyncApiClient, replace(o, retry=replace(o.retry, deadline_s=1e9))


FACTORIES: dict[str, Factory] = {
    "parallel-refresh": _client(ParallelRefreshClient),
    "retry-post-without-key": lambda o: (
        AsyncApiClient,
        replace(o, retry=PostsAreIdempotentPolicy(**_fields(o.retry)), auto_idempotency_keys=False),
    ),
    "ignore-retry-after": _policy(IgnoresRetryAfterPolicy),
    "keeps-old-refresh-token": lambda o: (
        AsyncApiClient,
        replace(o, tokens=KeepsOldRefreshToken(o.tokens)),
    ),
    "new-key-per-attempt": _client(NewKeyPerAttemptClient),
    "retries-4xx": _policy(Retries4xxPolicy),
    "retries-malformed": _client(RetriesUnexpectedClient),
    "clock-nonce": _client(ClockNonceClient),
    "refresh-every-401": _client(RefreshesEvery401Client),
    "unbounded-retries": _unbounded,
    "logs-secrets": _client(LogsSecretsClient),
    "clears-session-on-503": _client(ClearsSessionOnAnyRefreshFailure),
    "keeps-dead-session": lambda o: (AsyncApiClient, replace(o, tokens=NeverForgets(o.tokens))),
    "no-retry-on-refused": _policy(RefusedIsFatalPolicy),
    "no-jitter": _policy(NoJitterPolicy),
    "no-backoff": _policy(NoBackoffPolicy),
    "no-retry-budget": lambda o: (AsyncApiClient, replace(o, throttle=RetryThrottle(1e9))),
    "signs-once-per-call": _client(SignsOncePerCallClient),
    "reports-first-error": _client(ReportsFirstErrorClient),
    "lossy-prices": _client(LossyPricesClient),
    "retries-after-cancel": _client(RetriesAfterCancelClient),
    "jitter-first-retry-only": _policy(JitterFirstRetryOnlyPolicy),
    "small-jitter": _policy(SmallJitterPolicy),
    "constant-backoff": _policy(ConstantBackoffPolicy),
    "no-cap": _policy(NoCapPolicy),
    "budget-never-refills": lambda o: (AsyncApiClient, replace(o, throttle=NeverRefillsThrottle())),
    "swapped-refresh-failures": _client(SwappedRefreshFailuresClient),
    "never-retries-429-503": _statuses(lambda s: s - {429, 503}),
    "retry-after-seconds-only": _client(SecondsOnlyRetryAfterClient),
    "retries-422": _statuses(lambda s: s | {422}),
    # Whatever deadline it was given, it has none: only its attempts are bounded.
    "no-overall-deadline": lambda o: (
        AsyncApiClient,
        replace(o, retry=replace(o.retry, deadline_s=1e9)),
    ),
    "nonce-repeats": _client(RepeatingNonceClient),
}
DEFECTS = tuple(FACTORIES)


def defective_client(defect: str, base_url: str, options: ClientOptions) -> AsyncApiClient:
    factory = FACTORIES.get(defect)
    if factory is None:
        raise ValueError(f"unknown defect {defect!r}; one of {', '.join(DEFECTS)}")
    client, changed = factory(options)
    return client(base_url, changed)


def _fields(policy: RetryPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in RetryPolicy.__dataclass_fields__}
