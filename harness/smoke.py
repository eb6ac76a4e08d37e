"""A short end-to-end smoke of a running mock: every endpoint and the auth lifecycle.

Each step is a named check over real HTTP; a failed step says what it saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from harness.control import ControlClient


@dataclass(frozen=True)
class StepResult:
    name: str
    passed: bool
    detail: str
    seconds: float


class SmokeFailure(AssertionError):
    pass


def _expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise SmokeFailure(
            f"{response.request.method} {response.request.url.path}: expected {status}, "
            f"got {response.status_code} {response.text[:200]}"
        )
    return response.json() if response.content else None


class Smoke:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10.0)
        self.control = ControlClient(base_url)
        self.tokens: dict[str, Any] = {}
        self.product_id = ""

    def close(self) -> None:
        self.http.close()
        self.control.close()

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    def _login(self) -> dict[str, Any]:
        body = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
        tokens: dict[str, Any] = _expect(self.http.post("/v1/auth/login", json=body), 200)
        return tokens

    def health(self) -> str:
        return f"mock {self.control.health()['version']} is up"

    def login(self) -> str:
        self.tokens = self._login()
        return f"token expires in {self.tokens['expires_in']} s"

    def register(self) -> str:
        body = {"email": "smoke@example.com", "password": "smoke-password", "name": "Smoke"}
        _expect(self.http.post("/v1/auth/register", json=body), 201)
        _expect(self.http.post("/v1/auth/register", json=body), 409)
        return "201, then 409 for the same email"

    def profile(self) -> str:
        _expect(self.http.get("/v1/users/profile", headers=self._auth()), 200)
        user = _expect(
            self.http.put("/v1/users/update", json={"name": "Renamed"}, headers=self._auth()), 200
        )
        if user["name"] != "Renamed":
            raise SmokeFailure(f"update did not rename: {user}")
        return "read and renamed"

    def list_products(self) -> str:
        response = self.http.get("/v1/products", params={"page_size": 5}, headers=self._auth())
        items = _expect(response, 200)
        total = int(response.headers["X-Total-Count"])
        if len(items) != 5 or 'rel="next"' not in response.headers["Link"]:
            raise SmokeFailure(f"page of {len(items)}, Link {response.headers['Link']}")
        return f"{total} products, paged"

    def create_product(self) -> str:
        body = {"name": "Smoke kettle", "price": 19.99, "category_id": "home"}
        headers = self._auth() | {"Idempotency-Key": "smoke-1"}
        first = self.http.post("/v1/products", json=body, headers=headers)
        created = _expect(first, 201)
        again = _expect(self.http.post("/v1/products", json=body, headers=headers), 201)
        if again["id"] != created["id"]:
            raise SmokeFailure("an idempotent replay created a second product")
        self.product_id = created["id"]
        _expect(self.http.get(first.headers["Location"], headers=self._auth()), 200)
        return f"created {self.product_id}; replay returned the same product"

    def update_and_delete(self) -> str:
        path = f"/v1/products/{self.product_id}"
        body = {"name": "Smoke kettle 2", "price": 21, "category_id": "home"}
        _expect(self.http.put(path, json=body, headers=self._auth()), 200)
        _expect(self.http.delete(path, headers=self._auth()), 204)
        _expect(self.http.get(path, headers=self._auth()), 404)
        return "updated, deleted, then 404"

    def expiry_and_refresh(self) -> str:
        self.control.advance_clock(self.tokens["expires_in"] + 1)
        _expect(self.http.get("/v1/users/profile", headers=self._auth()), 401)
        old_refresh = self.tokens["refresh_token"]
        self.tokens = _expect(
            self.http.post("/v1/auth/refresh", json={"refresh_token": old_refresh}), 200
        )
        if self.tokens["refresh_token"] == old_refresh:
            raise SmokeFailure("the refresh token did not rotate")
        _expect(self.http.get("/v1/users/profile", headers=self._auth()), 200)
        return "expired by clock, refreshed, rotated"

    def reuse_detection(self) -> str:
        session = self._login()
        first = _expect(
            self.http.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}),
            200,
        )
        _expect(
            self.http.post("/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}),
            401,
        )
        _expect(
            self.http.get(
                "/v1/users/profile", headers={"Authorization": f"Bearer {first['access_token']}"}
            ),
            401,
        )
        return "reusing a rotated token revoked the session"

    def logout(self) -> str:
        _expect(self.http.post("/v1/auth/logout", headers=self._auth()), 204)
        _expect(self.http.get("/v1/users/profile", headers=self._auth()), 401)
        return "session revoked"

    def journal(self) -> str:
        entries = self.control.entries()
        if not entries or any(e["seq"] <= 0 for e in entries):
            raise SmokeFailure("the journal is empty")
        return f"{len(entries)} requests journaled"

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("control API health", self.health),
            ("login", self.login),
            ("register", self.register),
            ("profile", self.profile),
            ("list products", self.list_products),
            ("create product", self.create_product),
            ("update and delete", self.update_and_delete),
            ("expiry and refresh", self.expiry_and_refresh),
            ("refresh reuse detection", self.reuse_detection),
            ("logout", self.logout),
            ("journal", self.journal),
        ]


def run_smoke(base_url: str, *, reset: bool = True) -> list[StepResult]:
    """Run every step in order; a step that fails does not stop the rest."""
    smoke = Smoke(base_url)
    results: list[StepResult] = []
    try:
        if reset:
            smoke.control.reset()
        for name, step in smoke.steps():
            started = time.perf_counter()
            try:
                detail, passed = step(), True
            except (SmokeFailure, httpx.HTTPError, KeyError) as e:
                detail, passed = f"{type(e).__name__}: {e}", False
            results.append(StepResult(name, passed, detail, time.perf_counter() - started))
    finally:
        smoke.close()
    return results
