"""The products endpoints over HTTP: paging, filtering, create, read, replace, delete."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mock_testkit import PRODUCTS, ApiClient, Tokens, assert_problem, parse_links, product_input
from pydantic import TypeAdapter

from contracts import models
from contracts.demo import SHOP_EMAIL, SHOP_PASSWORD
from harness.control import ControlClient

PRODUCT_LIST = TypeAdapter(list[models.Product])
MAX_PAGE_SIZE = 100  # openapi.yaml: listProducts' page_size maximum
# Read-only requests on one mock: the api fixture's reset is not needed between examples.
OVER_HTTP = settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def shop(api: ApiClient) -> Tokens:
    """The seeded catalogue's owner: the one account that may change seeded products."""
    return api.login(SHOP_EMAIL, SHOP_PASSWORD)


def _page(api: ApiClient, auth: Tokens, **params: Any) -> tuple[list[models.Product], Any]:
    response = api.get(PRODUCTS, auth, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return PRODUCT_LIST.validate_json(response.content), response


# --- listing ------------------------------------------------------------------


def test_first_page_has_defaults_and_links(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    health = harness_control.health()
    seeded = health["api"]["resources"]["products"]
    products, response = _page(api, demo)
    assert len(products) == 20
    assert int(response.headers["X-Total-Count"]) == seeded
    links = parse_links(response)
    last = math.ceil(seeded / 20)
    assert set(links) == {"first", "next", "last"}
    assert links["first"] == {"page": "1", "page_size": "20"}
    assert links["next"] == {"page": "2", "page_size": "20"}
    assert links["last"] == {"page": str(last), "page_size": "20"}


def test_total_count_is_the_number_of_products_really_listed(api: ApiClient, demo: Tokens) -> None:
    ids = api.all_product_ids(demo)
    assert len(ids) == len(set(ids))
    assert len(ids) == api.total(demo)


def test_a_middle_page_is_the_matching_slice_with_prev_and_next(
    api: ApiClient, demo: Tokens
) -> None:
    every = api.all_product_ids(demo)
    products, response = _page(api, demo, page=3, page_size=7)
    assert [p.id for p in products] == every[14:21]
    links = parse_links(response)
    assert links["prev"] == {"page": "2", "page_size": "7"}
    assert links["next"] == {"page": "4", "page_size": "7"}
    assert links["last"]["page"] == str(math.ceil(len(every) / 7))


def test_the_last_page_is_partial_and_has_no_next(api: ApiClient, demo: Tokens) -> None:
    total = api.total(demo)
    page_size = next(size for size in range(7, 100) if total % size)
    last = math.ceil(total / page_size)
    products, response = _page(api, demo, page=last, page_size=page_size)
    assert len(products) == total % page_size < page_size
    links = parse_links(response)
    assert "next" not in links
    assert links["prev"]["page"] == str(last - 1)
    assert links["last"]["page"] == str(last)


def test_a_page_beyond_the_last_is_empty(api: ApiClient, demo: Tokens) -> None:
    total = api.total(demo)
    last = math.ceil(total / 50)
    products, response = _page(api, demo, page=last + 1, page_size=50)
    assert products == []
    assert int(response.headers["X-Total-Count"]) == total
    links = parse_links(response)
    assert "next" not in links
    assert links["prev"]["page"] == links["last"]["page"] == str(last)


def test_category_filter_lists_only_that_category(api: ApiClient, demo: Tokens) -> None:
    products, response = _page(api, demo, category="books", page_size=100)
    total = int(response.headers["X-Total-Count"])
    assert 0 < total == len(products) <= 100
    assert {p.category.id for p in products} == {models.CategoryId.BOOKS}
    for query in parse_links(response).values():
        assert query["category"] == "books"


def test_category_totals_add_up_to_the_total(api: ApiClient, demo: Tokens) -> None:
    per_category = [api.total(demo, category) for category in models.CategoryId]
    assert sum(per_category) == api.total(demo)


@pytest.mark.parametrize(
    "query",
    [
        "page_size=0",
        "page_size=101",
        "page_size=abc",
        "page_size=-1",
        "page_size=",
        "page_size=1.5",
        "page=0",
        "page=abc",
        "page_size=10&page_size=20",
        "page=1&page=1",
        "category=nope",
        "category=",
        "category=Books",
    ],
)
def test_bad_query_parameters_get_a_400_problem(api: ApiClient, demo: Tokens, query: str) -> None:
    problem = assert_problem(api.get(f"{PRODUCTS}?{query}", demo), 400, "invalid_parameter")
    assert query.partition("=")[0] in problem.detail


def test_page_size_bounds_are_inclusive(api: ApiClient, demo: Tokens) -> None:
    assert len(_page(api, demo, page_size=1)[0]) == 1
    assert len(_page(api, demo, page_size=100)[0]) == 100


def test_a_huge_page_number_is_just_beyond_the_last_page(api: ApiClient, demo: Tokens) -> None:
    products, _ = _page(api, demo, page=10_000_000_000)
    assert products == []


# --- one product ----------------------------------------------------------------


def test_get_one_product_matches_its_listing(api: ApiClient, demo: Tokens) -> None:
    listed, _ = _page(api, demo, page=2, page_size=5)
    for item in listed:
        response = api.get(f"{PRODUCTS}/{item.id}", demo)
        assert response.status_code == 200
        assert models.Product.model_validate_json(response.content) == item


def test_an_unknown_product_is_a_404_problem(api: ApiClient, demo: Tokens) -> None:
    problem = assert_problem(api.get(f"{PRODUCTS}/prd_nope", demo), 404, "product_not_found")
    assert "prd_nope" in problem.detail


# --- create -----------------------------------------------------------------------


def test_create_returns_201_with_a_location_that_resolves(api: ApiClient, demo: Tokens) -> None:
    total = api.total(demo)
    body = product_input(
        name="Tea kettle",
        description="Whistles.",
        image_urls=["https://images.example.com/kettle.jpg"],
        variants=[{"name": "Red", "price": 21.5}, {"name": "Blue", "price": 22}],
    )
    response = api.post(PRODUCTS, demo, json=body)
    assert response.status_code == 201, response.text
    created = models.Product.model_validate_json(response.content)
    assert response.headers["Location"] == f"{PRODUCTS}/{created.id}"
    assert (created.name, created.description, created.image_urls) == (
        "Tea kettle",
        "Whistles.",
        ["https://images.example.com/kettle.jpg"],
    )
    assert created.category.id is models.CategoryId.HOME
    assert [(v.name, float(v.price)) for v in created.variants] == [("Red", 21.5), ("Blue", 22)]
    assert len({v.id for v in created.variants}) == 2
    fetched = api.get(response.headers["Location"], demo)
    assert fetched.status_code == 200
    assert models.Product.model_validate_json(fetched.content) == created
    assert api.total(demo) == total + 1
    assert api.all_product_ids(demo)[-1] == created.id  # newest last


def _assert_price_round_trips(api: ApiClient, demo: Tokens, price: float) -> None:
    body = product_input(price=price, variants=[{"name": "Only", "price": price}])
    response = api.post(PRODUCTS, demo, json=body)
    assert response.status_code == 201, response.text
    literal = json.dumps(price)
    for text in (response.text, api.get(response.headers["Location"], demo).text):
        assert json.loads(text)["price"] == price
        assert f'"price":{literal},' in text  # the product's price, as a JSON number
        assert f'"price":{literal}}}' in text  # the variant's price


@pytest.mark.parametrize("price", [19.99, 0.1, 0.3, 1234567.89, 999999999.99, 0.01])
def test_prices_round_trip_exactly_as_json_numbers(
    api: ApiClient, demo: Tokens, price: float
) -> None:
    _assert_price_round_trips(api, demo, price)


@pytest.mark.parametrize("price", [5, 0])
def test_integral_prices_stay_integers(api: ApiClient, demo: Tokens, price: int) -> None:
    _assert_price_round_trips(api, demo, price)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "19.99"}, "price"),
        ({"price": True}, "price"),
        ({"price": -1}, "price"),
        ({"price": None}, "price"),
        ({"name": ""}, "name"),
        ({"category_id": "nope"}, "category_id"),
        ({"image_urls": ["not a url"]}, "image_urls.0"),
        ({"variants": [{"name": "x", "price": "1"}]}, "variants.0.price"),
        ({"sku": "A-1"}, "sku"),
    ],
)
def test_invalid_product_input_is_a_422_naming_the_field(
    api: ApiClient, demo: Tokens, change: dict[str, Any], field: str
) -> None:
    total = api.total(demo)
    problem = assert_problem(
        api.post(PRODUCTS, demo, json=product_input(**change)), 422, "validation_failed"
    )
    assert field in [e["field"] for e in problem.model_extra["errors"]]  # type: ignore[index]
    assert api.total(demo) == total


