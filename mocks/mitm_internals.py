"""The only place that reaches into mitmproxy internals.

- The HTTP/1 server (`install_http1_guard`): a bound on request heads, a
  head-read timeout, problem pages instead of HTML ones, an answer before
  closing on a body it cannot read; and `release_connection` for a closed
  connection; `refuse_tls` for a plain-HTTP port. tests/mocks/
  test_mitm_internals.py fails if a mitmproxy upgrade moves what they patch.
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
- The addons package is registered lazily by mocks/mitm_lazy_addons.py (it
  must run before anything imports mitmproxy's master, so from
  mocks/__init__.py).
- Hook dispatch (`plan_hook_dispatch`): mitmproxy walks every addon of the
  chain, and its sub-addons, for every hook (eight a request), whether it
  implements the hook or not; the lean master dispatches from a plan instead.
- Reads (`install_cheaper_reads`, process-wide): mitmproxy deep-copies an
  option's value twice on every read (about ten a request) and walks a hook's
  dataclass fields for its arguments (eight a request); a scalar option is
  returned as it is, a hook's field names are kept per hook class.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import re
import socket
import struct
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, fields
from typing import Any

import h11._receivebuffer  # mitmproxy's HTTP/1 layers buffer with it
import mitmproxy.ctx
from mitmproxy import exceptions, flow, hooks, http, optmanager
from mitmproxy.addonmanager import AddonManager, safecall
from mitmproxy.connection import ConnectionState
from mitmproxy.master import Master
from mitmproxy.proxy import commands, events
from mitmproxy.proxy import utils as proxy_utils
from mitmproxy.proxy.layer import Layer
from mitmproxy.proxy.layers import ClientTLSLayer
from mitmproxy.proxy.layers.http import _http1
from mitmproxy.proxy.layers.http._base import ReceiveHttp
from mitmproxy.proxy.layers.http._events import ErrorCode, RequestProtocolError
from mitmproxy.utils import human

_BUFFERS = (h11._receivebuffer.ReceiveBuffer, proxy_utils.ReceiveBuffer)

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


# The process's only master, on the main thread (`harness mock`): `mitmproxy.ctx` stays
# mitmproxy's own, no proxy (each costs a lookup, a dozen times a request). If another
# master starts beside it, it joins `_bound` and every master resolves per thread.
_sole: tuple[int, dict[str, Any]] | None = None


def new_master(opts: Any, factory: Callable[[Any], Master] = Master) -> Master:
    """A Master (or `factory`'s, e.g. mitmweb's) whose `mitmproxy.ctx` is this thread's
    own; run it on this thread."""
    global _sole
    with _lock:
        master = factory(opts)  # claims mitmproxy.ctx for itself...
        values = {n: getattr(mitmproxy.ctx, n) for n in _CONTEXT_NAMES}
        ident = threading.get_ident()
        alone = not _bound and _sole is None
        if alone and threading.current_thread() is threading.main_thread():
            _sole = (ident, values)
            return master
        if _sole is not None:  # the sole master has company: it resolves per thread too
            _bound.setdefault(*_sole)
            _sole = None
        _bound[ident] = values
        for name, proxy in _PROXIES.items():  # ...which then resolves per thread
            setattr(mitmproxy.ctx, name, proxy)
    return master


def release_master() -> None:
    """Forget this thread's master; call once its event loop has closed."""
    global _sole
    with _lock:
        if _sole is not None and _sole[0] == threading.get_ident():
            _sole = None
        _bound.pop(threading.get_ident(), None)


def forget_log_handler(master: Master) -> None:
    """Remove the root-logger handler a master installs; mitmproxy only does so in
    `done`, which a master that failed to start never reaches, and the handler
    would then post every later log record to a closed event loop."""
    handler = getattr(master, "_legacy_log_events", None)
    if handler is not None:
        handler.uninstall()


# --- hook dispatch from a plan ---------------------------------------------------------------
#
# For each hook, mitmproxy's AddonManager walks the chain, traverses each addon's
# sub-addons with generators, looks the hook up by name, enters a context manager per
# addon and rebuilds the hook's arguments per call: about a fifth of a request's CPU,
# for a chain in which most addons implement none of a request's hooks. Planned, each
# hook calls just the methods that implement it, with the same order, the same
# isolation (an addon's exception is logged by mitmproxy's own `safecall` and the next
# chain member still runs; AddonHalt stops the hook) and the same update hook after a
# flow's lifecycle hook, when some addon implements `update`.


_UPDATE = hooks.UpdateHook([])  # names the update hook's plan


