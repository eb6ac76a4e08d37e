"""The demo's data on the engine, over HTTP: seeding per seed and count, paging,
categories, product changes, owners, and reset back to the seeded start.

One mock with a small catalogue (seed 7, 40 products), reset before each test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mock_testkit import PRODUCTS, ApiClient, Tokens, assert_problem, product_input

from contracts.demo import DEMO_ID, SHOP_EMAIL, SHOP_PASSWORD
from contracts.models import CategoryId
from mocks.server import MockServer
from mocks.spec_chain import demo_spec
from mocks.state import MockState

COUNT = 40


@pytest.fixture(scope="module")
def small() -> Iterator[MockServer]:
    with MockServer(MockState(seed=7, product_count=COUNT)) as mock:
        yield mock


@pytest.fixture
def api(small: MockServer) -> Iterator[ApiClient]:
    with ApiClient(small.base_url) as client:
        assert client.post("/__harness/reset").status_code == 200
        yield client


def _listing(api: ApiClient, auth: Tokens, **params: Any) -> tuple[list[dict[str, Any]], int]:
    response = api.get(PRODUCTS, auth, params={"page_size": 100} | params)
    assert response.status_code == 200, response.text
    return response.json(), int(response.headers["X-Total-Count"])


def _owner(small: MockServer, product_id: str) -> str | None:
    """Who the journal says created a product (the mock keeps owners to itself)."""
    entries = httpx.get(small.control_url + "/journal").json()["entries"]
    created = [e for e in entries if (e.get("effect") or {}).get("id") == product_id]
    return created[-1].get("user_id") if created else None


# --- seeding ------------------------------------------------------------------------


def test_seeding_is_deterministic_per_seed_and_count() -> None:
    compile_demo = demo_spec.__wrapped__  # not the per-process cache: compiled anew
    seeded = compile_demo(seed=7, products=COUNT).resources[0].seeded
    assert compile_demo(seed=7, products=COUNT).resources[0].seeded == seeded
    assert compile_demo(seed=8, products=COUNT).resources[0].seeded != seeded
    assert len(seeded) == COUNT
    assert len({p["id"] for p in seeded}) == COUNT


def test_the_mock_serves_the_seeded_catalogue(api: ApiClient) -> None:
    demo = api.login()
    products, total = _listing(api, demo)
    assert total == COUNT
    assert products == demo_spec(seed=7, products=COUNT).resources[0].seeded


def test_pages_partition_the_listing(api: ApiClient) -> None:
    demo = api.login()
    every, _ = _listing(api, demo)
    pages = [_listing(api, demo, page=n, page_size=7)[0] for n in range(1, 8)]
    assert [p for page in pages for p in page] == every
    assert pages[-1] == []
    assert len(pages[-2]) == COUNT - 5 * 7


def test_category_pages_hold_only_that_category(api: ApiClient) -> None:
    demo = api.login()
    totals = 0
    for category in CategoryId:
        products, total = _listing(api, demo, category=category.value)
        assert len(products) == total
        assert all(p["category"]["id"] == category.value for p in products)
        totals += total
    assert totals == COUNT


# --- changes ------------------------------------------------------------------------


def test_create_appends_to_both_listings(api: ApiClient) -> None:
    demo = api.login()
    product = api.create_product(demo, product_input(category_id="books"))
    page, total = _listing(api, demo, page=COUNT + 1, page_size=1)
    assert (page, total) == ([product], COUNT + 1)
    books, books_total = _listing(api, demo, category="books")
    assert books[-1] == product
    assert books_total == len(books)


def test_replace_keeps_id_and_moves_category(api: ApiClient) -> None:
    demo = api.login()
    product = api.create_product(demo)
    homes = _listing(api, demo, category="home")[1]
    body = product_input(name="New", category_id="toys")
    replaced = api.put(f"{PRODUCTS}/{product['id']}", demo, json=body).json()
    assert (replaced["id"], replaced["name"]) == (product["id"], "New")
    assert replaced["created_at"] == product["created_at"]
    assert _listing(api, demo, category="home")[1] == homes - 1
    assert replaced in _listing(api, demo, category="toys")[0]
    assert _listing(api, demo)[1] == COUNT + 1


def test_products_belong_to_their_creator_and_the_catalogue_to_the_shop(
    api: ApiClient, small: MockServer
) -> None:
    demo, shop = api.login(), api.login(SHOP_EMAIL, SHOP_PASSWORD)
    seeded = _listing(api, demo)[0][0]
    body = product_input()
    assert_problem(api.put(f"{PRODUCTS}/{seeded['id']}", demo, json=body), 403)
    assert api.put(f"{PRODUCTS}/{seeded['id']}", shop, json=body).status_code == 200
    mine = api.create_product(demo)
    assert _owner(small, mine["id"]) == DEMO_ID
    assert_problem(api.delete(f"{PRODUCTS}/{mine['id']}", shop), 403)
    assert api.delete(f"{PRODUCTS}/{mine['id']}", demo).status_code == 204


def test_delete_removes_from_both_listings(api: ApiClient) -> None:
    shop = api.login(SHOP_EMAIL, SHOP_PASSWORD)
    product = _listing(api, shop, page_size=1)[0][0]
    category = product["category"]["id"]
    category_total = _listing(api, shop, category=category)[1]
    assert api.delete(f"{PRODUCTS}/{product['id']}", shop).status_code == 204
    assert _listing(api, shop)[1] == COUNT - 1
    in_category, total = _listing(api, shop, category=category)
    assert product not in in_category
    assert total == category_total - 1


def test_reset_restores_the_seeded_data(api: ApiClient) -> None:
    demo, shop = api.login(), api.login(SHOP_EMAIL, SHOP_PASSWORD)
    before = _listing(api, demo)
    api.create_product(demo)
    assert api.delete(f"{PRODUCTS}/{before[0][0]['id']}", shop).status_code == 204
    api.register("x@example.com", "password1")
    assert api.put("/v1/users/update", demo, json={"name": "Renamed"}).status_code == 200
    assert api.post("/__harness/reset").status_code == 200
    demo = api.login()
    assert _listing(api, demo) == before
    assert api.get("/v1/users/profile", demo).json()["name"] != "Renamed"
    failed = api.post("/v1/auth/login", json={"email": "x@example.com", "password": "password1"})
    assert_problem(failed, 401, "invalid_credentials")


def test_new_ids_repeat_after_reset(api: ApiClient) -> None:
    first = api.create_product(api.login())["id"]
    assert api.post("/__harness/reset").status_code == 200
    assert api.create_product(api.login())["id"] == first


# --- prices -------------------------------------------------------------------------


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cents=st.integers(min_value=1, max_value=100_000_000_000))
def test_cent_prices_survive_input_and_output_exactly(api: ApiClient, cents: int) -> None:
    amount = Decimal(cents) / 100
    text = str(amount.normalize()) if amount == amount.to_integral_value() else str(amount)
    text = text if "E" not in text else str(int(amount))
    body = json.dumps(product_input()).replace('"price": 19.99', f'"price": {text}')
    response = api.post(
        PRODUCTS, api.login(), content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert json.loads(response.content, parse_float=Decimal)["price"] == amount
