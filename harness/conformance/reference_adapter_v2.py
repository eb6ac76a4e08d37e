"""The reference client behind adapter protocol v2: `call` by the demo document's operationIds.

    HARNESS_BASE_URL=http://127.0.0.1:8080 python -m harness.conformance.reference_adapter_v2

The same client and ops as `reference_adapter.py` (v1), plus `hello` and the
generic `call` (docs/adapter-protocol.md#protocol-v2), so the reference client
can be judged as any API's client is: through the roles of a configuration,
the document served by the spec engine (`harness verify --spec/--config`).
`login` takes the identity's fields. `HARNESS_REFERENCE_DEFECT` works as in v1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from contracts.models import ProductInput
from harness.client import AsyncApiClient
from harness.conformance.reference_adapter import OPS, Op, main

PROTOCOL = 2


def _input(body: Any) -> ProductInput:
    # JSON mode: the document's JSON (enum strings, numbers) as a client would read it.
    return ProductInput.model_validate_json(json.dumps(body))


# operationId -> the client's method, with the call's path, query and body.
CALLS: dict[str, Any] = {
    "getProfile": lambda api, path, query, body: api.get_profile(),
    "updateProfile": lambda api, path, query, body: api.update_profile(
        (body or {}).get("name"), (body or {}).get("email")
    ),
    "listProducts": lambda api, path, query, body: api.list_products(
        int(query.get("page", 1)), int(query.get("page_size", 20)), query.get("category")
    ),
    "getProduct": lambda api, path, query, body: api.get_product(str(path["id"])),
    "createProduct": lambda api, path, query, body: api.create_product(_input(body)),
    "updateProduct": lambda api, path, query, body: api.update_product(
        str(path["id"]), _input(body)
    ),
    "deleteProduct": lambda api, path, query, body: api.delete_product(str(path["id"])),
}


async def _hello(api: AsyncApiClient, args: dict[str, Any]) -> dict[str, Any]:
    return {"protocol": PROTOCOL, "operations": sorted(CALLS)}


async def _call(api: AsyncApiClient, args: dict[str, Any]) -> Any:
    operation = str(args.get("operation"))
    run = CALLS.get(operation)
    if run is None:
        raise ValueError(f"unknown operation {operation!r}")
    return await run(api, args.get("path") or {}, args.get("query") or {}, args.get("body"))


async def _login(api: AsyncApiClient, args: dict[str, Any]) -> Any:
    return await api.login(args["email"], args["password"])


OPS_V2: Mapping[str, Op] = {**OPS, "hello": _hello, "call": _call, "login": _login}

if __name__ == "__main__":
    sys.exit(main(OPS_V2, "reference_adapter_v2"))
