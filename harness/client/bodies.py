"""Reading a response body without ever holding more than the limit. Pure: the
shells feed it the raw chunks they read, it holds and inflates them.

- A Content-Length over the limit is refused before a byte of the body is read.
- A body that grows past the limit is refused at the chunk that crosses it,
  counted both on the wire and inflated, so no more than the limit plus one
  chunk (httpcore reads 64 KiB at a time) is ever held.
- gzip and deflate are inflated here, with zlib's `max_length`, not by httpx:
  httpx inflates each chunk whole, and one 64 KiB chunk of a gzip bomb is
  64 MiB. The client asks for these two codings only (`ACCEPT_ENCODING`); any
  other (br, zstd, stacked codings) is refused as `unexpected`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx

from harness.client import errors

ACCEPT_ENCODING = "gzip, deflate"
_GZIP_WBITS = zlib.MAX_WBITS | 16
_STEP = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """A response read whole, within the limit: what a shell hands the engine.
    It reads like an httpx.Response; `content` is already inflated, `headers`
    are as received."""

    status_code: int
    headers: httpx.Headers
    content: bytes
    request: httpx.Request

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class _Inflater:
    def __init__(self, coding: str) -> None:
        self._coding = coding
        wbits = _GZIP_WBITS if coding == "gzip" else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits)
        self._started = False

    def inflate(self, data: bytes) -> Iterator[bytes]:
        """Inflate `data` in pieces of at most _STEP bytes: the caller stops when
        it has enough, and zlib never builds a larger output than one piece."""
        while True:
            try:
                out = self._zlib.decompress(data, _STEP)
            except zlib.error:
                if self._coding != "deflate" or self._started:
                    raise
                # "deflate" is zlib-wrapped (RFC 9110 s8.4.1.2); some servers send it raw.
                self._started = True  # one fallback only
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._started = True
            if out:
                yield out
            if len(out) < _STEP or self._zlib.eof:
                return  # all input consumed and nothing pending
            data = self._zlib.unconsumed_tail

    @property
    def complete(self) -> bool:
        return self._zlib.eof


def _inflater(content_encoding: str) -> _Inflater | None:
    codings = [c.strip() for c in content_encoding.lower().split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflater("deflate" if codings[0] == "deflate" else "gzip")
    raise errors.Unexpected(
        f"unsupported Content-Encoding {content_encoding!r}: the client accepts "
        f"{ACCEPT_ENCODING} only"
    )


class BodyReader:
    """One response's body, read chunk by chunk within `limit` bytes."""

    def __init__(self, response: httpx.Response, limit: int) -> None:
        self._status = response.status_code
        self.limit = limit
        self._wire = 0
        self._held = 0
        self._chunks: list[bytes] = []  # joined once at the end: no regrowth copies
        try:
            self._inflater = _inflater(response.headers.get("content-encoding", ""))
        except errors.Unexpected as e:
            e.status = self._status
            raise
        length = response.headers.get("content-length", "").strip()
        if length.isdigit() and (len(length) > 18 or int(length) > limit):
            self._too_large(f"Content-Length {length[:20]}")

    def feed(self, chunk: bytes) -> None:
        self._wire += len(chunk)
        if self._wire > self.limit:
            self._too_large(f"over {self.limit} bytes on the wire")
        if self._inflater is not None:
            try:
                for piece in self._inflater.inflate(chunk):
                    self._hold(piece, "inflated")
            except zlib.error as e:
                raise errors.Unexpected(
                    f"a corrupt compressed body: {e}", status=self._status
                ) from e
            return
        self._hold(chunk, "on the wire")

    def _hold(self, data: bytes, where: str) -> None:
        if self._held + len(data) > self.limit:
            self._too_large(f"over {self.limit} bytes {where}")
        self._held += len(data)
        self._chunks.append(data)

    def answer(self, streamed: httpx.Response) -> Answer:
        """The whole answer, with its body as read here."""
        if self._inflater is not None and self._wire and not self._inflater.complete:
            raise errors.Unexpected("a truncated compressed body", status=self._status)
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        return Answer(streamed.status_code, streamed.headers, body, streamed.request)

    def _too_large(self, why: str) -> NoReturn:
        raise errors.ResponseTooLarge(
            f"the response is larger than max_response_bytes={self.limit}: {why}",
            limit=self.limit,
            status=self._status,
        )
