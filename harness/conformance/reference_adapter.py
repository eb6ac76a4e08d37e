"""The reference client behind the adapter protocol (docs/adapter-protocol.md).

    HARNESS_BASE_URL=http://127.0.0.1:8080 python -m harness.conformance.reference_adapter

`HARNESS_REFERENCE_DEFECT=<name>` runs a deliberately defective variant instead
(see defects.py): the proof that verdicts can fail.

Reads one JSON request per line on stdin, answers one JSON reply per line on
stdout. Uses the async client so that `parallel` and `cancel_after_ms` are
real concurrency and real cancellation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from pydantic import BaseModel

from contracts.models import ProductInput
from harness.client import AsyncApiClient, ClientOptions, RetryPolicy, TokenPair
from harness.client.errors import ApiError
from harness.conformance.defects import defective_client

Op = Callable[[AsyncApiClient, dict[str, Any]], Awaitable[Any]]


def _product(args: dict[str, Any]) -> ProductInput:
    # JSON mode: the contract's JSON (enum strings, numbers) as a client would send it.
    return ProductInput.model_validate_json(json.dumps(args["product"]))


async def _set_tokens(api: AsyncApiClient, args: dict[str, Any]) -> None:
    access, refresh = args["access_token"], args["refresh_token"]
    if access is None and refresh is None:
        api.settings.tokens.clear()  # both null: signed out
        return
    if not isinstance(access, str) or not isinstance(refresh, str | None):
        raise TypeError("access_token must be a string, refresh_token a string or null")
    # No refresh token: an empty one, which no server accepts, so a 401 ends the session.
    api.settings.tokens.set(TokenPair(access, refresh or ""))


async def _get_tokens(api: AsyncApiClient, args: dict[str, Any]) -> dict[str, str | None] | None:
    pair = api.settings.tokens.get()
    if pair is None:
        return None
    return {"access_token": pair.access_token, "refresh_token": pair.refresh_token or None}


OPS: dict[str, Op] = {
    "login": lambda api, a: api.login(a["email"], a["password"]),
    "logout": lambda api, a: api.logout(),
    "set_tokens": _set_tokens,
    "get_tokens": _get_tokens,
    "get_profile": lambda api, a: api.get_profile(),
    "update_profile": lambda api, a: api.update_profile(a.get("name"), a.get("email")),
    "list_products": lambda api, a: api.list_products(
        a.get("page", 1), a.get("page_size", 20), a.get("category")
    ),
    "get_product": lambda api, a: api.get_product(a["id"]),
    "create_product": lambda api, a: api.create_product(_product(a)),
    "update_product": lambda api, a: api.update_product(a["id"], _product(a)),
    "delete_product": lambda api, a: api.delete_product(a["id"]),
}


def _json_result(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_json_result(v) for v in value]
    return value


def _failure(kind: str, message: str, status: int | None = None) -> dict[str, Any]:
    return {"ok": False, "error": {"kind": kind, "status": status, "message": message}}


async def perform(
    api: AsyncApiClient, request: dict[str, Any], ops: Mapping[str, Op] = OPS
) -> dict[str, Any]:
    """One op's reply body (without the id)."""
    op, args = request.get("op"), request.get("args") or {}
    if op == "parallel":
        subs = args.get("ops", [])
        replies = await asyncio.gather(*(perform(api, sub, ops) for sub in subs))
        return {"ok": True, "result": list(replies)}
    handler = ops.get(str(op))
    if handler is None:
        return _failure("unexpected", f"unknown op {op!r}")
    cancel_after = request.get("cancel_after_ms")
    try:
        call = handler(api, args)
        if cancel_after is not None:
            result = await asyncio.wait_for(call, timeout=float(cancel_after) / 1000)
        else:
            result = await call
    except TimeoutError:
        return _failure("requestCancelled", f"cancelled after {cancel_after} ms")
    except ApiError as e:
        return _failure(e.kind, e.detail, e.status)
    except (KeyError, TypeError, ValueError) as e:
        return _failure("unexpected", f"bad args for {op}: {e}")
    return {"ok": True, "result": _json_result(result)}


def _options_from_env() -> ClientOptions:
    timeout = float(os.environ.get("HARNESS_TIMEOUT_S", "10"))
    base_s = float(os.environ.get("HARNESS_RETRY_BASE_MS", "200")) / 1000
    cap_s = float(os.environ.get("HARNESS_RETRY_CAP_MS", "5000")) / 1000
    deadline_s = float(os.environ.get("HARNESS_DEADLINE_S", "30"))
    return ClientOptions(
        api_key=os.environ.get("HARNESS_API_KEY") or None,
        signing_secret=os.environ.get("HARNESS_SIGNING_SECRET") or None,
        retry=RetryPolicy(
            base_delay_s=base_s, max_delay_s=max(cap_s, base_s), deadline_s=deadline_s
        ),
        timeout=httpx.Timeout(timeout),
    )


def _log_to(path: str | None) -> None:
    if path:
        logging.basicConfig(
            filename=path, level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s"
        )


async def serve(base_url: str, options: ClientOptions, ops: Mapping[str, Op] = OPS) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    defect = os.environ.get("HARNESS_REFERENCE_DEFECT")
    client = defective_client(defect, base_url, options) if defect else None
    async with client or AsyncApiClient(base_url, options) as api:
        while line := await reader.readline():
            try:
                request = json.loads(line)
            except ValueError:
                continue  # not ours to answer: no id to answer to
            if request.get("op") == "shutdown":
                _reply({"id": request.get("id"), "ok": True, "result": None})
                return
            body = await perform(api, request, ops)
            _reply({"id": request.get("id"), **body})


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(ops: Mapping[str, Op] = OPS, name: str = "reference_adapter") -> int:
    base_url = os.environ.get("HARNESS_BASE_URL")
    if not base_url:
        print(f"{name}: HARNESS_BASE_URL is not set", file=sys.stderr)
        return 2
    _log_to(os.environ.get("HARNESS_LOG_FILE"))
    asyncio.run(serve(base_url, _options_from_env(), ops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
