"""A hostile HTTP/1 client on a raw socket: exactly the bytes a test says, and what came
back (status, headers, body, whether the server closed), never a library's repair."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Answer:
    raw: bytes
    closed: bool  # the server closed the connection (EOF or reset)
    seconds: float
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 body; fails the test if the answer is not one."""
        assert self.status is not None, self.raw[:300]
        assert self.headers.get("content-type") == "application/problem+json", self.raw[:300]
        problem: dict[str, Any] = json.loads(self.body)
        assert problem["status"] == self.status
        assert problem["type"].endswith(":" + problem["code"])
        assert problem["title"]
        assert problem["detail"]
        return problem


def parse(raw: bytes, closed: bool, seconds: float) -> Answer:
    answer = Answer(raw, closed, seconds)
    # Skip interim 1xx responses (100 Continue) to the final one.
    while raw.startswith(b"HTTP/1.1 1"):
        raw = raw.partition(b"\r\n\r\n")[2]
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return answer
    status_line, *lines = head.split(b"\r\n")
    answer.status = int(status_line.split(b" ", 2)[1])
    for line in lines:
        name, _, value = line.decode("latin-1").partition(":")
        answer.headers[name.strip().lower()] = value.strip()
    length = int(answer.headers.get("content-length", "0"))
    answer.body = rest[:length]
    return answer


def exchange(
    port: int,
    data: bytes | list[bytes],
    *,
    half_close: bool = False,
    pause_s: float = 0.0,
    timeout: float = 10.0,
) -> Answer:
    """Send `data` (pieces `pause_s` apart), optionally shut down writing, then read
    until the server closes, a whole response is in, or `timeout` passes."""
    pieces = [data] if isinstance(data, bytes) else data
    started = time.monotonic()
    received = b""
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            for n, piece in enumerate(pieces):
                if n and pause_s:
                    time.sleep(pause_s)
                sock.sendall(piece)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            closed = True  # the server refused the rest: read what it said
        sock.settimeout(max(0.1, timeout - (time.monotonic() - started)))
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
            if _complete(received) and not half_close and not _closing(received):
                break  # a whole response on a connection that stays open
    return parse(received, closed, time.monotonic() - started)


def _closing(raw: bytes) -> bool:
    return parse(raw, False, 0.0).headers.get("connection", "").lower() == "close"


def _complete(raw: bytes) -> bool:
    answer = parse(raw, False, 0.0)
    if answer.status is None:
        return False
    return len(answer.body) >= int(answer.headers.get("content-length", "0"))


def request(method: str, path: str, port: int, *headers: str, body: bytes = b"") -> bytes:
    """A well-formed request head (Host first) with `headers`, then `body`."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
