"""The seam into mitmproxy's internals (mocks/mitm_internals.py): what it patches and
walks is still where it was. If a mitmproxy upgrade moves any of it, these fail first,
with the name of what moved; the behaviour itself is tested over sockets in
test_protocol_limits.py, test_abandoned_memory.py and test_tls_option.py."""

from __future__ import annotations

import asyncio
import inspect
import logging
import subprocess
import sys
from dataclasses import fields
from typing import Any

import h11._readers
import h11._receivebuffer
import mitmproxy.version
import pytest
from mitmproxy import exceptions as mitmproxy_exceptions
from mitmproxy import hooks as mitm_hooks
from mitmproxy import options, optmanager
from mitmproxy.addonmanager import AddonManager
from mitmproxy.addons import proxyserver
from mitmproxy.master import Master
from mitmproxy.proxy import commands, events, layer, mode_servers, server, server_hooks, utils
from mitmproxy.proxy.layers import ClientTLSLayer, http
from mitmproxy.proxy.layers.http import _hooks as http_hooks
from mitmproxy.proxy.layers.http import _http1
from mitmproxy.test import tflow

from mocks import limits, mitm_internals
from mocks.server import MockServer


def test_the_mitmproxy_major_version_is_the_one_the_seam_was_written_for() -> None:
    assert mitmproxy.version.VERSION.split(".")[0] == "12"


def _method_source(module_source: str, name: str) -> str:
    """A method's text from the module file: the live attribute may be the guard's."""
    start = module_source.index(f"    def {name}(")
    end = module_source.find("\n    def ", start + 1)
    return module_source[start:end]


def test_the_http1_server_still_has_what_the_guard_wraps() -> None:
    server_cls = _http1.Http1Server
    module = inspect.getsource(_http1)
    for name in ("_handle_event", "read_headers", "read_body", "wait", "done", "send"):
        assert callable(getattr(server_cls, name, None)), name
    # Error pages: built by one module-level function, looked up by name at call time.
    assert callable(getattr(_http1, "make_error_response", None))
    assert "make_error_response(" in inspect.getsource(server_cls.read_headers)
    assert "make_error_response(" in inspect.getsource(server_cls.send)
    # The head is buffered in `self.buf` until a blank line ends it.
    assert "self.buf += event.data" in _method_source(module, "_handle_event")
    assert "maybe_extract_lines" in inspect.getsource(server_cls.read_headers)
    # A body it cannot read: it closes first and reports after, the order read_body's
    # wrapper turns around.
    body = _method_source(module, "read_body")
    assert body.index("CloseConnection") < body.index("ReceiveProtocolError")
    assert "_bytes_in_chunk" in inspect.getsource(h11._readers.ChunkedReader)


def test_wakeups_still_reach_the_layer_that_asked() -> None:
    source = inspect.getsource(http.HttpLayer.event_to_child)
    assert "RequestWakeup" in source
    assert issubclass(events.Wakeup, events.CommandCompleted)
    assert commands.RequestWakeup(1.0).delay == 1.0


def test_what_release_connection_walks_is_still_there() -> None:
    register = inspect.getsource(proxyserver.Proxyserver.register_connection)
    assert "self.connections[connection_id] = handler" in register
    handler = inspect.getsource(server.ConnectionHandler.__init__)
    assert "self.transports" in handler
    assert "self.layer" in handler
    assert "ClientDisconnectedHook" in inspect.getsource(server.ConnectionHandler.handle_client)
    assert "self.connections" in inspect.getsource(http.HttpLayer.__init__)
    assert issubclass(_http1.Http1Server, layer.Layer)
    assert (h11._receivebuffer.ReceiveBuffer, utils.ReceiveBuffer) == mitm_internals._BUFFERS


def test_asyncio_readers_still_buffer_in_a_bytearray() -> None:
    import asyncio

    async def reader_buffer() -> object:
        return asyncio.StreamReader()._buffer

    assert isinstance(asyncio.run(reader_buffer()), bytearray)


def test_tls_detection_still_picks_the_client_tls_layer() -> None:
    from mitmproxy.addons import next_layer

    assert "ClientTLSLayer" in inspect.getsource(next_layer.NextLayer._setup_reverse_proxy)
    assert issubclass(ClientTLSLayer, layer.Layer)


def test_a_running_mock_has_the_guard_installed() -> None:
    with MockServer():
        assert getattr(_http1.Http1Server, "_harness_guarded", False)
        page = _http1.make_error_response(400, "Bad HTTP request line: b'GET /secret'")
    assert b"application/problem+json" in page
    assert b"secret" not in page
    assert page == limits.error_page(400, "Bad HTTP request line: <request bytes>")


