"""What a client abandons comes back: once its connection closes, no buffer of the
request it never finished stays behind, without waiting for a garbage collection that
mitmproxy leaves to chance. RSS figures over long runs are in bench/soak_memory.py; here
the buffers themselves are counted, which does not depend on the allocator or the load."""

from __future__ import annotations

import gc
import socket
import time
from collections.abc import Iterator

import pytest

from mocks import mitm_internals
from mocks.chain import AddonChain
from mocks.limits import COLLECT_AFTER_BYTES, Limits
from mocks.server import MockServer

MIB = 1024 * 1024


def _big_buffers() -> int:
    """Receive buffers of mitmproxy's layers holding 1 MiB or more, alive or garbage."""
    return sum(
        1
        for obj in gc.get_objects()
        if isinstance(obj, mitm_internals._BUFFERS) and len(obj) >= MIB
    )


def _limits(mock: MockServer) -> Limits:
    assert mock._master is not None
    chain = next(a for a in mock._master.addons.chain if isinstance(a, AddonChain))
    limits: Limits = chain.member(Limits)
    return limits


def _wait_until_closed(mock: MockServer, count: int, timeout: float = 30.0) -> None:
    """Until the mock has released `count` closed connections in all (its close hook has
    run for each: waiting for mitmproxy's connection list alone raced the hook)."""
    limits = _limits(mock)
    deadline = time.monotonic() + timeout
    while limits.closed < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert limits.closed >= count, "the mock still holds abandoned connections"


def _abandon(port: int, head: bytes, body_bytes: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(head)
            for _ in range(body_bytes // 65536):
                sock.sendall(b"x" * 65536)
        except OSError:
            pass  # refused early (a head past the limit): that is fine too


@pytest.fixture
def unlimited() -> Iterator[MockServer]:
    # No head limit, so the abandoned heads really are buffered in full.
    with MockServer(extra_options={"harness_max_header_bytes": "0"}) as mock:
        gc.collect()  # start from no garbage, so what remains is the mock's doing
        yield mock


def test_an_abandoned_head_leaves_no_buffer_behind(unlimited: MockServer) -> None:
    port = unlimited.port
    assert port is not None
    head = f"GET /v1/products HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Big: ".encode()
    gc.disable()  # nothing but the mock itself may free these
    try:
        closed = _limits(unlimited).closed
        for _ in range(3):
            _abandon(port, head, 4 * MIB)
        _wait_until_closed(unlimited, closed + 3)
        assert _big_buffers() == 0
    finally:
        gc.enable()


def test_abandoned_bodies_leave_no_buffer_behind(unlimited: MockServer) -> None:
    # A stream that ended in an error is no longer reachable from its connection, only
    # from the garbage cycles around it: the mock runs the collector by bytes as well.
    # How much of each body the mock read before the close depends on the scheduler, so
    # the test abandons until a collection ran, then allows only the connections that
    # closed after it (below the next collection's bytes) to leave garbage.
    port = unlimited.port
    assert port is not None
    head = (
        f"POST /v1/products HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {4 * MIB}\r\n\r\n"
    ).encode()
    limits = _limits(unlimited)
    before, closed = limits.collections, limits.closed
    most = 4 * (COLLECT_AFTER_BYTES // (2 * MIB) + 2)
    for _ in range(most):
        _abandon(port, head, 2 * MIB)
        closed += 1
        _wait_until_closed(unlimited, closed)
        if limits.collections > before and limits.closed - limits.closed_at_collection >= 2:
            break
    assert limits.collections > before, f"{most} abandoned bodies ran no collection"
    since = limits.closed - limits.closed_at_collection
    assert since < COLLECT_AFTER_BYTES // MIB
    assert _big_buffers() <= since


def test_ordinary_traffic_does_not_trigger_collections(unlimited: MockServer) -> None:
    import httpx

    before = _limits(unlimited).collections
    with httpx.Client(base_url=unlimited.base_url) as client:
        for _ in range(200):
            client.get("/v1/products")
    assert _limits(unlimited).collections == before
