"""The asyncio client: the same engine and operations as `ApiClient`, with
httpx.AsyncClient, asyncio.Lock and asyncio.sleep. Cancelling the task that
awaits a call cancels it: no further attempts are made.
"""

from __future__ import annotations

import asyncio
import logging
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
from harness.client.operations import async_operation, settle
from harness.client.options import ClientOptions

log = logging.getLogger("harness.client")


class AsyncApiClient:
    def __init__(self, base_url: str, options: ClientOptions | None = None, **kwargs: Any):
        options = options or ClientOptions(**kwargs)
        self.settings: Settings = options.settings(base_url)
        self._http = httpx.AsyncClient(
            timeout=options.timeout, transport=options.async_transport, follow_redirects=False
        )
        if not deadlines.install(self._http):
            log.warning("a custom transport: the attempt deadline is checked between chunks only")
        self._refresh_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call[T](self, call: Call[T]) -> T:
        result: T = await self._drive(run_call(call, self.settings))
        settle(self.settings, call, result)
        return result

    async def _drive(self, flow: Flow) -> Any:
        result: Any = None
        while True:
            try:
                command = flow.send(result)
            except StopIteration as done:
                return done.value
            if isinstance(command, Send):
                result = await self._attempt(command)
            elif isinstance(command, Refresh):
                with deadlines.within(command.budget_s):
                    result = await self._refresh(command.stale_access_token)
            else:
                await asyncio.sleep(command.seconds)
                result = None

    async def _attempt(self, send: Send) -> Any:
        # The whole attempt, connect to the last body byte, within its deadline.
        with deadlines.within(send.timeout_s):
            send.request.extensions["timeout"] = deadlines.clamped(self._http.timeout)
            return await self._send(send.request)

    async def _refresh(self, stale_access_token: str | None) -> Any:
        # Single-flight: one refresh at a time; those who waited see the new token.
        try:
            async with asyncio.timeout(deadlines.remaining()):
                await self._refresh_lock.acquire()
        except TimeoutError:
            return refresh_timed_out()
        try:
            budget = deadlines.remaining()
            return await self._drive(refresh_flow(self.settings, stale_access_token, budget))
        finally:
            self._refresh_lock.release()

    async def _send(self, request: httpx.Request) -> Any:
        """Send one request; read at most max_response_bytes of its answer."""
        try:
            response = await self._http.send(request, stream=True)
            try:
                body = BodyReader(response, self.settings.max_response_bytes)
                async for chunk in response.aiter_raw():
                    body.feed(chunk)
                    deadlines.check(request)
                return body.answer(response)
            finally:
                await response.aclose()
        except httpx.HTTPError as e:
            return classify(e)
        except errors.ApiError as e:
            return unusable(e)

    register = async_operation(calls.register)
    login = async_operation(calls.login)
    refresh = async_operation(calls.refresh)
    logout = async_operation(calls.logout)
    get_profile = async_operation(calls.get_profile)
    update_profile = async_operation(calls.update_profile)
    list_products = async_operation(calls.list_products)
    get_product = async_operation(calls.get_product)
    create_product = async_operation(calls.create_product)
    update_product = async_operation(calls.update_product)
    delete_product = async_operation(calls.delete_product)
