"""What a created or replaced item holds, on a small document written here (not the
demo's): a reference sent as `customer_id` becomes the `customer` object the items
hold, and objects in a list take the fields the sender cannot know (a fresh `id`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from mocks.server import MockServer

CUSTOMER = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {
        "id": {"type": "string", "enum": ["acme", "globex"]},
        "name": {"type": "string"},
    },
}
LINE = {
    "type": "object",
    "required": ["id", "sku", "quantity"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"},
        "sku": {"type": "string"},
        "quantity": {"type": "integer", "minimum": 1},
    },
}
ORDER = {
    "type": "object",
    "required": ["id", "customer", "lines"],
    "properties": {
        "id": {"type": "integer"},
        "customer": CUSTOMER,
        "lines": {"type": "array", "items": LINE},
    },
}
ORDER_INPUT = {
    "type": "object",
    "required": ["customer_id", "lines"],
    "additionalProperties": False,
    "properties": {
        "customer_id": {"type": "string", "enum": ["acme", "globex"]},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku", "quantity"],
                "additionalProperties": False,
                "properties": LINE["properties"] | {},
            },
        },
    },
}


def _ok(schema: dict[str, object], status: str = "200") -> dict[str, object]:
    return {status: {"description": "ok", "content": {"application/json": {"schema": schema}}}}


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Orders", "version": "1"},
    "paths": {
        "/orders": {
            "get": {
                "operationId": "listOrders",
                "responses": _ok({"type": "array", "items": ORDER}),
            },
            "post": {
                "operationId": "createOrder",
                "requestBody": {"content": {"application/json": {"schema": ORDER_INPUT}}},
                "responses": _ok(ORDER, "201"),
            },
        },
        "/orders/{id}": {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "get": {
                "operationId": "getOrder",
                "responses": _ok(ORDER) | {"404": {"description": "no such order"}},
            },
            "put": {
                "operationId": "replaceOrder",
                "requestBody": {"content": {"application/json": {"schema": ORDER_INPUT}}},
                "responses": _ok(ORDER) | {"404": {"description": "no such order"}},
            },
        },
    },
}


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    path: Path = tmp_path_factory.mktemp("orders") / "openapi.yaml"
    path.write_text(yaml.safe_dump(DOCUMENT))
    with MockServer(spec=str(path)) as mock, httpx.Client(base_url=mock.base_url) as client:
        yield client


def test_a_reference_becomes_the_object_the_other_items_hold(orders: httpx.Client) -> None:
    seeded = orders.get("/orders").json()
    held = next(o["customer"] for o in seeded if o["customer"]["id"] == "acme")
    body = {"customer_id": "acme", "lines": [{"sku": "A-1", "quantity": 2}]}
    created = orders.post("/orders", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["customer"] == held
    replaced = orders.put(
        f"/orders/{created.json()['id']}", json=body | {"customer_id": "globex"}
    ).json()
    assert replaced["customer"]["id"] == "globex"
    assert orders.get(f"/orders/{created.json()['id']}").json() == replaced


def test_objects_in_a_list_get_fresh_ids_and_keep_what_was_sent(orders: httpx.Client) -> None:
    lines = [{"sku": "A-1", "quantity": 2}, {"sku": "B-2", "quantity": 1}]
    created = orders.post("/orders", json={"customer_id": "globex", "lines": lines}).json()
    assert [(line["sku"], line["quantity"]) for line in created["lines"]] == [
        ("A-1", 2),
        ("B-2", 1),
    ]
    assert len({line["id"] for line in created["lines"]}) == 2
    assert all(set(line) == {"id", "sku", "quantity"} for line in created["lines"])