class _PlannedAddons(AddonManager):
    """mitmproxy's AddonManager; each hook's plan is made on its first use and dropped
    when the chain changes (add, register, remove, clear). A plan holds bound methods:
    an addon that replaces its hook methods or its sub-addons later is not followed,
    so this is for chains whose addons do not (the lean master's)."""

    _plans: dict[str, tuple[tuple[Callable[..., Any], ...], ...]]

    def _plan(self, event: hooks.Hook) -> tuple[tuple[Callable[..., Any], ...], ...]:
        plan = self._plans.get(event.name)
        if plan is None:
            found = []
            for addon in self.chain:
                with safecall():  # a hook name on something not callable: reported, left out
                    if funcs := tuple(f for _, f in self._iter_hooks(addon, event)):
                        found.append(funcs)
            plan = self._plans[event.name] = tuple(found)
        return plan

    async def trigger_event(self, event: hooks.Hook) -> None:
        plan = self._plans.get(event.name)
        if plan is None:
            plan = self._plan(event)
        if not plan:
            return
        args = event.args()
        for funcs in plan:
            try:
                for func in funcs:
                    result = func(*args)
                    if result is not None and inspect.isawaitable(result):
                        await result
            except exceptions.AddonHalt:
                return
            except exceptions.OptionsError:
                raise
            except Exception:
                with safecall():  # mitmproxy's own report of an addon's error
                    raise

    async def handle_lifecycle(self, event: hooks.Hook) -> None:
        await self.trigger_event(event)
        if self._plan(_UPDATE):
            message = event.args()[0]
            if isinstance(message, flow.Flow):
                await self.trigger_event(hooks.UpdateHook([message]))

    def register(self, addon: Any) -> Any:
        try:
            return super().register(addon)
        finally:
            self._plans.clear()

    def add(self, *addons: Any) -> None:
        super().add(*addons)
        self._plans.clear()

    def remove(self, addon: Any) -> None:
        super().remove(addon)
        self._plans.clear()

    def clear(self) -> None:
        super().clear()
        self._plans.clear()


def plan_hook_dispatch(master: Master) -> None:
    """Dispatch `master`'s hooks from plans (see _PlannedAddons); its addons, already
    added or added later, must not replace their hook methods or sub-addons."""
    addons = master.addons
    if type(addons) is not AddonManager:
        raise TypeError(f"expected mitmproxy's AddonManager, got {type(addons).__name__}")
    addons._plans = {}  # type: ignore[attr-defined]  # before it becomes a _PlannedAddons
    addons.__class__ = _PlannedAddons


# --- option and hook-argument reads ---------------------------------------------------------
#
# `options.name` returns `copy.deepcopy(copy.deepcopy(default))` or `deepcopy(value)`, so
# that a caller cannot change an option by mutating what it read. A scalar cannot be
# mutated: it is returned as it is, and everything else is still copied (once).

_SCALARS = frozenset({str, int, float, bool, bytes, type(None)})


def _current(option: Any) -> Any:
    value = option.value
    if value is optmanager.unset:
        value = option._default
    return value if type(value) in _SCALARS else copy.deepcopy(value)


_HOOK_FIELDS: dict[type[hooks.Hook], tuple[str, ...]] = {}


def _hook_args(hook: hooks.Hook) -> list[Any]:
    """`Hook.args` without walking the dataclass's fields on every call (eight a request)."""
    names = _HOOK_FIELDS.get(type(hook))
    if names is None:
        names = _HOOK_FIELDS[type(hook)] = tuple(f.name for f in fields(hook))  # type: ignore[arg-type]
    return [getattr(hook, name) for name in names]


def install_cheaper_reads() -> None:
    """Read scalar options without copying them, and hook arguments without walking the
    hook's dataclass fields, in every master of this process (idempotent; what a read
    returns is unchanged)."""
    setattr(optmanager._Option, "current", _current)  # noqa: B010 (mypy: method-assign)
    setattr(hooks.Hook, "args", _hook_args)  # noqa: B010


# --- the HTTP/1 server: limits, timeouts, problem pages, released buffers -----------------
#
# mitmproxy buffers a request head without bound ("FIXME: protect against header size
# DoS" in proxy/layers/http/_http1.py), answers protocol errors with HTML pages, closes
# the connection before answering a body it cannot parse, and keeps a closed
# connection's buffers until the cyclic garbage collector runs (its layers and contexts
# refer to each other), which it does by object counts, not bytes: a few abandoned
# 15 MiB heads stay resident indefinitely. The policy (limits, pages) is the caller's;
# this is only the mechanism.


@dataclass(frozen=True)
class Http1Guard:
    """What the guarded HTTP/1 server asks its connection's options for."""

    max_head_bytes: Callable[[Any], int | None]  # options -> limit, None: mitmproxy's
    head_timeout_s: Callable[[Any], float | None]
    error_page: Callable[[int, str], bytes]  # status, reason -> the whole HTTP response


