"""Locust users that drive the reference client, and the listeners a load run needs.

Import this only under locust (`import locust` monkey-patches with gevent;
the sync client runs on top of it: httpx's sockets, `threading.Lock` and
`time.sleep` all become gevent's). The locustfiles (`locustfile.py`,
`defective_locustfile.py`) define the concrete user classes.

Every user has its own `ApiClient`: its own account, token store, session
and retry throttle, as separate app installs would. Each logical call is
reported to locust's statistics (name = the contract's operationId) and
recorded as a `CallRecord` with the retries the client's `on_retry` hook saw.

Records reach one place whatever the topology: a local runner keeps them; a
worker (`--processes`, `--worker`) sends them to its master in batches
through locust's own messages (`harness_records`); the master or the local
runner writes them to `--harness-records` when locust quits.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import gevent  # type: ignore[import-untyped]
import httpx
from locust import User, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from contracts.models import CategoryId, ProductInput
from harness.client import ApiClient, ApiError, RetryEvent, RetryPolicy, calls
from loadtests.locust_stats import report_call
from loadtests.profiles import Profile, get_profile
from loadtests.records import CallRecord, write_records

log = logging.getLogger("harness.load")

MESSAGE = "harness_records"
FLUSH_EVERY_S = 1.0
PASSWORD = "load-password-1"
SIGN_IN_TRIES = 3
# Load runs fail faster than the client's defaults, so a run's tail stays short.
LOAD_RETRY = RetryPolicy(max_attempts=4, base_delay_s=0.1, deadline_s=10.0, max_retry_after_s=5.0)
LOAD_TIMEOUT = httpx.Timeout(2.0)

_collected: list[dict[str, Any]] = []  # local runner or master: every record
_pending: list[dict[str, Any]] = []  # worker: records not yet sent to the master


# --- listeners ---------------------------------------------------------------------


def _arguments(parser: Any, **_: Any) -> None:
    parser.add_argument(
        "--harness-profile",
        default="steady",
        env_var="HARNESS_LOAD_PROFILE",
        help="harness load profile",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--harness-records",
        env_var="HARNESS_LOAD_RECORDS",
        default="",
        help="write the client's call records here (JSON lines) when locust quits",
        include_in_web_ui=False,
    )
    parser.add_argument(
        "--harness-progress-s",
        env_var="HARNESS_LOAD_PROGRESS_S",
        type=float,
        default=5.0,
        help="seconds between progress lines",
        include_in_web_ui=False,
    )


def _init(environment: Environment, **_: Any) -> None:
    # httpx logs every request at INFO and the client every retry: far too much under load.
    for name in ("httpx", "httpcore", "harness.client"):
        logging.getLogger(name).setLevel(logging.WARNING)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(MESSAGE, _received)
    elif isinstance(runner, WorkerRunner):
        gevent.spawn(_flush_forever, environment)


def _received(msg: Any, **_: Any) -> None:
    _collected.extend(msg.data or [])


def _flush(environment: Environment) -> None:
    if _pending and environment.runner is not None:
        batch = _pending[:]
        del _pending[:]
        environment.runner.send_message(MESSAGE, batch)


def _flush_forever(environment: Environment) -> None:
    while True:
        gevent.sleep(FLUSH_EVERY_S)
        _flush(environment)


def _test_stop(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        _flush(environment)


def _test_start(environment: Environment, **_: Any) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(_progress_forever, environment)


def _progress_forever(environment: Environment) -> None:
    options = environment.parsed_options
    every = float(getattr(options, "harness_progress_s", 5.0) or 5.0)
    started = time.monotonic()
    while True:
        gevent.sleep(every)
        runner = environment.runner
        if runner is None:
            return
        total = environment.stats.total
        failed = total.num_failures / total.num_requests if total.num_requests else 0.0
        log.info(
            "progress: %4.0f s  users %d  calls %d  %.1f/s now  failed %.2f%%  p95 %s ms",
            time.monotonic() - started,
            runner.user_count,
            total.num_requests,
            total.current_rps,
            failed * 100,
            total.get_current_response_time_percentile(0.95) or "-",
        )


def _quitting(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    path = getattr(environment.parsed_options, "harness_records", "")
    if path:
        count = write_records(Path(path), _collected)
        log.info("wrote %d call records to %s", count, path)


events.init_command_line_parser.add_listener(_arguments)
events.init.add_listener(_init)
events.test_stop.add_listener(_test_stop)
events.test_start.add_listener(_test_start)
events.quitting.add_listener(_quitting)


def record(environment: Environment, entry: dict[str, Any]) -> None:
    if isinstance(environment.runner, WorkerRunner):
        _pending.append(entry)
    else:
        _collected.append(entry)


# --- the user ----------------------------------------------------------------------


class ClientUser(User):
    """One app install: its own account and ApiClient, a task mix over the whole API."""

    abstract = True
    auto_idempotency_keys: ClassVar[bool] = True

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        options = environment.parsed_options
        self.profile: Profile = get_profile(getattr(options, "harness_profile", "steady"))
        self.tag = uuid.uuid4().hex[:12]
        self.serial = 0
        self.seen: list[str] = []  # product ids from listings
        self.owned: list[str] = []  # products this user created
        self._delays: list[float] = []
        self.api = ApiClient(
            (self.host or "").rstrip("/"),
            retry=self.retry_policy(),
            timeout=LOAD_TIMEOUT,
            auto_idempotency_keys=self.auto_idempotency_keys,
            on_retry=self._on_retry,
        )

    def retry_policy(self) -> RetryPolicy:
        return LOAD_RETRY

    def wait_time(self) -> float:
        low, high = self.profile.wait_s
        return random.uniform(low, high)

    def _on_retry(self, event: RetryEvent) -> None:
        self._delays.append(event.delay_s)

    # --- measuring one logical call --------------------------------------------------

    def measure(
        self, operation: str, method: str, fn: Callable[[], Any], body_sha256: str | None = None
    ) -> Any:
        """Run one client call; report it to locust and record it. None if it failed."""
        self._delays = []
        started_at = time.time()
        t0 = time.perf_counter()
        error: ApiError | None = None
        result: Any = None
        try:
            result = fn()
        except ApiError as e:
            error = e
        elapsed_ms = (time.perf_counter() - t0) * 1000
        entry = CallRecord(
            operation=operation,
            method=method,
            ok=error is None,
            duration_ms=round(elapsed_ms, 3),
            attempts=1 + len(self._delays),
            started_at=started_at,
            kind=error.kind if error else None,
            status=error.status if error else None,
            user=self.tag,
            body_sha256=body_sha256,
            retry_delays_s=tuple(round(d, 4) for d in self._delays),
        )
        record(self.environment, entry.to_json())
        report_call(
            self.environment,
            method=method,
            operation=operation,
            elapsed_ms=elapsed_ms,
            user=self.tag,
            error=error,
        )
        return result

    # --- session -----------------------------------------------------------------------

    def on_start(self) -> None:
        self.sign_in()

    def on_stop(self) -> None:
        self.api.close()

    def sign_in(self) -> None:
        """Register this user's account (or log in if it exists); a few tries at most."""
        email = f"load-{self.tag}@example.com"
        for _ in range(SIGN_IN_TRIES):
            if self.measure(
                "register", "POST", lambda: self.api.register(email, PASSWORD, f"Load {self.tag}")
            ):
                return
            if self.measure("login", "POST", lambda: self.api.login(email, PASSWORD)):
                return
            gevent.sleep(0.5)

    def _signed_in(self) -> bool:
        if self.api.settings.tokens.get() is None:
            self.sign_in()
        return self.api.settings.tokens.get() is not None

    # --- tasks -------------------------------------------------------------------------

    @task(12)
    def browse(self) -> None:
        if not self._signed_in():
            return
        page = random.randint(1, 10)
        category = random.choice([None, None, *CategoryId])
        products = self.measure(
            "listProducts",
            "GET",
            lambda: self.api.list_products(page=page, page_size=20, category=category),
        )
        if products:
            self.seen = (self.seen + [p.id for p in products])[-200:]

    @task(8)
    def detail(self) -> None:
        if not self.seen:
            return self.browse()
        if not self._signed_in():
            return
        product_id = random.choice(self.seen)
        self.measure("getProduct", "GET", lambda: self.api.get_product(product_id))

    def _new_product(self) -> ProductInput:
        self.serial += 1
        return ProductInput(
            name=f"Load {self.tag} #{self.serial}",
            price=Decimal(random.randint(100, 99_999)) / 100,
            category_id=random.choice(list(CategoryId)),
        )

    @task(2)
    def create(self) -> None:
        if not self._signed_in():
            return
        product = self._new_product()
        body = calls.create_product(product).body or b""
        created = self.measure(
            "createProduct",
            "POST",
            lambda: self.api.create_product(product),
            body_sha256=hashlib.sha256(body).hexdigest(),
        )
        if created:
            self.owned.append(created.id)

    @task(2)
    def update(self) -> None:
        if not self.owned:
            return self.create()
        if not self._signed_in():
            return
        product_id = random.choice(self.owned)
        product = self._new_product()
        self.measure("updateProduct", "PUT", lambda: self.api.update_product(product_id, product))

    @task(1)
    def delete(self) -> None:
        if not self.owned or not self._signed_in():
            return
        product_id = self.owned.pop()
        self.measure("deleteProduct", "DELETE", lambda: self.api.delete_product(product_id))

    @task(2)
    def profile_read(self) -> None:
        if self._signed_in():
            self.measure("getProfile", "GET", self.api.get_profile)

    @task(1)
    def profile_update(self) -> None:
        if self._signed_in():
            name = f"Load {self.tag} v{random.randint(1, 999)}"
            self.measure("updateProfile", "PUT", lambda: self.api.update_profile(name=name))
