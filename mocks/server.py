"""Run the mock: a mitmproxy master with only the addons the mock needs.

mitmproxy's dump tool loads some thirty default addons and dispatches every
hook through all of them; the mock needs five of mitmproxy's own. The lean
chain measurably doubles throughput (see bench/).

`serve()` runs in the current event loop; `MockServer` runs it in a
background thread for tests and embedding (`with MockServer() as mock:`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import http, options
from mitmproxy.addons import core, errorcheck, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master

from mocks.api import Api
from mocks.auth import Auth
from mocks.control import CONTROL_PREFIX, Control
from mocks.gate import Gate
from mocks.idempotency import Idempotency
from mocks.journal import JournalAddon
from mocks.notes import note
from mocks.problems import ProblemError
from mocks.routes import Routing
from mocks.settings import MockSettings, Settings, option_name
from mocks.state import MockState

log = logging.getLogger(__name__)

# Reverse mode needs an upstream even when every request is answered locally;
# nothing listens on the discard port, and lazy connecting never dials it.
NO_UPSTREAM = "http://127.0.0.1:9"


class Fallback:
    """Last in the chain: a request nobody answered means an addon failed."""

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        flow.response = ProblemError(
            500, "mock_internal_error", "The mock failed on this request; see its log."
        ).to_response()
        note(flow)


def mock_addons(state: MockState) -> list[Any]:
    """The mock's own addons, in the order their hooks must run."""
    settings = Settings(state.publish)
    return [
        settings,
        Control(state, settings),
        JournalAddon(state.journal),
        Routing(),
        Gate(state),
        Auth(state),
        Idempotency(state.idempotency),
        Api(state),
        Fallback(),
    ]


def mitmproxy_addons() -> list[Any]:
    """The parts of mitmproxy the mock needs: listening, protocol detection, TLS."""
    return [
        core.Core(),
        proxyserver.Proxyserver(),
        next_layer.NextLayer(),
        tlsconfig.TlsConfig(),
        errorcheck.ErrorCheck(),
    ]


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    upstream: str | None = None
    settings: MockSettings = field(default_factory=MockSettings)
    extra_options: dict[str, Any] = field(default_factory=dict)


class _ReadySignal:
    def __init__(self, on_ready: Any) -> None:
        self._on_ready = on_ready
        self.master: Master | None = None

    def load(self, loader: Any) -> None:
        self.master = loader.master

    def running(self) -> None:
        assert self.master is not None
        server = self.master.addons.get("proxyserver")
        addrs = [addr for instance in server.servers for addr in instance.listen_addrs]
        self._on_ready(addrs[0][1] if addrs else None)


async def serve(
    state: MockState,
    config: ServeConfig,
    *,
    on_ready: Any = None,
    master_out: list[Master] | None = None,
) -> None:
    """Run until the master is shut down. `on_ready(port)` fires once listening."""
    asyncio.get_running_loop().set_exception_handler(_quiet_cancellations)
    opts = options.Options(
        listen_host=config.host,
        listen_port=config.port,
        mode=[f"reverse:{config.upstream or NO_UPSTREAM}"],
    )
    master = Master(opts)
    master.addons.add(*mitmproxy_addons())
    master.addons.add(*mock_addons(state))
    if on_ready is not None:
        master.addons.add(_ReadySignal(on_ready))
    opts.update(
        connection_strategy="lazy",
        # Requests beyond this get mitmproxy's own 413; ours (256 KiB) catches the rest.
        body_size_limit="4m",
        **{option_name(k): v for k, v in config.settings.model_dump().items()},
        **config.extra_options,
    )
    if master_out is not None:
        master_out.append(master)
    await master.run()


def _quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Connections still open at shutdown end as cancelled tasks; that is not news.
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


class MockServer:
    """The mock in a background thread, bound to a loopback port (0 = any free one)."""

    def __init__(
        self,
        state: MockState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: MockSettings | None = None,
        extra_options: dict[str, Any] | None = None,
    ) -> None:
        self.state = state or MockState()
        self._config = ServeConfig(
            host=host,
            port=port,
            settings=settings or MockSettings(),
            extra_options=extra_options or {},
        )
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._masters: list[Master] = []
        self._failure: BaseException | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        host = self._config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def control_url(self) -> str:
        return self.base_url + CONTROL_PREFIX

    def start(self, timeout: float = 30.0) -> MockServer:
        self._thread = threading.Thread(target=self._run, name="harness-mock", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the mock did not start within {timeout} s")
        if self._failure is not None or self.port is None:
            raise RuntimeError(f"the mock failed to start: {self._failure}")
        return self

    def _run(self) -> None:
        def ready(port: int | None) -> None:
            self.port = port
            self._ready.set()

        try:
            asyncio.run(serve(self.state, self._config, on_ready=ready, master_out=self._masters))
        except BaseException as e:  # reported to the starting thread
            self._failure = e
            log.exception("the mock stopped")
        finally:
            self._ready.set()

    def stop(self, timeout: float = 10.0) -> None:
        if self._masters:
            self._masters[0].shutdown()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
