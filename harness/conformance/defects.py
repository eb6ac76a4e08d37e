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

DEFECTS = (
    "parallel-refresh",
    "retry-post-without-key",
    "ignore-retry-after",
    "keeps-old-refresh-token",
    "new-key-per-attempt",
    "retries-4xx",
    "retries-malformed",
    "clock-nonce",
    "refresh-every-401",
    "unbounded-retries",
    "logs-secrets",
    "clears-session-on-503",
    "keeps-dead-session",
    "no-retry-on-refused",
    "no-jitter",
    "no-backoff",
    "no-retry-budget",
    "signs-once-per-call",
    "reports-first-error",
    "lossy-prices",
    "retries-after-cancel",
    "jitter-first-retry-only",
    "small-jitter",
    "constant-backoff",
    "no-cap",
    "budget-never-refills",
    "swapped-refresh-failures",
    "never-retries-429-503",
    "retry-after-seconds-only",
    "retries-422",
    "no-overall-deadline",
    "nonce-repeats",
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


@dataclass(frozen=True)
class NoJitterPolicy(RetryPolicy):
    """Exponential backoff without jitter, as the seed's RetryInterceptor does."""

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        return self.backoff_cap(retry_number)


@dataclass(frozen=True)
class NoBackoffPolicy(RetryPolicy):
    """Retries at once (Retry-After is still honoured)."""

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        return 0.0


@dataclass(frozen=True)
class JitterFirstRetryOnlyPolicy(RetryPolicy):
    """Jitters the first retry; every later retry waits its full bound, the same in
    every client (synchronized waves from the second retry on)."""

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        if retry_number == 1:
            return super().backoff(retry_number, rng)
        return self.backoff_cap(retry_number)


@dataclass(frozen=True)
class SmallJitterPolicy(RetryPolicy):
    """Jitters by 0-20% below the bound: the waits barely spread."""

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        return self.backoff_cap(retry_number) * (1 - 0.2 * rng.random())


@dataclass(frozen=True)
class ConstantBackoffPolicy(RetryPolicy):
    """Full jitter over the base at every retry: the waits never grow."""

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        return rng.uniform(0.0, self.base_delay_s)


@dataclass(frozen=True)
class NoCapPolicy(RetryPolicy):
    """Exponential backoff with full jitter, but no cap: base * 2^(n-1) for ever."""

    def backoff_cap(self, retry_number: int) -> float:
        return self.base_delay_s * 2.0 ** min(retry_number - 1, 62)


class NeverRefillsThrottle(RetryThrottle):
    """A retry budget that spends on failure and never earns anything back."""

    def record_success(self) -> None:
        pass


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


class SecondsOnlyRetryAfterClient(AsyncApiClient):
    """Understands Retry-After in seconds only: an HTTP-date is dropped as unreadable,
    and the client backs off on its own schedule instead."""

    async def _send(self, request: httpx.Request) -> Any:
        outcome = await super()._send(request)
        if isinstance(outcome, httpx.Response):
            value = outcome.headers.get("retry-after", "").strip()
            if value and not value.isdigit():
                del outcome.headers["retry-after"]
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


def defective_client(defect: str, base_url: str, options: ClientOptions) -> AsyncApiClient:
    if defect == "parallel-refresh":
        return ParallelRefreshClient(base_url, options)
    if defect == "retry-post-without-key":
        posts = PostsAreIdempotentPolicy(**_fields(options.retry))
        return AsyncApiClient(base_url, replace(options, retry=posts, auto_idempotency_keys=False))
    if defect == "ignore-retry-after":
        deaf = IgnoresRetryAfterPolicy(**_fields(options.retry))
        return AsyncApiClient(base_url, replace(options, retry=deaf))
    if defect == "keeps-old-refresh-token":
        return AsyncApiClient(
            base_url, replace(options, tokens=KeepsOldRefreshToken(options.tokens))
        )
    if defect == "new-key-per-attempt":
        return NewKeyPerAttemptClient(base_url, options)
    if defect == "retries-4xx":
        return AsyncApiClient(
            base_url, replace(options, retry=Retries4xxPolicy(**_fields(options.retry)))
        )
    if defect == "retries-malformed":
        return RetriesUnexpectedClient(base_url, options)
    if defect == "clock-nonce":
        return ClockNonceClient(base_url, options)
    if defect == "refresh-every-401":
        return RefreshesEvery401Client(base_url, options)
    if defect == "unbounded-retries":
        # No attempt cap worth the name, and no retry budget to stop it either.
        endless = replace(options.retry, max_attempts=30, max_delay_s=0.05, deadline_s=120)
        budget = RetryThrottle(max_tokens=1e9)
        return AsyncApiClient(base_url, replace(options, retry=endless, throttle=budget))
    if defect == "logs-secrets":
        return LogsSecretsClient(base_url, options)
    if defect == "clears-session-on-503":
        return ClearsSessionOnAnyRefreshFailure(base_url, options)
    if defect == "keeps-dead-session":
        return AsyncApiClient(base_url, replace(options, tokens=NeverForgets(options.tokens)))
    if defect == "no-retry-on-refused":
        return _with_policy(base_url, options, RefusedIsFatalPolicy)
    if defect == "no-jitter":
        return _with_policy(base_url, options, NoJitterPolicy)
    if defect == "no-backoff":
        return _with_policy(base_url, options, NoBackoffPolicy)
    if defect == "no-retry-budget":
        return AsyncApiClient(base_url, replace(options, throttle=RetryThrottle(max_tokens=1e9)))
    if defect == "signs-once-per-call":
        return SignsOncePerCallClient(base_url, options)
    if defect == "reports-first-error":
        return ReportsFirstErrorClient(base_url, options)
    if defect == "lossy-prices":
        return LossyPricesClient(base_url, options)
    if defect == "retries-after-cancel":
        return RetriesAfterCancelClient(base_url, options)
    return _more_defects(defect, base_url, options)


def _more_defects(defect: str, base_url: str, options: ClientOptions) -> AsyncApiClient:
    policies: dict[str, type[RetryPolicy]] = {
        "jitter-first-retry-only": JitterFirstRetryOnlyPolicy,
        "small-jitter": SmallJitterPolicy,
        "constant-backoff": ConstantBackoffPolicy,
        "no-cap": NoCapPolicy,
    }
    if defect in policies:
        return _with_policy(base_url, options, policies[defect])
    if defect == "budget-never-refills":
        return AsyncApiClient(base_url, replace(options, throttle=NeverRefillsThrottle()))
    if defect == "swapped-refresh-failures":
        return SwappedRefreshFailuresClient(base_url, options)
    if defect == "never-retries-429-503":
        statuses = options.retry.retry_statuses - {429, 503}
        return AsyncApiClient(
            base_url, replace(options, retry=replace(options.retry, retry_statuses=statuses))
        )
    if defect == "retry-after-seconds-only":
        return SecondsOnlyRetryAfterClient(base_url, options)
    if defect == "retries-422":
        statuses = options.retry.retry_statuses | {422}
        return AsyncApiClient(
            base_url, replace(options, retry=replace(options.retry, retry_statuses=statuses))
        )
    if defect == "no-overall-deadline":
        # Whatever deadline it was given, it has none: only its attempts are bounded.
        endless = replace(options.retry, deadline_s=1e9)
        return AsyncApiClient(base_url, replace(options, retry=endless))
    if defect == "nonce-repeats":
        return RepeatingNonceClient(base_url, options)
    raise ValueError(f"unknown defect {defect!r}; one of {', '.join(DEFECTS)}")


def _with_policy(
    base_url: str, options: ClientOptions, policy: type[RetryPolicy]
) -> AsyncApiClient:
    return AsyncApiClient(base_url, replace(options, retry=policy(**_fields(options.retry))))


def _fields(policy: RetryPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in RetryPolicy.__dataclass_fields__}
