"""How a client is configured; shared by the sync and async clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from harness.client.engine import RetryEvent, Settings
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
    transport: httpx.BaseTransport | None = None
    async_transport: httpx.AsyncBaseTransport | None = None

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
        )
