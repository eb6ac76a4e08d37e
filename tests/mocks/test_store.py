"""Store on its own: seeding, paging, users, product changes, reset."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD, SHOP_ID, EmailTaken, Store
from contracts.models import CategoryId, ProductInput

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def seeded() -> Store:
    """A store nobody changes (building one costs some faker time)."""
    return Store(seed=7, product_count=40)


@pytest.fixture
def store() -> Store:
    return Store(seed=7, product_count=40)


def _input(**overrides: object) -> ProductInput:
    body = {"name": "Kettle", "price": 5, "category_id": "home"} | overrides
    return ProductInput.model_validate_json(json.dumps(body))


def test_seeding_is_deterministic(seeded: Store) -> None:
    again = Store(seed=7, product_count=40)
    assert again.products == seeded.products
    assert Store(seed=8, product_count=40).products != seeded.products
    assert len(seeded.products) == 40


def test_seeded_products_are_oldest_first(seeded: Store) -> None:
    products, total = seeded.page(1, 100, None)
    assert total == 40
    created = [p.created_at for p in products]
    assert created == sorted(created)


def test_pages_partition_the_listing(seeded: Store) -> None:
    every, _ = seeded.page(1, 40, None)
    pages = [seeded.page(n, 7, None)[0] for n in range(1, 8)]
    assert [p for page in pages for p in page] == every
    assert pages[-1] == []
    assert len(pages[-2]) == 40 - 5 * 7


def test_category_pages_hold_only_that_category(seeded: Store) -> None:
    totals = 0
    for category in CategoryId:
        products, total = seeded.page(1, 100, category)
        assert len(products) == total
        assert all(p.category.id is category for p in products)
        totals += total
    assert totals == 40


def test_demo_user_authenticates_case_insensitively(seeded: Store) -> None:
    assert seeded.authenticate(DEMO_EMAIL.upper(), DEMO_PASSWORD) is not None
    assert seeded.authenticate(DEMO_EMAIL, "wrong") is None
    assert seeded.authenticate("nobody@example.com", DEMO_PASSWORD) is None


def test_passwords_are_not_stored_in_plain_text(seeded: Store) -> None:
    demo = seeded.users["usr_demo"]
    assert DEMO_PASSWORD not in demo.password_hash


def test_create_user_and_email_uniqueness(store: Store) -> None:
    user = store.create_user("Ann@Example.com", "password1", "Ann", NOW)
    assert store.authenticate("ann@example.com", "password1") == user
    with pytest.raises(EmailTaken):
        store.create_user("ann@example.COM", "password2", "Other", NOW)


def test_update_user_moves_the_email_index(store: Store) -> None:
    store.create_user("taken@example.com", "password1", "T", NOW)
    with pytest.raises(EmailTaken):
        store.update_user("usr_demo", None, "Taken@example.com")
    updated = store.update_user("usr_demo", "New Name", "new@example.com")
    assert (updated.name, updated.email) == ("New Name", "new@example.com")
    assert store.authenticate("new@example.com", DEMO_PASSWORD) == updated
    assert store.authenticate(DEMO_EMAIL, DEMO_PASSWORD) is None
    assert store.update_user("usr_demo", None, None) == updated


def test_create_appends_to_both_listings(store: Store) -> None:
    product = store.create_product(_input(category_id="books"), NOW, "usr_demo")
    assert product.created_at == NOW
    assert store.page(41, 1, None) == ([product], 41)
    books, total = store.page(1, 100, CategoryId.BOOKS)
    assert books[-1] == product
    assert total == len(books)


def test_replace_keeps_id_and_moves_category(store: Store) -> None:
    product = store.create_product(_input(), NOW, "usr_demo")
    homes = store.page(1, 100, CategoryId.HOME)[1]
    replaced = store.replace_product(product.id, _input(name="New", category_id="toys"))
    assert (replaced.id, replaced.created_at, replaced.name) == (product.id, NOW, "New")
    assert store.page(1, 100, CategoryId.HOME)[1] == homes - 1
    assert replaced in store.page(1, 100, CategoryId.TOYS)[0]
    assert store.page(1, 100, None)[1] == 41


def test_products_belong_to_their_creator_and_the_catalogue_to_the_shop(store: Store) -> None:
    assert set(store.owners) == set(store.products)
    assert set(store.owners.values()) == {SHOP_ID}
    product = store.create_product(_input(), NOW, "usr_demo")
    assert store.owners[product.id] == "usr_demo"
    store.delete_product(product.id)
    assert product.id not in store.owners
    store.reset()
    assert set(store.owners.values()) == {SHOP_ID}


def test_delete_removes_from_both_listings(store: Store) -> None:
    product = store.page(1, 1, None)[0][0]
    category_total = store.page(1, 100, product.category.id)[1]
    store.delete_product(product.id)
    assert product.id not in store.products
    assert store.page(1, 100, None)[1] == 39
    assert product not in store.page(1, 100, product.category.id)[0]
    assert store.page(1, 100, product.category.id)[1] == category_total - 1


def test_reset_restores_the_seeded_data(store: Store, seeded: Store) -> None:
    users = dict(store.users)  # salted hashes: the same seed hashes differently per store
    store.create_product(_input(), NOW, "usr_demo")
    store.delete_product(next(iter(seeded.products)))
    store.create_user("x@example.com", "password1", "X", NOW)
    store.update_user("usr_demo", "Renamed", None)
    store.reset()
    assert store.products == seeded.products
    assert store.page(1, 100, None) == seeded.page(1, 100, None)
    assert store.users == users
    assert store.owners == seeded.owners
    assert store.authenticate("x@example.com", "password1") is None


def test_new_ids_repeat_after_reset(store: Store) -> None:
    first = store.create_product(_input(), NOW, "usr_demo").id
    store.reset()
    assert store.create_product(_input(), NOW, "usr_demo").id == first


@given(cents=st.integers(min_value=1, max_value=100_000_000_000))
def test_cent_prices_survive_input_and_output_exactly(cents: int) -> None:
    amount = Decimal(cents) / 100
    if amount == amount.to_integral_value():
        return  # integral prices: see test_integral_prices_stay_integers
    text = str(amount)
    data = ProductInput.model_validate_json(
        f'{{"name": "n", "price": {text}, "category_id": "home"}}'
    )
    assert data.price == amount
    product = Store(seed=1, product_count=0).create_product(data, NOW, "usr_demo")
    emitted = product.model_dump_json()
    assert f'"price":{text},' in emitted
    assert json.loads(emitted, parse_float=Decimal)["price"] == amount