def test_a_product_without_required_fields_is_a_422(api: ApiClient, demo: Tokens) -> None:
    problem = assert_problem(api.post(PRODUCTS, demo, json={}), 422, "validation_failed")
    fields = {e["field"] for e in problem.model_extra["errors"]}  # type: ignore[index]
    assert fields == {"name", "price", "category_id"}


# --- replace --------------------------------------------------------------------


def test_put_replaces_every_field_but_keeps_id_and_creation_time(
    api: ApiClient, demo: Tokens
) -> None:
    original = models.Product.model_validate(
        api.create_product(demo, product_input(description="old", variants=[]))
    )
    body = product_input(name="Renamed", price=7, description=None, category_id="home")
    response = api.put(f"{PRODUCTS}/{original.id}", demo, json=body)
    assert response.status_code == 200, response.text
    replaced = models.Product.model_validate_json(response.content)
    assert (replaced.id, replaced.created_at) == (original.id, original.created_at)
    assert (replaced.name, replaced.price, replaced.description) == ("Renamed", 7, None)
    fetched = api.get(f"{PRODUCTS}/{original.id}", demo)
    assert models.Product.model_validate_json(fetched.content) == replaced


def test_changing_the_category_moves_the_product_between_listings(
    api: ApiClient, demo: Tokens, shop: Tokens
) -> None:
    product_id = api.all_product_ids(demo, "home")[0]
    homes, books, total = api.total(demo, "home"), api.total(demo, "books"), api.total(demo)
    body = product_input(category_id="books")
    assert api.put(f"{PRODUCTS}/{product_id}", shop, json=body).status_code == 200
    assert product_id not in api.all_product_ids(demo, "home")
    assert product_id in api.all_product_ids(demo, "books")
    assert (api.total(demo, "home"), api.total(demo, "books")) == (homes - 1, books + 1)
    assert api.total(demo) == total


