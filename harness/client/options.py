"""How a client is configured; shared by the sync and async clients.

Bounds on what one call may cost, whatever the server does:
- `timeout` (httpx): each connect, write, read and pool wait, one at a time.
- `attempt_deadline_s` (default 20 s): one attempt in total, connect, send and
  the whole body read included, so a server that drips a byte every few
  seconds is cut off; None leaves only the call's deadline.
- `retry.deadline_s` (default 30 s): the whole call, attempts, sleeps and any
  refresh included.
- `max_response_bytes` (default 16 MiB): the largest body read, on the wire
  and inflated; a larger one fails as `unexpected` (`ResponseTooLarge`) and is
  not retried.
Redirects are never followed (a 3xx is `unexpected`): credentials and
signatures never go to another origin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from harness.client.engine import (
    DEFAULT_ATTEMPT_DEADLINE_S,
    DEFAULT_MAX_RESPONSE_BYTES,
    RetryEvent,
    Settings,
)
from harness.client.retry import RetryPolicy, RetryThrottle
from harness.client.tokens import InMemoryTokenStore, TokenStore


@dataclass
class ClientOptions:
    tokens: TokenStore = field(default_factory=InMemoryTokenStore)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    throttle: RetryThrottle = field(default_factory=RetryThrottle)
    api_key: str | None = None
    signing_secret: str | None = None
    auto_idempotency_keys: bool = True
    on_retry: Callable[[RetryEvent], None] | None = None
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(10.0))
    attempt_deadline_s: float | None = DEFAULT_ATTEMPT_DEADLINE_S
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    transport: httpx.BaseTransport | None = None
    async_transport: httpx.AsyncBaseTransport | None = None

    def __post_init__(self) -> None:
        if self.attempt_deadline_s is not None and not self.attempt_deadline_s > 0:
            raise ValueError(
                f"attempt_deadline_s must be positive or None, not {self.attempt_deadline_s!r}"
            )
        if isinstance(self.max_response_bytes, bool) or not (
            isinstance(self.max_response_bytes, int) and self.max_response_bytes > 0
        ):
            raise ValueError(
                f"max_response_bytes must be a positive int, not {self.max_response_bytes!r}"
            )

    def settings(self, base_url: str) -> Settings:
        return Settings(
            base_url=base_url,
            tokens=self.tokens,
            policy=self.retry,
            throttle=self.throttle,
            api_key=self.api_key,
            signing_secret=self.signing_secret,
            auto_idempotency_keys=self.auto_idempotency_keys,
            on_retry=self.on_retry,
            attempt_deadline_s=self.attempt_deadline_s,
            max_response_bytes=self.max_response_bytes,
        )
