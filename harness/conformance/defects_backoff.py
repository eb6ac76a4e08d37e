"""Defective backoff, retry budgets and Retry-After: variants of the reference
client that R9, R10 and R12 must fail (see defects.py, which serves them)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import httpx

from harness.client import AsyncApiClient, RetryPolicy, RetryThrottle
from harness.client.bodies import Answer


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


class SecondsOnlyRetryAfterClient(AsyncApiClient):
    """Understands Retry-After in seconds only: an HTTP-date is dropped as unreadable,
    and the client backs off on its own schedule instead."""

    async def _send(self, request: httpx.Request) -> Any:
        outcome = await super()._send(request)
        if isinstance(outcome, (Answer, httpx.Response)):
            value = outcome.headers.get("retry-after", "").strip()
            if value and not value.isdigit():
                del outcome.headers["retry-after"]
        return outcome
