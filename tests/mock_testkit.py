"""Helpers shared by the mock's tests: a small API client, problem checks, payloads.

Tests talk to the real mock over loopback; nothing here fakes the server.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import httpx

from contracts import models
from mocks import signing
from mocks.problems import PROBLEM_TYPE_BASE
from mocks.store import DEMO_EMAIL, DEMO_PASSWORD

PROBLEM_MEDIA_TYPE = "application/problem+json"
PRODUCTS = "/v1/products"
PROFILE = "/v1/users/profile"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Tokens:
    """A token pair as the API returned it."""

    access_token: str
    refresh_token: str
    expires_in: int

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def tokens_from(response: httpx.Response, status: int = 200) -> Tokens:
    """The token body of a successful login, register or refresh, checked against the contract."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = models.TokenResponse.model_validate_json(response.content)
    assert set(response.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body.token_type == "Bearer"
    return Tokens(body.access_token, body.refresh_token, body.expires_in)


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> models.Problem:
    """An RFC 9457 problem with this status (and code), valid against the contract model."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem = models.Problem.model_validate_json(response.content)
    assert problem.status == response.status_code
    assert problem.title == HTTPStatus(status).phrase
    assert problem.type == PROBLEM_TYPE_BASE + problem.code
    assert problem.detail
    if code is not None:
        assert problem.code == code, problem.detail
    return problem


def product_input(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Test kettle", "price": 19.99, "category_id": "home"}
    body.update(overrides)
    return body


def parse_links(response: httpx.Response) -> dict[str, dict[str, str]]:
    """The Link header of a product listing as {rel: query parameters}."""
    links: dict[str, dict[str, str]] = {}
    for part in response.headers["Link"].split(", "):
        found = re.fullmatch(r'<([^?>]*)\??([^>]*)>; rel="(\w+)"', part)
        assert found, part
        path, query, name = found.groups()
        assert path == PRODUCTS
        links[name] = dict(parse_qsl(query))
    return links


def signature_headers(
    secret: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    timestamp: str | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """X-App-* headers signing this request (timestamp in milliseconds unless given)."""
    timestamp = timestamp if timestamp is not None else str(int(time.time() * 1000))
    nonce = nonce if nonce is not None else uuid.uuid4().hex
    return {
        signing.TIMESTAMP_HEADER: timestamp,
        signing.NONCE_HEADER: nonce,
        signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, nonce, method, path, body),
    }


class ApiClient:
    """httpx against the mock, with the few calls most tests need."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10.0)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, auth: Tokens | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if auth is not None:
            headers.update(auth.headers)
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, auth: Tokens | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, auth, **kwargs)

    def post(self, path: str, auth: Tokens | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, auth, **kwargs)

    def put(self, path: str, auth: Tokens | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, auth, **kwargs)

    def delete(self, path: str, auth: Tokens | None = None, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, auth, **kwargs)

    # --- auth -------------------------------------------------------------------

    def login(self, email: str = DEMO_EMAIL, password: str = DEMO_PASSWORD) -> Tokens:
        return tokens_from(self.post("/v1/auth/login", json={"email": email, "password": password}))

    def register(
        self, email: str, password: str = "correct-horse-battery", name: str = "Test User"
    ) -> Tokens:
        body = {"email": email, "password": password, "name": name}
        return tokens_from(self.post("/v1/auth/register", json=body), 201)

    def refresh(self, refresh_token: str) -> httpx.Response:
        return self.post("/v1/auth/refresh", json={"refresh_token": refresh_token})

    def profile_status(self, auth: Tokens) -> int:
        return self.get(PROFILE, auth).status_code

    # --- products ---------------------------------------------------------------

    def create_product(self, auth: Tokens, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.post(PRODUCTS, auth, json=body or product_input())
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def total(self, auth: Tokens, category: str | None = None) -> int:
        params = {"category": category} if category else {}
        response = self.get(PRODUCTS, auth, params=params | {"page_size": 1})
        assert response.status_code == 200, response.text
        return int(response.headers["X-Total-Count"])

    def all_product_ids(self, auth: Tokens, category: str | None = None) -> list[str]:
        ids: list[str] = []
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "page_size": 100}
            if category:
                params["category"] = category
            response = self.get(PRODUCTS, auth, params=params)
            assert response.status_code == 200, response.text
            batch = response.json()
            if not batch:
                return ids
            ids.extend(item["id"] for item in batch)
            page += 1
