"""The seam into mitmproxy's internals (mocks/mitm_internals.py): what it patches and
walks is still where it was. If a mitmproxy upgrade moves any of it, these fail first,
with the name of what moved; the behaviour itself is tested over sockets in
test_protocol_limits.py, test_abandoned_memory.py and test_tls_option.py."""

from __future__ import annotations

import inspect
import subprocess
import sys

import h11._readers
import h11._receivebuffer
import mitmproxy.version
from mitmproxy.addons import proxyserver
from mitmproxy.proxy import commands, events, layer, server, utils
from mitmproxy.proxy.layers import ClientTLSLayer, http
from mitmproxy.proxy.layers.http import _http1

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
