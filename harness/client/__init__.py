"""The reference client: the seed's Dio client done right, on httpx.

from harness.client import ApiClient
with ApiClient("http://127.0.0.1:8080") as api:
    api.login("demo@example.com", "demo-password")
    product = api.get_product("prd_...")
"""

from harness.client.async_client import AsyncApiClient
from harness.client.engine import RetryEvent
from harness.client.errors import ApiError
from harness.client.options import ClientOptions
from harness.client.retry import RetryPolicy, RetryThrottle
from harness.client.sync_client import ApiClient
from harness.client.tokens import InMemoryTokenStore, KeyringTokenStore, TokenPair, TokenStore

__all__ = [
    "ApiClient",
    "ApiError",
    "AsyncApiClient",
    "ClientOptions",
    "InMemoryTokenStore",
    "KeyringTokenStore",
    "RetryEvent",
    "RetryPolicy",
    "RetryThrottle",
    "TokenPair",
    "TokenStore",
]
