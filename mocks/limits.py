"""What one client may make the mock hold, and how the mock answers when the HTTP
layer, not the API, refuses a request.

Every limit is a mitmproxy option (`--set NAME=VALUE`); the defaults:

| option | default | past it |
|---|---|---|
| `harness_max_header_bytes` | 32768 | request line and headers: 431 |
| `harness_max_headers` | 100 | header fields: 431 |
| `harness_header_timeout_s` | 10 | from a head's first byte to its end: 408 |
| `tcp_timeout` (mitmproxy's) | 120 | an idle connection is closed |
| `body_size_limit` (mitmproxy's) | 16m | the body is not read: 413 |
| (the API, `mocks/wire.py`) | 256 KiB | an API body: 413 |
| `harness_tls` | false | a TLS handshake is closed (HTTP/2: never, see server.py) |

mitmproxy answers protocol errors (a bad request line, a bad chunk size, a
body past its limit, a smuggling attempt) itself; `install_http1_guard` makes
those answers RFC 9457 problems too. A closed connection's buffers are
emptied when it closes, and the cyclic garbage collector runs after every
16 MiB that closed connections brought, then the allocator hands the freed
pages back (see docs/upstream/mitmproxy-abandoned-request-memory.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from typing import Any

from mitmproxy import addonmanager, http

from mocks import mitm_internals
from mocks.problems import problem_response, status_phrase

log = logging.getLogger(__name__)

DEFAULT_MAX_HEADER_BYTES = 32 * 1024
DEFAULT_MAX_HEADERS = 100
DEFAULT_HEADER_TIMEOUT_S = 10
DEFAULT_IDLE_TIMEOUT_S = 120
# A full collection after closed connections brought this much: the cyclic collector
# counts objects, and an abandoned request is few objects but many bytes.
COLLECT_AFTER_BYTES = 16 * 1024 * 1024
MAX_DETAIL = 300
_CODES = {
    400: "malformed_request",
    408: "request_timeout",
    413: "payload_too_large",
    431: "request_headers_too_large",
    502: "bad_gateway",
    504: "gateway_timeout",
}


def _allocator_trim() -> Any:
    """glibc's malloc_trim, or None elsewhere: after a collection freed an attack's
    buffers, it hands the freed pages back to the OS, so RSS shows what is live."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


_TRIM = _allocator_trim()


def error_page(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 problem response that closes the connection."""
    detail = message.strip() or status_phrase(status)
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL] + "..."
    response = problem_response(status, _CODES.get(status, "protocol_error"), detail)
    response.headers["connection"] = "close"
    head = [f"HTTP/1.1 {status} {status_phrase(status)}"]
    head += [f"{name}: {value}" for name, value in response.headers.items(multi=True)]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (response.raw_content or b"")


def _positive(options: Any, name: str) -> Any:
    value = getattr(options, name, None)
    return value if value else None


GUARD = mitm_internals.Http1Guard(
    max_head_bytes=lambda options: _positive(options, "harness_max_header_bytes"),
    head_timeout_s=lambda options: _positive(options, "harness_header_timeout_s"),
    error_page=error_page,
)


class Limits:
    """Registers the limits, guards mitmproxy's HTTP/1 server with them, counts header
    fields, refuses TLS unless asked, and empties a closed connection's buffers."""

    def __init__(self) -> None:
        self._master: Any = None
        self._received_since_collect = 0
        self.collections = 0  # forced collections so far
        self.closed = 0  # client connections closed so far
        self.closed_at_collection = 0  # `closed` once the last collection had run

    def load(self, loader: addonmanager.Loader) -> None:
        self._master = loader.master
        loader.add_option(
            "harness_max_header_bytes",
            int,
            DEFAULT_MAX_HEADER_BYTES,
            "Largest request head (request line and headers) in bytes; larger: 431. 0: no limit.",
        )
        loader.add_option(
            "harness_max_headers", int, DEFAULT_MAX_HEADERS, "Most header fields; more: 431."
        )
        loader.add_option(
            "harness_header_timeout_s",
            int,
            DEFAULT_HEADER_TIMEOUT_S,
            "Seconds from a request head's first byte to its end (slowloris); slower: 408. "
            "0: no limit. Idle connections are closed after tcp_timeout.",
        )
        loader.add_option(
            "harness_tls",
            bool,
            False,
            "Answer TLS handshakes on the port (with mitmproxy's CA), HTTP/1.1 within "
            "them; off: a plain-HTTP port closes a TLS handshake at once.",
        )
        mitm_internals.install_http1_guard(GUARD)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        options = self._master.options
        fields = flow.request.headers.fields
        most = _positive(options, "harness_max_headers")
        largest = _positive(options, "harness_max_header_bytes")
        status = 431
        if most is not None and len(fields) > most:
            reason = f"The request has {len(fields)} header fields; at most {most} are accepted."
        elif largest is not None and _head_size(flow.request) > largest:
            reason = f"The request head is larger than {largest} bytes."
        else:
            status, reason = 400, _malformed(flow.request)
            if not reason:
                return
        flow.response = problem_response(
            status, _CODES[status], reason, headers={"connection": "close"}
        )

    def next_layer(self, nextlayer: Any) -> None:
        if not self._master.options.harness_tls and mitm_internals.refuse_tls(nextlayer):
            log.info("closed a TLS handshake: TLS is off on this port (harness_tls)")

    def client_disconnected(self, client: Any) -> None:
        self._received_since_collect += mitm_internals.release_connection(self._master, client)
        if self._received_since_collect >= COLLECT_AFTER_BYTES:
            # ~5 ms with the startup heap frozen (mocks/server.py); once per 16 MiB.
            self._received_since_collect = 0
            self.collections += 1
            gc.collect()
            if _TRIM is not None:
                _TRIM(0)
            self.closed_at_collection = self.closed + 1
        self.closed += 1  # last: whoever waits for it sees the release done


def _malformed(request: http.Request) -> str:
    """What RFC 9112 says a server must refuse and mitmproxy lets through, if anything."""
    for name, value in request.headers.fields:
        if b"\r" in value or b"\n" in value or b"\x00" in value:
            # obs-fold (section 5.2), a bare CR or a NUL (RFC 9110 section 5.5): forwarded
            # as they are, they split the header for the next parser.
            shown = name.decode("latin-1")
            return f"Header {shown!r} holds a line fold, a CR or a NUL; send it on one line."
    if request.http_version == "HTTP/1.1" and not request.is_http2:
        hosts = len(request.headers.get_all("host"))
        if hosts != 1:  # section 3.2
            return f"An HTTP/1.1 request carries exactly one Host header, not {hosts}."
    return ""


def _head_size(request: http.Request) -> int:
    line = len(request.method) + len(request.path) + len(request.http_version) + 4
    return line + sum(len(name) + len(value) + 4 for name, value in request.headers.fields)
