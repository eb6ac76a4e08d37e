"""A hostile HTTP/1.1 server on loopback, for the reference client's bound tests.

The first path segment picks the behaviour and the rest is the client's own
path, so a client whose base URL is `server.url("drip")` talks to it unchanged:

    giant              200 with `Content-Length: giant_bytes`, then that many bytes
    endless            200, chunked, chunks as fast as the client reads them
    drip               200 with a long Content-Length, then 1 byte every `drip_s`
    drip-headers       the status line, then the header block 1 byte every `drip_s`
    gzip-bomb          200, `Content-Encoding: gzip`, a small body that inflates to giant_bytes
    gzip-ok            200, a gzip-encoded user profile (the one honest answer here)
    encoding=VALUE     200, `Content-Encoding: VALUE`, a body that is no such thing
    deep-json          401 whose problem body is JSON nested 100,000 deep
    redirect=URL       307 to URL + the client's path (a second server: another origin)
    storm              401 `invalid_token` for everything; the refresh issues new tokens
    storm-all          401 for everything, the refresh included
    retry-after=VALUE  503 with `Retry-After: VALUE` (URL-quoted in the path)
    ok                 200 `{}`: a target that only records what reached it

Every request is recorded in `seen` (method, path, headers) before it is
answered. "Endless" and the drips stop by themselves after `cap_s` or
`cap_bytes`, so a client without bounds fails its test instead of hanging it.

The server runs its own event loop in a daemon thread: sync and async tests
use it alike. It writes one preallocated chunk over and over and waits for
the socket to drain, so its own memory stays flat whatever the client does.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import secrets
import threading
import time
import zlib
from dataclasses import dataclass
from functools import cache
from typing import Self
from urllib.parse import unquote

MiB = 1024 * 1024
CHUNK = b" " * (64 * 1024)
PROFILE = (
    b'{"id":"usr_1","email":"a@example.com","name":"A","created_at":"2024-05-01T10:00:00+00:00"}'
)
_PROBLEM = b'{"type":"about:blank","title":"Unauthorized","status":401,"code":"token_expired"}'


@dataclass(frozen=True)
class Seen:
    mode: str
    method: str
    path: str  # the client's path, without the mode segment
    headers: dict[str, str]  # lower-cased names


@cache
def _gzip_bomb(size: int) -> bytes:
    """gzip of `size` zero bytes, compressed piece by piece: never `size` in memory."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(len(CHUNK))
    parts = [deflate.compress(zeros) for _ in range(size // len(zeros))]
    parts += [deflate.compress(bytes(size % len(zeros))), deflate.flush()]
    return b"".join(parts)


class HostileServer:
    def __init__(
        self,
        *,
        giant_bytes: int = 64 * MiB,
        drip_s: float = 0.5,
        cap_s: float = 20.0,
        cap_bytes: int = 128 * MiB,
    ) -> None:
        self.giant_bytes = giant_bytes
        self.drip_s = drip_s
        self.cap_s = cap_s
        self.cap_bytes = cap_bytes
        self.seen: list[Seen] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="hostile-server", daemon=True)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        _gzip_bomb(self.giant_bytes)  # before any test measures memory
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the hostile server did not start")
        return self

    def stop(self) -> None:
        if self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}"

    def requests(self, mode: str | None = None) -> list[Seen]:
        return [s for s in self.seen if mode is None or s.mode == mode]

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=256 * 1024)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stopped.wait()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:  # connections still open: a stopped server leaves nothing running
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    # --- one connection --------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_exchange(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # the client went away: exactly what a bounded client does
        finally:
            writer.close()

    async def _one_exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {}
        for line in lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        await reader.readexactly(int(headers.get("content-length", "0")))
        _, mode_segment, *rest = target.split("/", 2)
        mode, _, argument = mode_segment.partition("=")
        path = "/" + (rest[0] if rest else "")
        self.seen.append(Seen(mode, method, path, headers))
        return await self._answer(writer, mode, unquote(argument), path)

    async def _answer(self, writer: asyncio.StreamWriter, mode: str, arg: str, path: str) -> bool:
        """Answer one request; True if the connection may carry another."""
        if mode == "giant":
            await self._head(writer, 200, {"Content-Length": str(self.giant_bytes)})
            await self._stream(writer, self.giant_bytes, chunked=False)
        elif mode == "endless":
            await self._head(writer, 200, {"Transfer-Encoding": "chunked"})
            await self._stream(writer, self.cap_bytes, chunked=True)
        elif mode == "drip":
            await self._head(writer, 200, {"Content-Length": "100000"})
            await self._drip(writer, b" " * 10_000)
        elif mode == "drip-headers":
            writer.write(b"HTTP/1.1 200 OK\r\n")
            await self._drip(writer, b"X-Slow: " + b"a" * 8000)
            writer.write(b"\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
        elif mode == "gzip-bomb":
            body = _gzip_bomb(self.giant_bytes)
            headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
            await self._whole(writer, 200, body, headers)
            return True
        elif mode == "gzip-ok":
            headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
            await self._whole(writer, 200, gzip.compress(PROFILE), headers)
            return True
        elif mode == "encoding":
            headers = {"Content-Encoding": arg, "Content-Type": "application/json"}
            await self._whole(writer, 200, b"\x1b\x00\xf8{}", headers)
            return True
        elif mode == "deep-json":
            body = b"[" * 100_000 + b"]" * 100_000
            await self._whole(writer, 401, body, {"Content-Type": "application/problem+json"})
            return True
        elif mode == "redirect":
            await self._whole(writer, 307, b"", {"Location": arg + path})
            return True
        elif mode in ("storm", "storm-all"):
            if mode == "storm" and path.endswith("/v1/auth/refresh"):
                await self._whole(writer, 200, _new_tokens(), {"Content-Type": "application/json"})
            else:
                challenge = {"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'}
                await self._whole(writer, 401, _PROBLEM, _problem_headers(challenge))
            return True
        elif mode == "retry-after":
            problem = b'{"title":"Unavailable","status":503}'
            await self._whole(writer, 503, problem, _problem_headers({"Retry-After": arg}))
            return True
        else:
            await self._whole(writer, 200, b"{}", {"Content-Type": "application/json"})
            return True
        return False  # a hostile answer: this connection carries nothing more

    async def _head(
        self, writer: asyncio.StreamWriter, status: int, headers: dict[str, str]
    ) -> None:
        lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()

    async def _whole(
        self, writer: asyncio.StreamWriter, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        await self._head(writer, status, {**headers, "Content-Length": str(len(body))})
        writer.write(body)
        await writer.drain()

    async def _stream(self, writer: asyncio.StreamWriter, size: int, *, chunked: bool) -> None:
        started, sent = time.monotonic(), 0
        frame = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK
        while sent < size and time.monotonic() - started < self.cap_s:
            n = min(len(CHUNK), size - sent)
            writer.write(frame if chunked or n == len(CHUNK) else CHUNK[:n])
            sent += n
            await writer.drain()
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async def _drip(self, writer: asyncio.StreamWriter, payload: bytes) -> None:
        started = time.monotonic()
        for i in range(len(payload)):
            if time.monotonic() - started >= self.cap_s:
                break
            writer.write(payload[i : i + 1])
            await writer.drain()
            await asyncio.sleep(self.drip_s)


def _problem_headers(extra: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/problem+json", **extra}


def _new_tokens() -> bytes:
    return json.dumps(
        {
            "access_token": secrets.token_hex(8),
            "refresh_token": secrets.token_hex(8),
            "token_type": "Bearer",
            "expires_in": 300,
        }
    ).encode()