def test_elide_bytes_hides_quoted_request_bytes() -> None:
    message = 'Invalid header line: b\'Authorization: Bearer s3cr3t\' at b"x\\"y"'
    assert mitm_internals.elide_bytes(message) == (
        "Invalid header line: <request bytes> at <request bytes>"
    )
    assert "s3cr3t" not in mitm_internals.elide_bytes("cut: b'" + "s3cr3t" * 1000)


def _in_a_fresh_process(probe: str) -> list[str]:
    """The words `probe` prints, run in a new interpreter (what it imports is its own)."""
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return found.stdout.split()


def test_the_mock_imports_only_the_mitmproxy_addons_it_uses() -> None:
    """mocks/mitm_lazy_addons.py: the mock's import leaves mitmproxy's other addons (and
    flask, ldap3) unimported, and the package still gives mitmproxy's tools all of them."""
    probe = (
        "import sys, mocks.server\n"
        "lean = sorted(m for m in sys.modules if m in ('flask', 'ldap3')"
        " or m.startswith('mitmproxy.addons.onboarding'))\n"
        "import mitmproxy, mitmproxy.addons\n"
        "assert mitmproxy.addons is sys.modules['mitmproxy.addons']\n"
        "names = sorted(type(a).__name__ for a in mitmproxy.addons.default_addons())\n"
        "print(len(lean), len(names), 'flask' in sys.modules, 'Onboarding' in names)\n"
    )
    lean, count, flask_after, onboarding = _in_a_fresh_process(probe)
    assert lean == "0"
    assert int(count) > 20
    assert (flask_after, onboarding) == ("True", "True")


def test_a_sole_master_keeps_mitmproxys_context_and_shares_it_when_joined() -> None:
    """`harness mock` runs one master on the main thread: `mitmproxy.ctx` is left as
    mitmproxy set it (no per-thread proxy on every lookup). A second master on another
    thread makes both resolve per thread, the first one's context kept."""
    probe = (
        "import asyncio, mitmproxy.ctx as ctx\n"
        "from mitmproxy import options\n"
        "from mocks import mitm_internals\n"
        "from mocks.server import MockServer\n"
        "async def main():\n"
        "    first = mitm_internals.new_master(options.Options())\n"
        "    print(ctx.master is first)\n"
        "    with MockServer() as mock:\n"
        "        print(ctx.master._target() is first, mock.port > 0)\n"
        "    mitm_internals.release_master()\n"
        "asyncio.run(main())\n"
    )
    assert _in_a_fresh_process(probe) == ["True", "True", "True"]


# --- hook dispatch from a plan ---------------------------------------------------------------


class _Recorder:
    """An addon that writes down the hooks it sees, in one shared log."""

    def __init__(self, name: str, calls: list[str], hooks: tuple[str, ...]) -> None:
        self.name = name
        for hook in hooks:
            setattr(self, hook, self._recording(hook, calls))

    def _recording(self, hook: str, calls: list[str]) -> Any:
        def record(*args: Any) -> None:
            calls.append(f"{self.name}.{hook}")
            if hook == "response" and self.name == "failing":
                raise ValueError("an addon's bug")
            if hook == "error" and self.name == "halting":
                raise mitmproxy_exceptions.AddonHalt()

        return record


class _Parent:
    """An addon with sub-addons, which mitmproxy dispatches to after the parent."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.addons = [
            _Recorder("child", calls, ("request", "response")),
            _Recorder("failing", calls, ("response",)),
            _Recorder("after-failing", calls, ("response",)),
        ]

    async def request(self, flow: Any) -> None:
        await asyncio.sleep(0)
        self.calls.append("parent.request (async)")


def _dispatched(planned: bool) -> tuple[list[str], list[str]]:
    """The hook calls a chain sees for one flow's lifecycle, and the errors logged."""
    calls: list[str] = []

    async def main() -> list[str]:
        master = mitm_internals.new_master(options.Options())  # ctx stays the mocks'
        if planned:
            mitm_internals.plan_hook_dispatch(master)
        master.addons.add(
            _Recorder("first", calls, ("requestheaders", "request", "update")),
            _Parent(calls),
            _Recorder("halting", calls, ("error", "response")),
            _Recorder("last", calls, ("request", "response", "error", "client_connected")),
        )
        flow = tflow.tflow()
        lifecycle = (
            server_hooks.ClientConnectedHook(flow.client_conn),
            http_hooks.HttpRequestHeadersHook(flow),
            http_hooks.HttpRequestHook(flow),
            http_hooks.HttpResponseHook(flow),
            http_hooks.HttpErrorHook(flow),  # halted after `halting`
        )
        for hook in lifecycle:
            calls.append(f"-- {hook.name}")
            await master.addons.handle_lifecycle(hook)
        master.addons.add(_Recorder("added", calls, ("request",)))  # a plan made stale
        calls.append("-- request")
        await master.addons.handle_lifecycle(http_hooks.HttpRequestHook(flow))
        master.addons.remove(master.addons.get("added"))
        calls.append("-- request")
        await master.addons.handle_lifecycle(http_hooks.HttpRequestHook(flow))
        mitm_internals.forget_log_handler(master)
        return calls

    errors: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: errors.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("mitmproxy.addonmanager").addHandler(handler)
    try:
        asyncio.run(main())
    finally:
        logging.getLogger("mitmproxy.addonmanager").removeHandler(handler)
        mitm_internals.release_master()
    return calls, errors


