"""Run the mock: a mitmproxy master with only the addons the mock needs.

mitmproxy's dump tool loads some thirty default addons and dispatches every
hook through all of them; the mock needs five of mitmproxy's own plus its
chain (see `mocks/chain.py`). bench/ measures the difference.

`serve()` runs in the current event loop; `MockServer` runs it in a
background thread for tests and embedding (`with MockServer() as mock:`).
Several mocks may run in one process, each on its own thread.

The chain serves a compiled document (`mocks/spec_chain.py`): a team's, or the
demo API's own document and configuration when none is given. With an
upstream, the same addons sit in front of a real backend as a fault-injecting
reverse proxy: the document's auth and answers step aside, faults and the
journal still apply.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import exceptions, http, options
from mitmproxy.addons import core, errorcheck, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master

from mocks import mitm_internals
from mocks.chain import AddonChain
from mocks.control import CONTROL_PREFIX
from mocks.control_access import ControlAccess, is_loopback, new_token
from mocks.limits import DEFAULT_IDLE_TIMEOUT_S
from mocks.notes import note
from mocks.problems import ProblemError
from mocks.settings import MockSettings, Settings, option_name
from mocks.shared_state import StateSync
from mocks.spec_chain import compile_spec, demo_spec, spec_members, spec_settings
from mocks.state import MockState

log = logging.getLogger(__name__)

# Reverse mode needs an upstream even when every request is answered locally;
# nothing listens on the discard port, and lazy connecting never dials it.
NO_UPSTREAM = "http://127.0.0.1:9"
# Bodies up to this reach our own 413 problem (256 KiB limit); larger ones get
# mitmproxy's own 413 before any addon sees them.
HARD_BODY_LIMIT = "16m"


class MockStartError(RuntimeError):
    """The mock could not start; the message says why (e.g. the port is in use)."""


class Fallback:
    """Last before the response phase: a request nobody answered means an addon failed."""

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        note(flow)
        flow.response = ProblemError(
            500, "mock_internal_error", "The mock failed on this request; see its log."
        ).to_response()


class UpstreamHost:
    """Proxy mode: send the upstream its own name in Host, as mitmproxy's reverse mode
    does. The mock keeps the client's Host (keep_host_header) so that the control API
    can judge it; the upstream must not see it."""

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        request = flow.request
        default = 443 if request.scheme == "https" else 80
        host = f"[{request.host}]" if ":" in request.host else request.host
        request.host_header = host if request.port == default else f"{host}:{request.port}"


def mock_addons(
    state: MockState,
    *,
    proxy: bool = False,
    access: ControlAccess | None = None,
    spec: Any = None,
    validate_upstream: bool = False,
) -> list[Any]:
    """The chain for a compiled document (`spec_chain`); without one, the demo API's
    (its document and configuration, with the state's seed and product count)."""
    if spec is None:
        spec = demo_spec(state.seed, state.product_count)
    members = spec_members(
        state, spec, proxy=proxy, validate_upstream=validate_upstream, access=access
    )
    if state.shared is not None:  # worker processes: first catch up with the others
        settings = next((m for m in members if isinstance(m, Settings)), None)
        members = [StateSync(state, state.shared, settings), *members]
    return [AddonChain(members)]


def mitmproxy_addons() -> list[Any]:
    """The parts of mitmproxy the mock needs: listening, protocol detection, TLS."""
    return [core.Core(), proxyserver.Proxyserver(), next_layer.NextLayer(), tlsconfig.TlsConfig()]


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    upstream: str | None = None
    upstream_insecure: bool = False
    settings: MockSettings = field(default_factory=MockSettings)
    extra_options: dict[str, Any] = field(default_factory=dict)
    tls: bool = False  # also answer TLS (mitmproxy's CA) on the port; HTTP/1.1 only
    # Required on /__harness/ when set; a mock that listens beyond loopback must have one.
    control_token: str | None = None
    # `NAME=VALUE` strings typed by mitmproxy's own parser, as `mitmdump --set` does.
    option_specs: tuple[str, ...] = ()
    spec: Any = None  # a compiled document (mocks.spec_chain.compile_spec): serve any API
    validate_upstream: bool = False  # proxy mode with a document: judge the answers
    # Another master than the lean one, e.g. mitmweb's (harness mock --web): it brings
    # mitmproxy's addons itself.
    master_factory: Callable[[Any], Master] | None = None


class MockOptionError(MockStartError):
    """A `--set` option is unknown or its value is not of the option's type."""


def resolve_control_token(host: str, requested: str | bool | None) -> str | None:
    """The control token a mock on `host` uses: the one given, a new one if asked for
    (True) or if the mock listens beyond loopback, else None (loopback, not asked)."""
    if isinstance(requested, str):
        if not requested:
            raise ValueError("a control token must not be empty")
        return requested
    if requested or not is_loopback(host):
        return new_token()
    return None


def beyond_loopback_warning(host: str, port: int | None) -> str:
    return (
        f"WARNING: the mock listens on {host} port {port}, beyond loopback. Anyone who can "
        "reach it can call its API (fake data, but real requests); the control API "
        "needs the control token. Use --host 127.0.0.1 unless you mean it."
    )


class _Started:
    """Once listening: settle the heap, report the bound port, leave the addon chain."""

    def __init__(
        self, on_ready: Callable[[int | None], None] | None, warn_host: str | None = None
    ) -> None:
        self._on_ready = on_ready
        self._warn_host = warn_host
        self._master: Master | None = None

    def load(self, loader: Any) -> None:
        self._master = loader.master

    def running(self) -> None:
        assert self._master is not None
        # ~100k long-lived objects (mitmproxy, pydantic, seeded data) made each full
        # GC pass stall every request for 40-57 ms; frozen, a pass takes ~5 ms (bench/).
        gc.collect()
        gc.freeze()
        addrs = self._master.addons.get("proxyserver").listen_addrs()
        port = addrs[0][1] if addrs else None
        if self._warn_host is not None:
            log.warning(beyond_loopback_warning(self._warn_host, port))
        if self._on_ready is not None:
            self._on_ready(port)
        asyncio.get_running_loop().call_soon(self._master.addons.remove, self)


def _quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Connections still open at shutdown end as cancelled tasks; that is not news.
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


async def serve(
    state: MockState,
    config: ServeConfig,
    *,
    on_ready: Callable[[int | None], None] | None = None,
    on_master: Callable[[Master], None] | None = None,
) -> None:
    """Run until the master is shut down. `on_ready(port)` fires once listening.

    Raises MockStartError with mitmproxy's reasons if it cannot start."""
    asyncio.get_running_loop().set_exception_handler(_quiet_cancellations)
    spec = config.spec if config.spec is not None else demo_spec(state.seed, state.product_count)
    beyond = not is_loopback(config.host)
    if beyond and config.control_token is None:
        raise MockStartError(
            f"a mock listening on {config.host} (beyond loopback) needs a control token"
        )
    access = ControlAccess(token=config.control_token, bind_host=config.host)
    opts = options.Options(
        listen_host=config.host,
        listen_port=config.port,
        mode=[f"reverse:{config.upstream or NO_UPSTREAM}"],
    )
    master = mitm_internals.new_master(opts, config.master_factory or Master)
    startup_errors = master.addons.get("errorcheck") or errorcheck.ErrorCheck()
    try:
        if master.addons.get("proxyserver") is None:  # the lean master
            mitm_internals.plan_hook_dispatch(master)  # its addons keep their hooks
            mitm_internals.install_cheaper_reads()
            master.addons.add(*mitmproxy_addons(), startup_errors)
        master.addons.add(
            *mock_addons(
                state,
                proxy=config.upstream is not None,
                access=access,
                spec=spec,
                validate_upstream=config.validate_upstream,
            )
        )
        master.addons.add(_Started(on_ready, warn_host=config.host if beyond else None))
        defaults: dict[str, Any] = {
            "connection_strategy": "lazy",
            # The control API judges the client's Host (DNS rebinding); in proxy mode
            # UpstreamHost gives the upstream its own name, as reverse mode would.
            "keep_host_header": True,
            "tcp_timeout": DEFAULT_IDLE_TIMEOUT_S,  # idle connections (mitmproxy: 600 s)
            # A plain-HTTP port by default: TLS handshakes closed (harness_tls). Never
            # HTTP/2: in reverse mode to a plain-HTTP upstream, mitmproxy 12 would agree
            # on h2 in the TLS handshake and then read the h2 preface as HTTP/1.
            "harness_tls": config.tls,
            "http2": False,
            "body_size_limit": HARD_BODY_LIMIT,
            "ssl_insecure": config.upstream_insecure,
        }
        settings = spec_settings(spec, config.settings)  # what the behaviours start with
        defaults |= {option_name(k): v for k, v in settings.model_dump().items()}
        _apply_options(opts, defaults, config.extra_options)  # --set wins over our defaults
        try:
            opts.set(*config.option_specs)
        except exceptions.OptionsError as e:
            raise MockOptionError(str(e)) from None
        if on_master is not None:
            on_master(master)
        try:
            await master.run()
        except SystemExit:
            reasons = [r.getMessage() for r in startup_errors.logger.has_errored]
            raise MockStartError("; ".join(reasons) or "mitmproxy refused to start") from None
    finally:
        await _stop_listening(master)
        startup_errors.finish()
        mitm_internals.forget_log_handler(master)
        # The thread keeps its mitmproxy context until its event loop is gone:
        # connection cleanup still runs after this (see MockServer._run).


def _apply_options(opts: Any, defaults: dict[str, Any], given: dict[str, Any]) -> None:
    """Our defaults, then what the caller gave (`--set` wins). Text values are parsed
    by the option's type, as mitmdump --set does; a bad one stops the start."""
    texts = [f"{name}={value}" for name, value in given.items() if isinstance(value, str)]
    typed = {name: value for name, value in given.items() if not isinstance(value, str)}
    try:
        opts.update(**(defaults | typed))
        opts.set(*texts)
    except (exceptions.OptionsError, TypeError, KeyError) as e:
        raise MockStartError(f"bad option: {e}") from None


async def _stop_listening(master: Master) -> None:
    # mitmproxy leaves its listening sockets open when the master stops.
    server = master.addons.get("proxyserver")
    if server is not None:
        await server.servers.update([])


class MockServer:
    """The mock in a background thread, bound to a loopback port (0 = any free one)."""

    def __init__(
        self,
        state: MockState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: MockSettings | None = None,
        upstream: str | None = None,
        upstream_insecure: bool = False,
        extra_options: dict[str, Any] | None = None,
        control_token: str | bool | None = None,
        spec: Any = None,
        config: Any = None,
        validate_upstream: bool = False,
        tls: bool = False,
    ) -> None:
        """`control_token`: a token to require on /__harness/, True for a new one, None
        for none on loopback (beyond loopback one is always generated): see
        `control_token` once started. `spec`: a document's path or URL (or a compiled
        one) to serve instead of the demo, with `config` (a HarnessConfig); raises
        DocumentError if it is invalid."""
        self.state = state or MockState()
        if spec is None:  # the demo API: its own document and configuration
            spec = demo_spec(self.state.seed, self.state.product_count)
        elif not hasattr(spec, "plans"):
            spec = compile_spec(spec, config)
        self._config = ServeConfig(
            host=host,
            port=port,
            upstream=upstream,
            upstream_insecure=upstream_insecure,
            settings=settings or MockSettings(),
            extra_options=extra_options or {},
            control_token=resolve_control_token(host, control_token),
            spec=spec,
            validate_upstream=validate_upstream,
            tls=tls,
        )
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._master: Master | None = None
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

    @property
    def control_token(self) -> str | None:
        """What /__harness/ calls must send in X-Harness-Token; None if nothing."""
        return self._config.control_token

    def start(self, timeout: float = 30.0) -> MockServer:
        self._thread = threading.Thread(target=self._run, name="harness-mock", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise MockStartError(f"the mock did not start within {timeout} s")
        if self._failure is not None or self.port is None:
            raise MockStartError(f"the mock failed to start: {self._failure}")
        return self

    def _run(self) -> None:
        def ready(port: int | None) -> None:
            self.port = port
            self._ready.set()

        def keep(master: Master) -> None:
            self._master = master

        try:
            asyncio.run(serve(self.state, self._config, on_ready=ready, on_master=keep))
        except Exception as e:  # reported to the thread that called start()
            self._failure = e
        finally:
            mitm_internals.release_master()  # the loop is closed: nothing can ask any more
            self._ready.set()

    def stop(self, timeout: float = 10.0) -> None:
        if self._master is not None:
            self._master.shutdown()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
