"""Who may drive the control API: the gate in front of every /__harness/ call.

The control API can turn the API key and signing off, install faults and wipe
data, so it must not be drivable by whoever reaches the port:

- A web page the developer visits can send requests to 127.0.0.1 (CSRF). A
  browser marks them with `Origin` (and `Sec-Fetch-Site`): a foreign origin is
  a 403. A page cannot send a JSON content type without a CORS preflight the
  mock never grants, so a body that is not JSON is a 415.
- DNS rebinding points a page's own host name at 127.0.0.1, so its requests
  look same-origin; their `Host` header still names the page's host. Only
  the names the mock is bound to are accepted.
- Beyond loopback, anyone on the network is a caller: a control token is
  required (generated at start unless given), compared in constant time.
  On loopback it is optional, unless asked for.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from dataclasses import dataclass, field

from mitmproxy import http

from mocks.problems import ProblemError
from mocks.wire import is_json_media_type

TOKEN_HEADER = "X-Harness-Token"
TOKEN_ENV = "HARNESS_CONTROL_TOKEN"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})
# Sec-Fetch-Site values a browser sends for requests another site's page started.
_FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """True if `host` (an address or a name) is loopback only: 127.0.0.0/8, ::1."""
    bare = host.strip("[]")
    if bare in _WILDCARDS:
        return False
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(bare, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass(frozen=True)
class ControlAccess:
    """How the control API is guarded: the token (None: none needed) and the host the
    mock was asked to bind, whose name is accepted besides the loopback names."""

    token: str | None = None
    bind_host: str = "127.0.0.1"
    port: int | None = None  # the bound port, known once listening
    hosts: frozenset[str] = field(default=frozenset())
    origins: frozenset[str] = field(default=frozenset())

    def bound(self, port: int) -> ControlAccess:
        """The access rules once the port is known."""
        names = {*LOOPBACK_NAMES, _bracketed(self.bind_host.lower())} - _WILDCARDS
        hosts = {f"{name}:{port}" for name in names}
        if port == 80:
            hosts |= names
        origins = {f"http://{host}" for host in hosts}
        return ControlAccess(self.token, self.bind_host, port, frozenset(hosts), frozenset(origins))


def check(access: ControlAccess, flow: http.HTTPFlow) -> None:
    """Raise the ProblemError that refuses this control request, if any."""
    headers = flow.request.headers
    host = (flow.request.host_header or "").strip().lower()
    if access.hosts and host not in access.hosts:
        raise ProblemError(
            403,
            "control_host_refused",
            f"The control API answers only to the names it is bound to, not Host {host!r} "
            "(a DNS-rebinding page would send its own name).",
        )
    origin = headers.get("origin")
    if origin is not None and origin.strip().lower() not in access.origins:
        raise ProblemError(
            403,
            "control_origin_refused",
            f"The control API refuses requests from web pages (Origin {origin!r}).",
        )
    if headers.get("sec-fetch-site", "").lower() in _FOREIGN_FETCH_SITES:
        raise ProblemError(
            403, "control_origin_refused", "The control API refuses requests from web pages."
        )
    if access.token is not None:
        presented = headers.get(TOKEN_HEADER)
        if presented is None:
            raise ProblemError(
                401,
                "control_token_required",
                f"This mock's control API needs its control token in {TOKEN_HEADER} "
                f"(harness commands read it from {TOKEN_ENV}).",
            )
        if not hmac.compare_digest(_bytes(presented), _bytes(access.token)):
            raise ProblemError(401, "control_token_invalid", "The control token is wrong.")
    content_type = headers.get("content-type")
    if (flow.request.raw_content or content_type is not None) and not is_json_media_type(
        content_type or ""
    ):
        raise ProblemError(
            415,
            "unsupported_media_type",
            f"Control API bodies are application/json, not {content_type or 'untyped'}.",
        )


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")
