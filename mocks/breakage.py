"""A deliberately non-conforming mock: the proof that the contract suite can fail.

`harness_breakage` (`MockSettings.breakage`) names flaws, comma-separated; each
breaks the contract in one way on one operation, the way real backends do:

| flaw | operation | what breaks |
|---|---|---|
| `wrong_type` | getProduct | `price` is a string |
| `missing_field` | getProfile | `created_at` is left out |
| `undocumented_status` | deleteProduct | 200 with a body instead of 204 |
| `non_problem_error` | createProduct | 4xx errors as `{"message": ...}` application/json |
| `lying_total` | listProducts | `X-Total-Count` is 7 more than the truth |
| `non_idempotent` | createProduct | `Idempotency-Key` ignored: every retry creates a product |
| `no_retry_after` | any | 429 and 503 without `Retry-After` |
| `bad_location` | createProduct | `Location` points at a product that does not exist |
| `no_ownership` | updateProduct, deleteProduct | anyone may change or delete anyone's product |
| `unsigned_tokens` | any secured | access tokens are decoded without checking their signature |
| `anonymous_access` | any secured | a request without a token acts as the demo user |

The last three are security flaws (`auth.py` consults `forged_tokens_accepted` and
`anonymous_user`); the contract suite's security checks catch each.

Off by default. `harness mock --set harness_breakage=all` turns on every flaw.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mitmproxy import http

from mocks.notes import note

if TYPE_CHECKING:  # the state imports the settings, which import parse_flaws from here
    from mocks.state import MockState

FLAWS = (
    "wrong_type",
    "missing_field",
    "undocumented_status",
    "non_problem_error",
    "lying_total",
    "non_idempotent",
    "no_retry_after",
    "bad_location",
    "no_ownership",
    "unsigned_tokens",
    "anonymous_access",
)
ANONYMOUS_USER = "usr_demo"  # whom `anonymous_access` lets a token-less request act as


def parse_flaws(text: str | None) -> frozenset[str]:
    """`"a,b"` as a set of flaw names; `"all"` is every flaw. Raises ValueError for unknown ones."""
    if not text:
        return frozenset()
    names = {part.strip() for part in text.split(",") if part.strip()}
    if "all" in names:
        return frozenset(FLAWS)
    unknown = sorted(names - set(FLAWS))
    if unknown:
        raise ValueError(f"unknown flaws {unknown}; known: {', '.join(FLAWS)}, all")
    return frozenset(names)


class Breakage:
    """Bends requests and responses of the chosen operations (after the API answered)."""

    def __init__(self, state: MockState) -> None:
        self._state = state

    def _flaws(self) -> frozenset[str]:
        return parse_flaws(self._state.settings.breakage)

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        n = note(flow)
        if "non_idempotent" in self._flaws() and n.operation == "createProduct":
            flow.request.headers.pop("Idempotency-Key", None)
        if "no_ownership" in self._flaws() and n.operation in ("updateProduct", "deleteProduct"):
            # The API judges ownership by the caller: act as the product's owner, if it has one.
            owners = getattr(self._state.store, "owners", {})
            owner = owners.get(n.params.get("id", ""))
            if owner is not None:
                n.user_id = owner

    def response(self, flow: http.HTTPFlow) -> None:
        flaws = self._flaws()
        response = flow.response
        if not flaws or response is None:
            return
        operation = note(flow).operation
        status = response.status_code
        if "no_retry_after" in flaws and status in (429, 503):
            response.headers.pop("Retry-After", None)
        if operation == "getProduct" and status == 200 and "wrong_type" in flaws:
            _edit_json(response, lambda body: body | {"price": str(body.get("price"))})
        elif operation == "getProfile" and status == 200 and "missing_field" in flaws:
            _edit_json(response, lambda body: {k: v for k, v in body.items() if k != "created_at"})
        elif operation == "deleteProduct" and status == 204 and "undocumented_status" in flaws:
            flow.response = http.Response.make(
                200, b'{"deleted": true}', {"content-type": "application/json"}
            )
        elif operation == "listProducts" and status == 200 and "lying_total" in flaws:
            total = int(response.headers.get("X-Total-Count", "0"))
            response.headers["X-Total-Count"] = str(total + 7)
        elif operation == "createProduct":
            if status >= 400 and "non_problem_error" in flaws:
                detail = json.loads(response.content or b"{}").get("detail", "error")
                flow.response = http.Response.make(
                    status, json.dumps({"message": detail}), {"content-type": "application/json"}
                )
            elif status == 201 and "bad_location" in flaws:
                response.headers["Location"] = "/v1/products/no-such-product"


def _edit_json(response: http.Response, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    body = json.loads(response.content or b"{}")
    response.set_content(json.dumps(change(body)).encode())


def forged_tokens_accepted(flaws: frozenset[str]) -> bool:
    return "unsigned_tokens" in flaws


def anonymous_user(flaws: frozenset[str]) -> str | None:
    return ANONYMOUS_USER if "anonymous_access" in flaws else None
