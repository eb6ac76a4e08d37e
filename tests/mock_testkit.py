"""Helpers shared by the mock's tests: a small API client, problem checks, payloads,
what real clients see of a fault, and `harness` as a real process.

Tests talk to the real mock over loopback; nothing here fakes the server.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import requests

from contracts import models
from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from harness.control import ControlClient
from mocks import signing
from mocks.problems import PROBLEM_TYPE_BASE

PROBLEM_MEDIA_TYPE = "application/problem+json"
PRODUCTS = "/v1/products"
PROFILE = "/v1/users/profile"
# Built once: an httpx client loads the CA bundle on creation (some 20 ms) unless given a
# context, even for plain-HTTP loopback.
TLS_CONTEXT = ssl.create_default_context()


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


def bug(reason: str) -> pytest.MarkDecorator:
    """Marks a test that shows a bug: it must fail until the bug is fixed."""
    return pytest.mark.xfail(reason=f"BUG: {reason}", strict=True)


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
        self.http = httpx.Client(base_url=base_url, timeout=10.0, verify=TLS_CONTEXT)

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


# --- what real clients see of a fault ---------------------------------------------------

CLIENTS = ("httpx", "requests")


@dataclass(frozen=True)
class Seen:
    """What one real HTTP client got for one request: a response, or the exception it
    raised, and how long it took either way."""

    client: str
    seconds: float
    status: int | None = None
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    error: Exception | None = None
    raw: Any = None  # the client's own response object

    def response(self) -> httpx.Response:
        """The response as an httpx.Response, for checks like `assert_problem`."""
        assert self.status is not None, f"{self.client} raised {self.error!r}"
        return httpx.Response(self.status, headers=self.headers, content=self.body)


def fetch(client: str, method: str, url: str, *, timeout: float = 10.0, **kwargs: Any) -> Seen:
    """One request with a fresh connection of `client` ("httpx" or "requests")."""
    start = time.perf_counter()
    try:
        if client == "httpx":
            got = httpx.request(method, url, timeout=timeout, verify=TLS_CONTEXT, **kwargs)
            headers = got.headers
        else:
            got = requests.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
            headers = httpx.Headers(list(got.raw.headers.items()))  # duplicates kept apart
    except (httpx.HTTPError, requests.RequestException) as e:
        return Seen(client, time.perf_counter() - start, error=e)
    seconds = time.perf_counter() - start
    return Seen(client, seconds, got.status_code, headers, got.content, raw=got)


# What each client raises when the mock drops or starves the connection (by fault kind and
# client), and a piece of its message that says why.
DROPPED: dict[tuple[str, str], tuple[type[Exception], str]] = {
    ("reset", "httpx"): (httpx.ReadError, "Connection reset by peer"),
    ("reset", "requests"): (requests.exceptions.ConnectionError, "ConnectionResetError"),
    ("close", "httpx"): (httpx.RemoteProtocolError, "Server disconnected without sending"),
    ("close", "requests"): (requests.exceptions.ConnectionError, "RemoteDisconnected"),
    ("hang", "httpx"): (httpx.ReadTimeout, "timed out"),
    ("hang", "requests"): (requests.exceptions.ReadTimeout, "Read timed out"),
    ("short_body", "httpx"): (httpx.ReadTimeout, "timed out"),
    ("short_body", "requests"): (requests.exceptions.ConnectionError, "Read timed out"),
}


def assert_dropped(seen: Seen, kind: str) -> None:
    """The client raised exactly what it raises for `kind` (a key of DROPPED)."""
    expected, why = DROPPED[kind, seen.client]
    assert type(seen.error) is expected, f"{seen.client}: {seen.error!r} (status {seen.status})"
    assert why in repr(seen.error)


def journal_entry(control: ControlClient, timeout: float = 3.0, **match: Any) -> dict[str, Any]:
    """The one journal entry with these field values, waiting for it: a request the mock
    holds or drops is journaled only once the mock lets go of it."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in control.entries() if all(e[k] == v for k, v in match.items())]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(found) == 1, found
    return found[0]


# --- `harness` as a real process ----------------------------------------------------------

BANNER_END = "Ctrl-C stops the mock."


def harness_command() -> list[str]:
    script = Path(sys.executable).with_name("harness")
    if script.exists():
        return [str(script)]
    found = shutil.which("harness")
    return [found] if found else [sys.executable, "-m", "harness.cli"]


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """stdout up to the line containing `marker` (the reader keeps draining after)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {marker!r} within {timeout} s: {''.join(seen)}") from None
        if line is None:
            raise AssertionError(f"the mock exited early; it printed: {''.join(seen)}")
        seen.append(line)
        if marker in line:
            return "".join(seen)


@dataclass(frozen=True)
class MockProcess:
    base_url: str
    banner: str


@contextmanager
def harness_mock_process(
    *args: str, stderr_path: Path, env: dict[str, str] | None = None
) -> Iterator[MockProcess]:
    """`harness mock --port 0 ARGS` as a real process until the block ends, then Ctrl-C,
    which must stop it cleanly. `env` is added to this process's environment."""
    command = [*harness_command(), "mock", "--port", "0", *args]
    environment = {**os.environ, **(env or {})}
    with (
        stderr_path.open("w") as stderr,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=environment
        ) as process,
    ):
        try:
            banner = read_until(process, BANNER_END, timeout=30)
            found = re.search(r"Control API\s+(http://127\.0\.0\.1:\d+)/__harness/", banner)
            assert found, banner
            yield MockProcess(found.group(1), banner)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