_guard: Http1Guard | None = None
_BYTES_LITERAL = re.compile(r"""b'(?:[^'\\]|\\.)*(?:'|$)|b"(?:[^"\\]|\\.)*(?:"|$)""")


def elide_bytes(message: str, keep: int = 2000) -> str:
    """mitmproxy's messages quote raw request bytes (headers, tokens and all)."""
    return _BYTES_LITERAL.sub("<request bytes>", message[:keep])


def install_http1_guard(guard: Http1Guard) -> None:
    """Guard every HTTP/1 server connection in this process (idempotent; the latest
    guard wins). Limits apply where the connection's options define them (a master
    without the mock's addons keeps mitmproxy's own behaviour for those)."""
    global _guard
    _guard = guard
    server = _http1.Http1Server
    if getattr(server, "_harness_guarded", False):
        return
    original_event = server._handle_event
    original_read_body = _http1.Http1Connection.read_body
    original_page = _http1.make_error_response

    def handle_event(self: Any, event: events.Event) -> Iterator[commands.Command]:
        guard = _guard
        if guard is None:
            return (yield from original_event(self, event))
        if isinstance(event, events.Wakeup):  # only ours: the server asks for no others
            if event.command is getattr(self, "_harness_timer", None):
                self._harness_timer = None
                if self.state == self.read_headers and self.buf:
                    timeout = guard.head_timeout_s(self.context.options)
                    reason = f"The request head did not arrive within {timeout:g} s."
                    yield from _refuse(self, guard, 408, reason)
            return
        if isinstance(event, events.DataReceived):
            self._harness_received = getattr(self, "_harness_received", 0) + len(event.data)
            if self.state == self.done:
                return  # refused or finished: what a client keeps sending is not kept
        if isinstance(event, events.ConnectionClosed) and self.state == self.read_headers:
            # mitmproxy would log the unfinished head's repr: every header (tokens and
            # all), and for a large head a string several times its size.
            if self.buf:
                yield commands.Log(f"client closed before completing a {len(self.buf)}-byte head")
                if self.conn.state & ConnectionState.CAN_WRITE:  # half-closed: it may listen
                    reason = "The client closed its side before the request head was complete."
                    yield commands.SendData(self.conn, guard.error_page(400, reason))
            _release(self)
            yield commands.CloseConnection(self.conn)
            return
        for command in original_event(self, event):
            if isinstance(command, commands.Log):
                command.message = elide_bytes(command.message)
            yield command
        if not isinstance(event, events.DataReceived) or self.state == self.done:
            return
        if self.state != self.read_headers:
            self._harness_timer = None  # the head arrived: its timer is stale
        limit = guard.max_head_bytes(self.context.options)
        if limit is not None and self.state != self.read_body and len(self.buf) > limit:
            if self.state == self.read_headers:
                reason = f"The request head is larger than {limit} bytes."
                yield from _refuse(self, guard, 431, reason)
            else:  # pipelined bytes piling up behind a request still being answered
                yield commands.Log(f"closing: more than {limit} bytes pipelined")
                _release(self)
                yield commands.CloseConnection(self.conn)
            return
        timeout = guard.head_timeout_s(self.context.options)
        armed = getattr(self, "_harness_timer", None) is not None
        if self.state == self.read_headers and self.buf and timeout and not armed:
            self._harness_timer = commands.RequestWakeup(timeout)
            yield self._harness_timer

    def read_body(self: Any, event: events.Event) -> Iterator[commands.Command]:
        # mitmproxy closes before it reports a body it cannot read (a bad chunk size, a
        # peer that half-closed mid-body): answer first, while the client still listens.
        if _guard is None or not isinstance(self, _http1.Http1Server):
            return (yield from original_read_body(self, event))
        held: commands.Command | None = None
        for command in original_read_body(self, event):
            if held is not None:
                report = getattr(command, "event", None)
                if isinstance(report, RequestProtocolError) and self.response is None:
                    page = _guard.error_page(400, elide_bytes(report.message))
                    yield commands.SendData(self.conn, page)
                yield held
                held = None
            if isinstance(command, commands.CloseConnection) and command.connection is self.conn:
                held = command
                continue
            yield command
        if held is not None:
            yield held
            return
        # A chunk may declare any size (h11 takes 2**80); past the body limit it will be
        # refused anyway, so refuse it now instead of waiting for the client to stall.
        declared = getattr(getattr(self, "body_reader", None), "_bytes_in_chunk", 0)
        limit = human.parse_size(self.context.options.body_size_limit)
        if self.state == self.read_body and limit is not None and declared > limit:
            reason = f"A chunk of {declared} bytes is larger than the body limit ({limit})."
            yield from _refuse(self, _guard, 413, reason)
            yield ReceiveHttp(RequestProtocolError(self.stream_id, reason, ErrorCode.KILL))

    def error_page(status_code: int, message: str = "") -> bytes:
        guard = _guard
        if guard is None:
            return original_page(status_code, message)
        return guard.error_page(status_code, elide_bytes(message))

    # Patched on the classes: mitmproxy binds `self.state = self.read_body` and the like
    # at run time, so every connection, old or new, takes the guarded path.
    setattr(server, "_handle_event", handle_event)  # noqa: B010 (mypy: no method-assign)
    setattr(_http1.Http1Connection, "read_body", read_body)  # noqa: B010
    _http1.make_error_response = error_page
    setattr(server, "_harness_guarded", True)  # noqa: B010


