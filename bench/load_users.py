"""Locust users for bench/load_throughput.py: the same request, two clients.

Run by locust only (it monkey-patches with gevent). Each user sends
`GET /v1/products/{id}` with a bearer token, back to back (no wait):
- `ReferenceClientGetProduct`: the reference client (`ApiClient.get_product`),
  reported to locust's statistics by hand, as loadtests/users.py does;
- `FastHttpGetProduct`: locust's own FastHttpUser (geventhttpclient).

BENCH_TOKEN and BENCH_PRODUCT come from the benchmark (one login for all);
at test_stop the process writes its CPU time and counts to BENCH_RESULT.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from locust import User, constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment

from harness.client import ApiClient, ApiError, InMemoryTokenStore, TokenPair

TOKEN = os.environ.get("BENCH_TOKEN", "")
PRODUCT = os.environ.get("BENCH_PRODUCT", "")
_window: dict[str, float] = {}


def _start(environment: Environment, **_: Any) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _window["cpu"], _window["wall"] = time.process_time(), time.perf_counter()


def _stop(environment: Environment, **_: Any) -> None:
    total = environment.stats.total
    result = {
        "requests": total.num_requests,
        "failures": total.num_failures,
        "cpu_s": time.process_time() - _window.get("cpu", 0.0),
        "wall_s": time.perf_counter() - _window.get("wall", 0.0),
        "p50_ms": total.get_response_time_percentile(0.5),
        "p99_ms": total.get_response_time_percentile(0.99),
    }
    target = os.environ.get("BENCH_RESULT")
    if target:
        Path(target).write_text(json.dumps(result))


events.test_start.add_listener(_start)
events.test_stop.add_listener(_stop)


class ReferenceClientGetProduct(User):
    wait_time = constant(0)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        tokens = InMemoryTokenStore(TokenPair(TOKEN, "unused"))
        self.api = ApiClient((self.host or "").rstrip("/"), tokens=tokens)

    def on_stop(self) -> None:
        self.api.close()

    @task
    def get_product(self) -> None:
        t0 = time.perf_counter()
        error: ApiError | None = None
        try:
            self.api.get_product(PRODUCT)
        except ApiError as e:
            error = e
        self.environment.events.request.fire(
            request_type="GET",
            name="getProduct",
            response_time=(time.perf_counter() - t0) * 1000,
            response_length=0,
            response=None,
            context={},
            exception=error,
            url=None,
        )


class FastHttpGetProduct(FastHttpUser):
    wait_time = constant(0)

    @task
    def get_product(self) -> None:
        self.client.get(
            f"/v1/products/{PRODUCT}",
            headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
            name="getProduct",
        )
