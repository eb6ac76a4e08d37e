"""The attempt deadline: one instant by which the current attempt must be done.

httpx's timeouts bound each socket operation, not their sum: a server that
sends one byte every few seconds never trips a read timeout and holds a call
for as long as it likes. So each shell runs every attempt `within` its
deadline (the engine's `Send.timeout_s`: the per-attempt deadline or what is
left of the call's, whichever is shorter), and a network backend wrapped
around httpcore's clamps every connect, read and write to the time left. When
nothing is left the operation fails with httpcore's own timeout, which httpx
maps as always (ConnectTimeout, WriteTimeout, ReadTimeout): the error kind
says which phase the deadline cut, and the message says it was the deadline.

The deadline lives in a ContextVar, so it is per thread, per greenlet (under
gevent) and per asyncio task: the scope of one attempt in every shell. A
pooled connection reads under the deadline of whichever call is using it.
Deadlines nest and only narrow: a refresh run inside a call never outlives it.

httpx 0.28 has no public way to give its transports a network backend (the
parameter is proposed in encode/httpx#3749); httpcore's backend interface is
public. `install` therefore wraps the backend of the connection pools of
the client's transports (`client._transport`, `client._mounts`, then
`transport._pool._network_backend`) and says whether it could; the tests
fail if an upgrade moves them. A transport it cannot wrap (a mock, a
custom one) is still bounded between body chunks, and by the clamped
httpx timeouts the shells set on each request.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

DEADLINE_PASSED = "the attempt's deadline passed"

_deadline: ContextVar[float | None] = ContextVar("harness_client_deadline", default=None)


@contextmanager
def within(seconds: float | None) -> Iterator[None]:
    """Run the block under a deadline `seconds` from now, or the current one if sooner."""
    if seconds is None:
        yield
        return
    mine = time.monotonic() + max(0.0, seconds)
    outer = _deadline.get()
    token = _deadline.set(mine if outer is None else min(outer, mine))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the current deadline (negative once it passed), or None."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def clamped(timeout: httpx.Timeout) -> dict[str, float | None]:
    """httpx's per-request timeouts, none longer than the time left (the pool wait too)."""
    left = remaining()
    if left is None:
        return timeout.as_dict()
    cap = max(left, 0.0)
    return {k: cap if v is None else min(v, cap) for k, v in timeout.as_dict().items()}


def check(request: httpx.Request) -> None:
    """Between body chunks: fail the attempt once its deadline has passed."""
    left = remaining()
    if left is not None and left <= 0:
        raise httpx.ReadTimeout(DEADLINE_PASSED, request=request)


@contextmanager
def _operation(timeout: float | None, error: type[Exception]) -> Iterator[float | None]:
    """One socket operation's timeout, clamped to the deadline; a timeout the
    deadline caused is reported as such."""
    left = remaining()
    if left is None or (timeout is not None and timeout <= left):
        yield timeout
        return
    if left <= 0:
        raise error(DEADLINE_PASSED)
    try:
        yield left
    except error:
        raise error(DEADLINE_PASSED) from None


class DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _operation(timeout, httpcore.ReadTimeout) as bounded:
            return self._inner.read(max_bytes, bounded)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _operation(timeout, httpcore.WriteTimeout) as bounded:
            self._inner.write(buffer, bounded)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        with _operation(timeout, httpcore.ConnectTimeout) as bounded:
            return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        with _operation(timeout, httpcore.ConnectTimeout) as bounded:
            stream = self._inner.connect_tcp(host, port, bounded, local_address, socket_options)
        return DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        with _operation(timeout, httpcore.ConnectTimeout) as bounded:
            return DeadlineStream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class AsyncDeadlineStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _operation(timeout, httpcore.ReadTimeout) as bounded:
            return await self._inner.read(max_bytes, bounded)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _operation(timeout, httpcore.WriteTimeout) as bounded:
            await self._inner.write(buffer, bounded)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with _operation(timeout, httpcore.ConnectTimeout) as bounded:
            inner = await self._inner.start_tls(ssl_context, server_hostname, bounded)
        return AsyncDeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class AsyncDeadlineBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with _operation(timeout, httpcore.ConnectTimeout) as bounded:
            stream = await self._inner.connect_tcp(
                host, port, bounded, local_address, socket_options
            )
        return AsyncDeadlineStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with _operation(timeout, httpcore.ConnectTimeout) as bounded:
            stream = await self._inner.connect_unix_socket(path, bounded, socket_options)
        return AsyncDeadlineStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def install(client: httpx.Client | httpx.AsyncClient) -> bool:
    """Wrap the network backend of every connection pool under an httpx client:
    its transport and any proxy mounts (from the environment too). False if one
    of them has no pool this module knows how to reach."""
    transports = [client._transport, *client._mounts.values()]
    return all([_install(t) for t in transports if t is not None])


def _install(transport: object) -> bool:
    pool = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if isinstance(inner, DeadlineBackend | AsyncDeadlineBackend):
        return True
    if isinstance(inner, httpcore.NetworkBackend):
        pool._network_backend = DeadlineBackend(inner)  # type: ignore[union-attr]
        return True
    if isinstance(inner, httpcore.AsyncNetworkBackend):
        pool._network_backend = AsyncDeadlineBackend(inner)  # type: ignore[union-attr]
        return True
    return False