def test_put_on_an_unknown_product_is_a_404(api: ApiClient, demo: Tokens) -> None:
    response = api.put(f"{PRODUCTS}/prd_nope", demo, json=product_input())
    assert_problem(response, 404, "product_not_found")


def test_put_with_an_invalid_body_changes_nothing(
    api: ApiClient, demo: Tokens, shop: Tokens
) -> None:
    product_id = api.all_product_ids(demo)[0]
    before = api.get(f"{PRODUCTS}/{product_id}", demo).json()
    response = api.put(f"{PRODUCTS}/{product_id}", shop, json={"name": "Only a name"})
    assert_problem(response, 422, "validation_failed")
    assert api.get(f"{PRODUCTS}/{product_id}", demo).json() == before


# --- delete -----------------------------------------------------------------------


def test_delete_then_404_and_the_listing_shrinks(
    api: ApiClient, demo: Tokens, shop: Tokens
) -> None:
    product_id = api.all_product_ids(demo, "toys")[0]
    total, toys = api.total(demo), api.total(demo, "toys")
    response = api.delete(f"{PRODUCTS}/{product_id}", shop)
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(api.get(f"{PRODUCTS}/{product_id}", demo), 404, "product_not_found")
    assert_problem(api.delete(f"{PRODUCTS}/{product_id}", shop), 404, "product_not_found")
    assert (api.total(demo), api.total(demo, "toys")) == (total - 1, toys - 1)
    assert product_id not in api.all_product_ids(demo)


def test_a_deleted_product_that_was_created_is_gone_too(api: ApiClient, demo: Tokens) -> None:
    total = api.total(demo)
    created = api.create_product(demo)
    assert api.delete(f"{PRODUCTS}/{created['id']}", demo).status_code == 204
    assert api.total(demo) == total
    assert created["id"] not in api.all_product_ids(demo, "home")


# --- page and page_size as the document bounds them ---------------------------------


@OVER_HTTP
@given(st.integers(min_value=1, max_value=MAX_PAGE_SIZE))
def test_page_size_accepts_every_whole_number_in_range(
    api: ApiClient, demo: Tokens, size: int
) -> None:
    products, _ = _page(api, demo, page_size=str(size))
    assert len(products) == size  # 300 seeded: every page size fills its first page


@OVER_HTTP
@given(st.text(max_size=9))  # 10+ digits: see test_a_huge_page_number_is_just_beyond_the_last_page
def test_page_size_is_a_number_in_range_or_a_400(api: ApiClient, demo: Tokens, text: str) -> None:
    response = api.get(PRODUCTS, demo, params={"page_size": text})
    plain = text.isascii() and text.isdigit()
    if plain and 1 <= int(text) <= MAX_PAGE_SIZE:
        assert response.status_code == 200, response.text
        assert len(PRODUCT_LIST.validate_json(response.content)) == int(text)
    else:
        assert_problem(response, 400, "invalid_parameter")


def test_page_and_page_size_default_when_absent(api: ApiClient, demo: Tokens) -> None:
    _, response = _page(api, demo)
    assert parse_links(response)["first"] == {"page": "1", "page_size": "20"}
