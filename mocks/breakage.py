"""A deliberately non-conforming mock: the proof that the contract suite can fail.

`harness_breakage` (`MockSettings.breakage`) names flaws, comma-separated; each
breaks the contract in one way on one operation, the way real backends do:

| flaw | operation (role; the demo's) | what breaks |
|---|---|---|
| `wrong_type` | read (getProduct) | the first number (`price`) is a string |
| `missing_field` | current_user (getProfile) | `created_at` (else the last field) is left out |
| `undocumented_status` | delete (deleteProduct) | 200 with a body instead of 204 |
| `non_problem_error` | create (createProduct) | 4xx errors as `{"message": ...}` application/json |
| `lying_total` | list (listProducts) | `X-Total-Count` is 7 more than the truth |
| `non_idempotent` | create (createProduct) | `Idempotency-Key` ignored: each retry creates one |
| `no_retry_after` | any | 429 and 503 without `Retry-After` |
| `bad_location` | create (createProduct) | `Location` points at an item that does not exist |
| `no_ownership` | update, delete | anyone may change or delete anyone's item |
| `unsigned_tokens` | any secured | access tokens are decoded without checking their signature |
| `anonymous_access` | any secured | a request without a token acts as the first account |

Operations are found by the configuration's roles, so the profile breaks any API
served from a document as it breaks the demo. The last three are security flaws
(the auth addons consult `forged_tokens_accepted` and `anonymous_user`, the
resources `no_ownership`); the contract suite's security checks catch each.

Off by default. `harness mock --set harness_breakage=all` turns on every flaw.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mitmproxy import http

from mocks.notes import RequestNote, note

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
        if "non_idempotent" in self._flaws() and _is(n, "create"):
            flow.request.headers.pop("Idempotency-Key", None)
        # no_ownership: the resource store itself stops judging owners (spec_chain).

    def response(self, flow: http.HTTPFlow) -> None:
        flaws = self._flaws()
        response = flow.response
        if not flaws or response is None:
            return
        n = note(flow)
        status = response.status_code
        if "no_retry_after" in flaws and status in (429, 503):
            response.headers.pop("Retry-After", None)
        if _is(n, "read") and status == 200 and "wrong_type" in flaws:
            _edit_json(response, _number_as_text)
        elif _is(n, "current_user") and status == 200 and "missing_field" in flaws:
            _edit_json(response, _without_a_field)
        elif _is(n, "delete") and status == 204 and "undocumented_status" in flaws:
            flow.response = http.Response.make(
                200, b'{"deleted": true}', {"content-type": "application/json"}
            )
        elif _is(n, "list") and status == 200 and "lying_total" in flaws:
            total = int(response.headers.get("X-Total-Count", "0"))
            response.headers["X-Total-Count"] = str(total + 7)
        elif _is(n, "create"):
            if status >= 400 and "non_problem_error" in flaws:
                detail = json.loads(response.content or b"{}").get("detail", "error")
                flow.response = http.Response.make(
                    status, json.dumps({"message": detail}), {"content-type": "application/json"}
                )
            elif status == 201 and "bad_location" in flaws:
                location = response.headers.get("Location", flow.request.path.partition("?")[0])
                response.headers["Location"] = location.rsplit("/", 1)[0] + "/no-such-item"


# The demo's operation for each role, for a chain that names no roles.
_DEMO_OPERATIONS = {
    "read": "getProduct",
    "current_user": "getProfile",
    "delete": "deleteProduct",
    "list": "listProducts",
    "create": "createProduct",
}


def _is(n: RequestNote, role: str) -> bool:
    return n.role == role or (n.role is None and n.operation == _DEMO_OPERATIONS[role])


def _number_as_text(body: dict[str, Any]) -> dict[str, Any]:
    """The first number as a string, in the body or its envelope (`{"book": {...}}`)."""
    for key, value in body.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            return body | {key: str(value)}
    if len(body) == 1:
        ((key, inner),) = body.items()
        if isinstance(inner, dict):
            return {key: _number_as_text(inner)}
    return body


def _without_a_field(body: dict[str, Any]) -> dict[str, Any]:
    drop = "created_at" if "created_at" in body else next(reversed(body), None)
    return {k: v for k, v in body.items() if k != drop}


def _edit_json(response: http.Response, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    body = json.loads(response.content or b"{}")
    response.set_content(json.dumps(change(body)).encode())


def forged_tokens_accepted(flaws: frozenset[str]) -> bool:
    return "unsigned_tokens" in flaws


def anonymous_user(flaws: frozenset[str]) -> str | None:
    return ANONYMOUS_USER if "anonymous_access" in flaws else None
