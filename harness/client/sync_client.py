"""The synchronous client: httpx.Client, threads, time.sleep. Runs under gevent too.

client = ApiClient("http://127.0.0.1:8080")
client.login("demo@example.com", "demo-password")
page = client.list_products(page_size=5)
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from harness.client import calls, deadlines, errors
from harness.client.bodies import BodyReader
from harness.client.calls import Call
from harness.client.engine import (
    Flow,
    Refresh,
    Send,
    Settings,
    classify,
    refresh_flow,
    refresh_timed_out,
    run_call,
    unusable,
)
from harness.client.operations import settle, sync_operation
from harness.client.options import ClientOptions

log = logging.getLogger("harness.client")


class ApiClient:
    def __init__(self, base_url: str, options: ClientOptions | None = None, **kwargs: Any):
        options = options or ClientOptions(**kwargs)
        self.settings: Settings = options.settings(base_url)
        self._http = httpx.Client(
            timeout=options.timeout, transport=options.transport, follow_redirects=False
        )
        if not deadlines.install(self._http):
            log.warning("a custom transport: the attempt deadline is checked between chunks only")
        self._refresh_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call[T](self, call: Call[T]) -> T:
        result: T = self._drive(run_call(call, self.settings))
        settle(self.settings, call, result)
        return result

    def _drive(self, flow: Flow) -> Any:
        result: Any = None
        while True:
            try:
                command = flow.send(result)
            except StopIteration as done:
                return done.value
            if isinstance(command, Send):
                result = self._attempt(command)
            elif isinstance(command, Refresh):
                with deadlines.within(command.budget_s):
                    result = self._refresh(command.stale_access_token)
            else:
                time.sleep(command.seconds)
                result = None

    def _attempt(self, send: Send) -> Any:
        # The whole attempt, connect to the last body byte, within its deadline.
        with deadlines.within(send.timeout_s):
            send.request.extensions["timeout"] = deadlines.clamped(self._http.timeout)
            return self._send(send.request)

    def _refresh(self, stale_access_token: str | None) -> Any:
        # Single-flight: one refresh at a time; those who waited see the new token.
        left = deadlines.remaining()
        if not self._refresh_lock.acquire(timeout=-1 if left is None else max(left, 0.0)):
            return refresh_timed_out()
        try:
            budget = deadlines.remaining()
            return self._drive(refresh_flow(self.settings, stale_access_token, budget))
        finally:
            self._refresh_lock.release()

    def _send(self, request: httpx.Request) -> Any:
        """Send one request; read at most max_response_bytes of its answer."""
        try:
            response = self._http.send(request, stream=True)
            try:
                body = BodyReader(response, self.settings.max_response_bytes)
                for chunk in response.iter_raw():
                    body.feed(chunk)
                    deadlines.check(request)
                return body.answer(response)
            finally:
                response.close()
        except httpx.HTTPError as e:
            return classify(e)
        except errors.ApiError as e:
            return unusable(e)

    register = sync_operation(calls.register)
    login = sync_operation(calls.login)
    refresh = sync_operation(calls.refresh)
    logout = sync_operation(calls.logout)
    get_profile = sync_operation(calls.get_profile)
    update_profile = sync_operation(calls.update_profile)
    list_products = sync_operation(calls.list_products)
    get_product = sync_operation(calls.get_product)
    create_product = sync_operation(calls.create_product)
    update_product = sync_operation(calls.update_product)
    delete_product = sync_operation(calls.delete_product)
