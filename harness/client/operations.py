"""Typed client methods from the call builders, once for both shells.

`sync_operation(calls.get_product)` becomes `ApiClient.get_product(id) -> Product`;
`async_operation(...)` the awaitable twin. Token bookkeeping that follows a
call (login stores the pair, logout forgets it) lives in `settle`, shared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Protocol

from contracts import models
from harness.client.calls import Call
from harness.client.engine import Settings
from harness.client.tokens import TokenPair

_STARTS_SESSION = frozenset({"login", "register", "refresh"})


def settle(settings: Settings, call: Call[Any], result: Any) -> None:
    """What the client remembers after a successful call."""
    if call.operation in _STARTS_SESSION and isinstance(result, models.TokenResponse):
        settings.tokens.set(TokenPair(result.access_token, result.refresh_token))
    elif call.operation == "logout":
        settings.tokens.clear()


class _SyncShell(Protocol):
    def call[T](self, call: Call[T]) -> T: ...


class _AsyncShell(Protocol):
    async def call[T](self, call: Call[T]) -> T: ...


def sync_operation[**P, T](
    build: Callable[P, Call[T]],
) -> Callable[Concatenate[_SyncShell, P], T]:
    def method(self: _SyncShell, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.call(build(*args, **kwargs))

    method.__name__ = build.__name__
    method.__doc__ = build.__doc__
    return method


def async_operation[**P, T](
    build: Callable[P, Call[T]],
) -> Callable[Concatenate[_AsyncShell, P], Awaitable[T]]:
    async def method(self: _AsyncShell, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.call(build(*args, **kwargs))

    method.__name__ = build.__name__
    method.__doc__ = build.__doc__
    return method
