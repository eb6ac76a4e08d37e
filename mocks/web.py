"""The mock inside mitmweb (`harness mock --web`): mitmproxy's web UI shows every flow.

The mock runs as always (`mocks.server.serve`, the same addon chain and options);
only the master differs: mitmweb's, which brings mitmproxy's default addons and
its web UI, instead of the lean one. `FlowMarks` marks each flow with what the
mock did. The UI listens on loopback only and asks for mitmweb's token (or the
`web_password` option): it shows and replays every request, credentials and all.
"""

from __future__ import annotations

import tornado.httpserver
import tornado.ioloop
import tornado.netutil
from mitmproxy.master import Master
from mitmproxy.tools.web.master import WebMaster

from mocks.control_access import is_loopback
from mocks.flow_marks import FlowMarks
from mocks.server import MockStartError
from mocks.state import MockState

DEFAULT_WEB_PORT = 8081  # mitmweb's
WEB_COLUMNS = ["icon", "method", "path", "status", "size", "time", "comment"]


class WebUIError(MockStartError):
    """The web UI could not listen (port in use, or an address beyond loopback)."""


class MockWebMaster(WebMaster):
    """mitmweb's master, whose UI may take any free port (`web_port=0`) and says which."""

    async def running(self) -> None:
        host = self.options.web_host
        if not is_loopback(host):
            raise WebUIError(f"the web UI listens on loopback only, not on {host!r}")
        tornado.ioloop.IOLoop.current()
        try:
            sockets = tornado.netutil.bind_sockets(self.options.web_port, host)
        except OSError as e:
            raise WebUIError(
                f"the web UI cannot listen on {host}:{self.options.web_port}: {e}"
            ) from None
        server = tornado.httpserver.HTTPServer(self.app, max_buffer_size=2**32)
        server.add_sockets(sockets)
        self.options.web_port = sockets[0].getsockname()[1]  # web_url names the real port
        await Master.running(self)  # mitmweb's own running() would bind a second server


def web_options(port: int = DEFAULT_WEB_PORT) -> dict[str, object]:
    """What the mock's web master starts with (`--set` may change them)."""
    return {
        "web_host": "127.0.0.1",
        "web_port": port,
        "web_open_browser": False,  # the banner prints the URL
        "web_columns": WEB_COLUMNS,  # the comment column shows the marks
        # mitmproxy's `block` addon would refuse clients beyond loopback; the mock's own
        # --host and control token decide who may call it.
        "block_global": False,
        "termlog_verbosity": "warn",  # not a line per connection
    }


def attach_marks(master: Master, state: MockState) -> None:
    """Add the marks after the mock's chain (on_master of `serve`)."""
    master.addons.add(FlowMarks(state))
