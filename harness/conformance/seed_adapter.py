"""The seed's client (seed_port.py) behind the adapter protocol (docs/adapter-protocol.md).

    HARNESS_BASE_URL=http://127.0.0.1:8080 python -m harness.conformance.seed_adapter
    harness verify --adapter "python -m harness.conformance.seed_adapter"

A deliberately defective client: the harness must condemn it. Like any third
party's adapter it uses nothing of the reference client, only the client it drives.
`parallel` runs its ops concurrently (asyncio.gather); `cancel_after_ms`
cancels the call's Dio CancelToken after N ms, the seed's own way to cancel.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from harness.conformance.seed_dio import CancelToken
from harness.conformance.seed_port import ApiFailure, AppConfig, Product, SeedApp

Op = Callable[[SeedApp, dict[str, Any], CancelToken | None], Awaitable[Any]]


async def _set_tokens(app: SeedApp, args: dict[str, Any], cancel: CancelToken | None) -> None:
    await app.storage.save_access_token(args["access_token"])
    await app.storage.save_refresh_token(args["refresh_token"])


async def _get_tokens(
    app: SeedApp, args: dict[str, Any], cancel: CancelToken | None
) -> dict[str, str] | None:
    access, refresh = await app.storage.get_access_token(), await app.storage.get_refresh_token()
    if access is None or refresh is None:
        return None
    return {"access_token": access, "refresh_token": refresh}


OPS: dict[str, Op] = {
    "login": lambda app, a, c: app.auth.login(a["email"], a["password"], c),
    "logout": lambda app, a, c: app.auth.logout(c),
    "set_tokens": _set_tokens,
    "get_tokens": _get_tokens,
    "get_profile": lambda app, a, c: app.users.get_profile(c),
    "update_profile": lambda app, a, c: app.users.update_profile(a.get("name"), a.get("email"), c),
    "list_products": lambda app, a, c: app.products.get_products(
        a.get("page", 1), a.get("page_size", 20), a.get("category"), c
    ),
    "get_product": lambda app, a, c: app.products.get_product_details(a["id"], c),
    "create_product": lambda app, a, c: app.products.create_product(a["product"], c),
    "update_product": lambda app, a, c: app.products.update_product(a["id"], a["product"], c),
    "delete_product": lambda app, a, c: app.products.delete_product(a["id"], c),
}


def _json_result(value: Any) -> Any:
    """What the client reports: its own models' toJson, never the bytes it received."""
    if isinstance(value, Product):
        return value.to_json()
    if isinstance(value, list):
        return [_json_result(v) for v in value]
    return value


def _failure(kind: str, message: str, status: int | None = None) -> dict[str, Any]:
    return {"ok": False, "error": {"kind": kind, "status": status, "message": message}}


async def perform(app: SeedApp, request: dict[str, Any]) -> dict[str, Any]:
    """One op's reply body (without the id)."""
    op, args = request.get("op"), request.get("args") or {}
    if op == "parallel":
        replies = await asyncio.gather(*(perform(app, sub) for sub in args.get("ops", [])))
        return {"ok": True, "result": list(replies)}
    handler = OPS.get(str(op))
    if handler is None:
        return _failure("unexpected", f"unknown op {op!r}")
    cancel_after = request.get("cancel_after_ms")
    token = CancelToken() if cancel_after is not None else None
    timer = (
        asyncio.get_running_loop().call_later(float(cancel_after) / 1000, token.cancel)
        if token is not None and cancel_after is not None
        else None
    )
    try:
        result = await handler(app, args, token)
    except ApiFailure as e:
        return _failure(e.kind, str(e), e.status_code)
    except (KeyError, TypeError, ValueError) as e:
        return _failure("unexpected", f"bad args for {op}: {e}")
    finally:
        if timer is not None:
            timer.cancel()
    return {"ok": True, "result": _json_result(result)}


async def serve(config: AppConfig) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    app = SeedApp(config)
    try:
        await app.start()
        while line := await reader.readline():
            try:
                request = json.loads(line)
            except ValueError:
                continue  # not ours to answer: no id to answer to
            if request.get("op") == "shutdown":
                _reply({"id": request.get("id"), "ok": True, "result": None})
                return
            _reply({"id": request.get("id"), **await perform(app, request)})
    finally:
        await app.close()


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _log_to(path: str | None) -> None:
    # The seed's developer.log lines (logger "API"): the libraries' own are not the seed's.
    if path:
        logging.basicConfig(filename=path, level=logging.DEBUG, format="%(asctime)s %(message)s")
    for library in ("asyncio", "httpx", "httpcore"):
        logging.getLogger(library).setLevel(logging.WARNING)


def main() -> int:
    if not os.environ.get("HARNESS_BASE_URL"):
        print("seed_adapter: HARNESS_BASE_URL is not set", file=sys.stderr)
        return 2
    _log_to(os.environ.get("HARNESS_LOG_FILE"))
    asyncio.run(serve(AppConfig.from_env(os.environ)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
