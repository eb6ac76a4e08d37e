"""Object-level authorization: a product belongs to the user who created it.

Reading stays public to every signed-in user (a catalogue); replacing or deleting
someone else's product is a 403 `not_product_owner` that changes nothing. The seeded
catalogue belongs to the seeded shop account, so the demo user can read it all and
change only what it creates."""

from __future__ import annotations

import uuid

import pytest
from mock_testkit import PRODUCTS, ApiClient, Tokens, assert_problem, product_input

from contracts.demo import SHOP_EMAIL, SHOP_PASSWORD
from harness.control import ControlClient


@pytest.fixture
def other(api: ApiClient) -> Tokens:
    """A second account, registered for this test."""
    return api.register(f"other-{uuid.uuid4().hex[:8]}@example.com")


def test_another_user_can_read_my_product(api: ApiClient, demo: Tokens, other: Tokens) -> None:
    created = api.create_product(demo)
    response = api.get(f"{PRODUCTS}/{created['id']}", other)
    assert response.status_code == 200
    assert response.json() == created


def test_another_user_cannot_replace_my_product(
    api: ApiClient, demo: Tokens, other: Tokens, harness_control: ControlClient
) -> None:
    created = api.create_product(demo)
    path = f"{PRODUCTS}/{created['id']}"
    response = api.put(path, other, json=product_input(name="Hijacked"))
    problem = assert_problem(response, 403, "not_product_owner")
    assert created["id"] in problem.detail
    assert api.get(path, demo).json() == created
    entry = harness_control.entries()[-2]  # the PUT; the GET after it is last
    assert (entry["operation"], entry["status"], entry["effect"]) == ("updateProduct", 403, None)


def test_another_user_cannot_delete_my_product(api: ApiClient, demo: Tokens, other: Tokens) -> None:
    created = api.create_product(demo)
    path = f"{PRODUCTS}/{created['id']}"
    assert_problem(api.delete(path, other), 403, "not_product_owner")
    assert api.get(path, demo).status_code == 200


def test_the_owner_can_replace_and_delete(api: ApiClient, other: Tokens) -> None:
    created = api.create_product(other)
    path = f"{PRODUCTS}/{created['id']}"
    assert api.put(path, other, json=product_input(name="Mine")).json()["name"] == "Mine"
    assert api.delete(path, other).status_code == 204


def test_an_unknown_product_is_a_404_for_everyone(api: ApiClient, other: Tokens) -> None:
    # Ownership is judged on products that exist: no 403 for ids nobody owns.
    assert_problem(api.put(f"{PRODUCTS}/prd_nope", other, json=product_input()), 404)
    assert_problem(api.delete(f"{PRODUCTS}/prd_nope", other), 404)


def test_the_seeded_catalogue_belongs_to_the_shop_account(api: ApiClient, demo: Tokens) -> None:
    product_id = api.all_product_ids(demo)[0]
    path = f"{PRODUCTS}/{product_id}"
    before = api.get(path, demo).json()
    assert_problem(api.put(path, demo, json=product_input()), 403, "not_product_owner")
    assert_problem(api.delete(path, demo), 403, "not_product_owner")
    assert api.get(path, demo).json() == before
    shop = api.login(SHOP_EMAIL, SHOP_PASSWORD)
    assert api.put(path, shop, json=product_input(name="Restocked")).status_code == 200
    assert api.delete(path, shop).status_code == 204


def test_ownership_is_checked_before_the_body(api: ApiClient, demo: Tokens, other: Tokens) -> None:
    # A non-owner learns nothing about what a valid replacement would be.
    created = api.create_product(demo)
    response = api.put(f"{PRODUCTS}/{created['id']}", other, json={"name": "x"})
    assert_problem(response, 403, "not_product_owner")


def test_a_reset_gives_the_catalogue_back_to_the_shop(
    api: ApiClient, demo: Tokens, harness_control: ControlClient
) -> None:
    shop = api.login(SHOP_EMAIL, SHOP_PASSWORD)
    product_id = api.all_product_ids(demo)[0]
    assert api.delete(f"{PRODUCTS}/{product_id}", shop).status_code == 204
    harness_control.reset()
    shop = api.login(SHOP_EMAIL, SHOP_PASSWORD)
    assert api.get(f"{PRODUCTS}/{product_id}", shop).status_code == 200
    demo = api.login()
    assert_problem(api.delete(f"{PRODUCTS}/{product_id}", demo), 403, "not_product_owner")
