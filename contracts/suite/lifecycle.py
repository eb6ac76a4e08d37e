"""The product's life and a session's life, walked in order as a client would.

schemathesis's stateful phase follows the document's links at random; this
chain walks the one path every client depends on, every run:
register -> create -> read -> update -> read -> list and find it -> delete ->
read (404) -> refresh -> refresh -> replay the first refresh token (401) ->
logout -> the access token no longer works (401).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from contracts import models
from contracts.suite.checks import _links
from contracts.suite.session import API, SessionKeeper

MAX_PAGES = 50  # a list walk stops here even if the server's Link never ends


@dataclass(frozen=True)
class Step:
    operation: str
    what: str
    passed: bool
    detail: str = ""


class _Broken(Exception):
    pass


def _expect(response: requests.Response, status: int, what: str) -> Any:
    if response.status_code != status:
        raise _Broken(
            f"{what}: expected {status}, got {response.status_code}: {response.text[:300]}"
        )
    return response.json() if response.content else None


def run_lifecycle(keeper: SessionKeeper) -> list[Step]:
    """Walk the chain; stops at the first broken step (later steps depend on it)."""
    steps: list[Step] = []
    tokens: dict[str, str] = {}

    def step(operation: str, what: str, action: Callable[[], None]) -> bool:
        try:
            action()
        except (_Broken, requests.RequestException, ValueError, KeyError, TypeError) as e:
            steps.append(Step(operation, what, False, str(e)))
            return False
        steps.append(Step(operation, what, True))
        return True

    def send(method: str, path: str, **kwargs: Any) -> requests.Response:
        return keeper.send(method, API + path, bearer=tokens.get("access"), **kwargs)

    product: dict[str, Any] = {}
    body = {"name": "Contract kettle", "price": 19.99, "category_id": "home"}

    def register() -> None:
        email = f"lifecycle-{uuid.uuid4().hex[:12]}@example.com"
        answer = send(
            "POST",
            "/auth/register",
            json={"email": email, "password": uuid.uuid4().hex, "name": "Life"},
        )
        pair = models.TokenResponse.model_validate(_expect(answer, 201, "register"))
        tokens.update(
            access=pair.access_token, refresh=pair.refresh_token, first=pair.refresh_token
        )

    def create() -> None:
        answer = send("POST", "/products", json=body)
        product.update(
            models.Product.model_validate(_expect(answer, 201, "create")).model_dump(mode="json")
        )
        product["location"] = answer.headers.get("Location", "")

    def read() -> None:
        answer = send("GET", f"/products/{product['id']}")
        found = models.Product.model_validate(_expect(answer, 200, "read"))
        if found.name != product["name"]:
            raise _Broken(f"read {found.name!r}, created {product['name']!r}")

    def update() -> None:
        product["name"] = "Contract kettle, renamed"
        answer = send("PUT", f"/products/{product['id']}", json=body | {"name": product["name"]})
        changed = models.Product.model_validate(_expect(answer, 200, "update"))
        if changed.name != product["name"]:
            raise _Broken(f"the update answered name {changed.name!r}")

    def find() -> None:
        answer = send("GET", "/products", params={"page_size": 100})
        _expect(answer, 200, "list")
        last = _links(answer.headers.get("Link", "")).get("last", {}).get("page", "1")
        for page in range(int(last), max(0, int(last) - MAX_PAGES), -1):  # newest last
            items = _expect(
                send("GET", "/products", params={"page": page, "page_size": 100}), 200, "list"
            )
            if any(item["id"] == product["id"] for item in items):
                return
        raise _Broken(f"product {product['id']} is on no page of the list")

    def delete() -> None:
        _expect(send("DELETE", f"/products/{product['id']}"), 204, "delete")

    def gone() -> None:
        _expect(send("GET", f"/products/{product['id']}"), 404, "read after delete")

    def refresh() -> None:
        for _ in range(2):
            answer = send("POST", "/auth/refresh", json={"refresh_token": tokens["refresh"]})
            pair = models.TokenResponse.model_validate(_expect(answer, 200, "refresh"))
            tokens.update(access=pair.access_token, refresh=pair.refresh_token)

    def replayed() -> None:
        answer = send("POST", "/auth/refresh", json={"refresh_token": tokens["first"]})
        _expect(answer, 401, "refresh with a rotated-out refresh token")

    def logout() -> None:
        register()  # reuse detection may have ended the session: log out a fresh one
        _expect(send("POST", "/auth/logout"), 204, "logout")
        _expect(send("GET", "/users/profile"), 401, "profile after logout")

    chain = [
        ("register", "register a user", register),
        ("createProduct", "create a product", create),
        ("getProduct", "read it", read),
        ("updateProduct", "update it", update),
        ("getProduct", "read the update", read),
        ("listProducts", "list and find it", find),
        ("deleteProduct", "delete it", delete),
        ("getProduct", "read it again: 404", gone),
        ("refresh", "refresh twice", refresh),
        ("refresh", "replay a rotated refresh token: 401", replayed),
        ("logout", "log out: the token stops working", logout),
    ]
    for operation, what, action in chain:
        if not step(operation, what, action):
            break
    return steps
