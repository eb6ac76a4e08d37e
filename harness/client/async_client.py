"""The asyncio client: the same engine and operations as `ApiClient`, with
httpx.AsyncClient, asyncio.Lock and asyncio.sleep. Cancelling the task that
awaits a call cancels it: no further attempts are made.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from harness.client import calls
from harness.client.calls import Call
from harness.client.engine import Flow, Refresh, Send, Settings, classify, refresh_flow, run_call
from harness.client.operations import async_operation, settle
from harness.client.options import ClientOptions


class AsyncApiClient:
    def __init__(self, base_url: str, options: ClientOptions | None = None, **kwargs: Any):
        options = options or ClientOptions(**kwargs)
        self.settings: Settings = options.settings(base_url)
        self._http = httpx.AsyncClient(timeout=options.timeout, transport=options.async_transport)
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
                result = await self._send(command.request)
            elif isinstance(command, Refresh):
                result = await self._refresh(command.stale_access_token)
            else:
                await asyncio.sleep(command.seconds)
                result = None

    async def _refresh(self, stale_access_token: str | None) -> Any:
        # Single-flight: one refresh at a time; those who waited see the new token.
        async with self._refresh_lock:
            return await self._drive(refresh_flow(self.settings, stale_access_token))

    async def _send(self, request: httpx.Request) -> Any:
        try:
            return await self._http.send(request)
        except httpx.HTTPError as e:
            return classify(e)

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
