"""What `mitm_internals.listen_with_reuse_port` relies on in mitmproxy, and the
worker-side helpers: fails when an upgrade moves it (the worker tests in
tests/harness/test_workers.py then fail too, over sockets)."""

from __future__ import annotations

import inspect
import socket
from pathlib import Path

from mitmproxy.proxy import mode_servers

from mocks.workers import WorkerRole, reserve_port


def test_mitmproxy_still_listens_through_its_module_level_asyncio_start_server() -> None:
    source = inspect.getsource(mode_servers.AsyncioServerInstance.listen)
    assert "asyncio.start_server(" in source
    assert mode_servers.asyncio.__name__ == "asyncio"  # not yet swapped in this process


def test_a_reserved_port_takes_no_connections_but_lets_workers_listen() -> None:
    holder = reserve_port("127.0.0.1", 0)
    port = holder.getsockname()[1]
    try:
        with socket.socket() as worker:
            worker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            worker.bind(("127.0.0.1", port))
            worker.listen()
            for _ in range(20):  # every connection reaches the listening worker
                with socket.create_connection(("127.0.0.1", port), timeout=5):
                    accepted, _ = worker.accept()
                    accepted.close()
        with socket.socket() as stranger:  # without SO_REUSEPORT, nobody else binds it
            try:
                stranger.bind(("127.0.0.1", port))
            except OSError:
                pass
            else:
                raise AssertionError("the reserved port was free to take")
    finally:
        holder.close()


def test_a_worker_role_round_trips_through_the_environment() -> None:
    role = WorkerRole(1, Path("state.sqlite"), True, 7)
    assert WorkerRole.from_environment(role.environment()) == role
    assert WorkerRole.from_environment({}) is None
