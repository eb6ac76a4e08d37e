"""The only place that reaches into mitmproxy internals.

- The client's socket: mitmproxy offers `flow.kill()` (a FIN) but neither a
  TCP reset nor raw writes; both need the client connection's asyncio stream,
  which its proxyserver addon keeps per connection id. If a mitmproxy upgrade
  moves it, these functions return None / False and callers fall back to
  `flow.kill()`.
- One master per thread: mitmproxy keeps its master and options in the
  process-global `mitmproxy.ctx`, and every new master claims it, so a second
  mock in one process would take over the first one's connections. Each mock
  runs its master on its own thread and event loop; `bind_context_to_thread`
  makes `ctx.master`, `ctx.options` and `ctx.log` resolve per thread.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from typing import Any

import mitmproxy.ctx
from mitmproxy import http
from mitmproxy.master import Master

_LINGER_ABORT = struct.pack("ii", 1, 0)  # on, 0 s: close() sends RST


def client_writer(master: Any, flow: http.HTTPFlow) -> asyncio.StreamWriter | None:
    try:
        handler = master.addons.get("proxyserver").connections[flow.client_conn.id]
        writer = handler.transports[handler.client].writer
    except (AttributeError, KeyError):
        return None
    return writer if isinstance(writer, asyncio.StreamWriter) else None


def reset_client(master: Any, flow: http.HTTPFlow) -> bool:
    """Abort the client connection with a TCP RST; False if that was not possible."""
    writer = client_writer(master, flow)
    sock = writer.get_extra_info("socket") if writer is not None else None
    if writer is None or sock is None:
        return False
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
    writer.transport.abort()
    return True


_CONTEXT_NAMES = ("master", "options", "log")
_bound: dict[int, dict[str, Any]] = {}
_lock = threading.Lock()


class _ThreadBound:
    """Stands in for one `mitmproxy.ctx` attribute; forwards to this thread's value."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def _target(self) -> Any:
        values = _bound.get(threading.get_ident())
        if values is None:  # a thread of no mock's: fall back to the newest
            values = next(reversed(_bound.values()), None) if _bound else None
        if values is None:
            raise RuntimeError("no mitmproxy master is running")
        return values[object.__getattribute__(self, "_name")]

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._target(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(self._target(), attr, value)


_PROXIES = {name: _ThreadBound(name) for name in _CONTEXT_NAMES}


def new_master(opts: Any) -> Master:
    """A Master whose `mitmproxy.ctx` is this thread's own; run it on this thread."""
    with _lock:
        master = Master(opts)  # claims mitmproxy.ctx for itself...
        _bound[threading.get_ident()] = {n: getattr(mitmproxy.ctx, n) for n in _CONTEXT_NAMES}
        for name, proxy in _PROXIES.items():  # ...which then resolves per thread
            setattr(mitmproxy.ctx, name, proxy)
    return master


def release_master() -> None:
    """Forget this thread's master; call once its event loop has closed."""
    with _lock:
        _bound.pop(threading.get_ident(), None)


def forget_log_handler(master: Master) -> None:
    """Remove the root-logger handler a master installs; mitmproxy only does so in
    `done`, which a master that failed to start never reaches, and the handler
    would then post every later log record to a closed event loop."""
    handler = getattr(master, "_legacy_log_events", None)
    if handler is not None:
        handler.uninstall()