def test_planned_dispatch_calls_what_mitmproxys_own_dispatch_calls() -> None:
    """The same calls in the same order: sub-addons after their parent, an async hook
    awaited before the next addon, an addon's exception logged by mitmproxy and the
    next chain member still called, AddonHalt ending the hook, the update hook after a
    flow's hooks, a plan remade when the chain changes."""
    unplanned, unplanned_errors = _dispatched(planned=False)
    planned, planned_errors = _dispatched(planned=True)
    assert planned == unplanned
    assert planned_errors == unplanned_errors == ["Addon error: an addon's bug"]
    # The chain did what the cases above need (so a vacuous match cannot pass).
    response = planned[planned.index("-- response") : planned.index("-- error")]
    assert response == [
        "-- response",
        "child.response",
        "failing.response",  # raised: its parent's other children are skipped...
        "halting.response",  # ...and the next chain member runs
        "last.response",
        "first.update",
    ]
    assert planned[planned.index("-- error") :].count("last.error") == 0
    assert planned.count("added.request") == 1
    assert "parent.request (async)" in planned


def test_an_addon_whose_hook_is_not_callable_is_reported_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    class Broken:
        request = "not a method"

    async def main() -> None:
        master = mitm_internals.new_master(options.Options())
        mitm_internals.plan_hook_dispatch(master)
        master.addons.add(Broken(), _Recorder("last", calls, ("request",)))
        await master.addons.handle_lifecycle(http_hooks.HttpRequestHook(tflow.tflow()))
        mitm_internals.forget_log_handler(master)

    try:
        asyncio.run(main())
    finally:
        mitm_internals.release_master()
    assert calls == ["last.request"]
    assert "not callable" in caplog.text


def test_the_dispatch_plan_still_fits_mitmproxys_addon_manager() -> None:
    # The connection handler and the master reach addons only through these two.
    handle_hook = inspect.getsource(mode_servers.ProxyConnectionHandler.handle_hook)
    assert "self.master.addons.handle_lifecycle(hook)" in handle_hook
    assert "self.addons.handle_lifecycle(" in inspect.getsource(Master)
    manager = inspect.getsource(AddonManager)
    assert "def _iter_hooks(self, addon, event" in manager
    assert "hooks.UpdateHook([message])" in inspect.getsource(AddonManager.handle_lifecycle)
    # Hook arguments: the fields of the hook's dataclass, in order (what _hook_args reads).
    assert "for field in fields(self):" in _method_source(inspect.getsource(mitm_hooks), "args")
    flow = tflow.tflow()
    for hook in (
        http_hooks.HttpRequestHook(flow),
        server_hooks.ClientConnectedHook(flow.client_conn),
    ):
        assert mitm_internals._hook_args(hook) == [getattr(hook, f.name) for f in fields(hook)]
    # The chain changes only through these, which the plan follows.
    for name in ("register", "add", "remove", "clear"):
        assert "self.chain" in inspect.getsource(getattr(AddonManager, name)) or name == "register"


def test_a_running_mock_dispatches_from_a_plan() -> None:
    with MockServer() as mock:
        assert type(mock._master.addons).__name__ == "_PlannedAddons"


def test_option_reads_copy_only_what_a_caller_could_change() -> None:
    opts = options.Options()
    mitm_internals.install_cheaper_reads()
    opts.update(listen_port=8123, mode=["reverse:http://127.0.0.1:9"])
    assert opts.listen_port == 8123
    assert opts.listen_host == ""
    modes = opts.mode
    modes.append("regular")  # a copy: the option is unchanged
    assert opts.mode == ["reverse:http://127.0.0.1:9"]
    assert opts.mode is not opts.mode
    with pytest.raises(TypeError):
        opts.update(listen_port="not a port")  # still type-checked on the way in
    assert {"value", "_default"} <= set(optmanager._Option.__slots__)
    flow = tflow.tflow()
    assert http_hooks.HttpRequestHook(flow).args() == [flow]  # installed with the reads