def _refuse(server: Any, guard: Http1Guard, status: int, reason: str) -> Iterator[Any]:
    yield commands.SendData(server.conn, guard.error_page(status, reason))
    _release(server)
    yield commands.CloseConnection(server.conn)
    server.state = server.done


def _release(server: Any) -> None:
    server.buf = type(server.buf)()


def release_connection(master: Any, client: Any) -> int:
    """For the `client_disconnected` hook: close a socket mitmproxy left open and empty
    the connection's receive buffers. Returns how many bytes the client sent on the
    connection, for deciding when the cyclic collector should run (see below).

    The socket: mitmproxy closes it after its read loop ends, but a cancellation that
    arrives while the loop waits for the server-event lock (as when an answer that
    closes the connection is sent from a hook task) skips that, and the client's
    socket stays open with a full window. The buffers: a closed connection's layers,
    streams and flows refer to each other, so only the cyclic collector frees them,
    and it runs by object counts, not bytes; the buffers emptied here are those still
    reachable (a stream that ended in an error is already unreachable from here)."""
    try:
        handler = master.addons.get("proxyserver").connections[client.id]
    except (AttributeError, KeyError):
        return 0
    received = 0
    for io in list(handler.transports.values()):
        writer = io.writer
        if isinstance(writer, asyncio.StreamWriter) and not writer.is_closing():
            writer.close()
        # What the socket delivered that nobody read (up to 2 x 64 KiB per connection).
        unread = getattr(io.reader, "_buffer", None)
        if isinstance(unread, bytearray):
            received += len(unread)
            unread.clear()
    for layer in _layers(handler.layer):
        received += getattr(layer, "_harness_received", 0)
        for name, value in list(vars(layer).items()):
            if isinstance(value, _BUFFERS) and len(value):
                setattr(layer, name, type(value)())
    return received


def _layers(top: Any) -> Iterator[Any]:
    """Every layer reachable from `top`: children, HTTP connections and streams."""
    seen: set[int] = set()
    todo = [top]
    while todo:
        layer = todo.pop()
        if id(layer) in seen or not isinstance(layer, Layer):
            continue
        seen.add(id(layer))
        yield layer
        for value in vars(layer).values():
            if isinstance(value, Layer):
                todo.append(value)
            elif isinstance(value, dict):
                todo.extend(v for v in value.values() if isinstance(v, Layer))


def refuse_tls(nextlayer: Any) -> bool:
    """In a `next_layer` hook: if mitmproxy chose to answer a TLS handshake, close the
    connection instead (a plain-HTTP port); True if it did."""
    if not isinstance(nextlayer.layer, ClientTLSLayer):
        return False
    nextlayer.layer = _Refused(nextlayer.context, "TLS handshake on the plain-HTTP port")
    return True


class _Refused(Layer):
    """Logs why, then closes the client connection; ignores whatever follows."""

    def __init__(self, context: Any, reason: str) -> None:
        super().__init__(context)
        self._reason = reason

    def _handle_event(self, event: events.Event) -> Generator[commands.Command, Any, None]:
        if isinstance(event, events.Start):
            yield commands.Log(f"closing: {self._reason}")
            yield commands.CloseConnection(self.context.client)


# --- worker processes on one port ----------------------------------------------------------
#
# mitmproxy's TCP servers listen with `asyncio.start_server(handler, host, port)`
# (proxy/mode_servers.py) and offer no option for SO_REUSEPORT. Worker processes of
# one mock (`harness mock --workers N`) each listen on the same port with it, and
# the kernel spreads connections over them.


class _ReusePortAsyncio:
    """`asyncio` as mode_servers sees it, but its servers listen with SO_REUSEPORT."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def start_server(*args: Any, **kwargs: Any) -> asyncio.Server:
        return await asyncio.start_server(*args, **kwargs, reuse_port=True)


def listen_with_reuse_port() -> None:
    """From now on this process's mitmproxy servers share their port (Linux, BSD)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise OSError("this system has no SO_REUSEPORT: run one worker")
    from mitmproxy.proxy import mode_servers

    setattr(mode_servers, "asyncio", _ReusePortAsyncio())  # noqa: B010 (not exported)
