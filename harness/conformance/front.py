"""A loopback front that refuses a client's first connection, then relays to the mock.

Rule R7 needs a failure that certainly happened *before* the request was sent:
a refused connection. A closed port refuses at once, which leaves no trace to
tell when the client tried; so the front first listens with a full accept
queue (Linux drops SYNs then, and the client's socket waits in SYN_SENT,
visible in /proc/net/tcp). Once the client is seen waiting, the listener is
replaced by a bound socket that does not listen: the client's SYN
retransmission (about 1 s later) is answered with a reset, i.e. "connection
refused". As soon as the client's socket has given up, the port listens and
relays every connection to the mock, so the client's retry goes through.

Linux only (/proc/net/tcp); elsewhere `supported()` is False.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

PROC_TCP = Path("/proc/net/tcp")
SYN_SENT = "02"
POLL_S = 0.002


def supported() -> bool:
    return PROC_TCP.exists()


class RefusingFront:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._listener = _socket()
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        # Backlog 0 holds one pending connection: ours. The client's SYN is dropped.
        self._listener.listen(0)
        self._plug = socket.create_connection(("127.0.0.1", self.port))
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self.refused_at: float | None = None  # when the client's first connection was refused

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def refuse_first_connection(self, timeout: float = 10.0) -> bool:
        """Wait for the client's first connection attempt, refuse it, then relay.
        False if the client never tried within `timeout`."""
        deadline = time.monotonic() + timeout
        while not self._waiting_clients():
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_S)
        self._plug.close()
        self._listener.close()
        # Held, not listening: the client's next SYN gets a reset (its retransmission
        # is a second away, far more than this takes).
        self._listener = _socket()
        self._listener.bind(("127.0.0.1", self.port))
        while self._waiting_clients() and time.monotonic() < deadline:
            time.sleep(POLL_S)
        self.refused_at = time.time()
        self._listener.listen(64)
        self._spawn(self._accept_loop)
        return True

    def _waiting_clients(self) -> list[int]:
        """Local ports of sockets still trying to connect to the front."""
        waiting = []
        for line in PROC_TCP.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state == SYN_SENT and int(remote.rsplit(":", 1)[1], 16) == self.port:
                waiting.append(int(local.rsplit(":", 1)[1], 16))
        return waiting

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            self._connections += [client, upstream]  # closed with the front
            self._spawn(_pump, client, upstream)
            self._spawn(_pump, upstream, client)

    def _spawn(self, target: Callable[..., object], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        self._closing.set()
        with contextlib.suppress(OSError):
            self._plug.close()
        self._listener.close()
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked on it
            connection.close()
        for thread in self._threads:
            thread.join(timeout=1)

    def __enter__(self) -> RefusingFront:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
