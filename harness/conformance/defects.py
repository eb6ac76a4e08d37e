"""Deliberately defective variants of the reference client, one defect each.

They exist to prove that every verdict can fail: a check that passes a
client breaking its rule is itself a defect. Never use them for anything else.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, replace
from typing import Any

from harness.client import AsyncApiClient, ClientOptions, RetryPolicy
from harness.client.engine import Refresh, Send, refresh_flow
from harness.client.retry import Attempt, Decision

DEFECTS = ("parallel-refresh", "retry-post-without-key", "ignore-retry-after")


class ParallelRefreshClient(AsyncApiClient):
    """Refreshes for every 401, concurrently: no lock, no "already replaced" check."""

    async def _drive(self, flow: Any) -> Any:
        result: Any = None
        while True:
            try:
                command = flow.send(result)
            except StopIteration as done:
                return done.value
            if isinstance(command, Refresh):
                current = self.settings.tokens.get()
                stale = current.access_token if current else None
                result = await self._drive(refresh_flow(self.settings, stale))
            elif isinstance(command, Send):
                result = await self._send(command.request)
            else:
                await asyncio.sleep(command.seconds)
                result = None


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


def defective_client(defect: str, base_url: str, options: ClientOptions) -> AsyncApiClient:
    if defect == "parallel-refresh":
        return ParallelRefreshClient(base_url, options)
    if defect == "retry-post-without-key":
        posts = PostsAreIdempotentPolicy(**_fields(options.retry))
        return AsyncApiClient(base_url, replace(options, retry=posts, auto_idempotency_keys=False))
    if defect == "ignore-retry-after":
        deaf = IgnoresRetryAfterPolicy(**_fields(options.retry))
        return AsyncApiClient(base_url, replace(options, retry=deaf))
    raise ValueError(f"unknown defect {defect!r}; one of {', '.join(DEFECTS)}")


def _fields(policy: RetryPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in RetryPolicy.__dataclass_fields__}
