"""What every adapter must do with the protocol's operations, whatever its language."""

from __future__ import annotations

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from harness.conformance.adapter import Adapter

LOGIN = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
KETTLE = {"name": "Kettle", "price": 19.99, "category_id": "home"}


def assert_operations_round_trip(adapter: Adapter) -> None:
    """Every operation once, from login to logout, against a freshly reset mock."""
    login = adapter.call("login", LOGIN)
    assert login.ok
    assert set(login.result) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert adapter.call("get_profile").result["email"] == DEMO_EMAIL
    renamed = adapter.call("update_profile", {"name": "Adapter Demo"})
    assert renamed.result["name"] == "Adapter Demo"
    created = adapter.call("create_product", {"product": KETTLE}).result
    assert created["price"] == 19.99
    assert created["created_at"].endswith("Z") or "+" in created["created_at"]
    assert adapter.call("get_product", {"id": created["id"]}).result == created
    updated = adapter.call(
        "update_product", {"id": created["id"], "product": KETTLE | {"price": 5}}
    )
    assert updated.result["price"] == 5
    page = adapter.call("list_products", {"page_size": 3, "category": "books"}).result
    assert len(page) == 3
    assert {p["category"]["id"] for p in page} == {"books"}
    assert adapter.call("delete_product", {"id": created["id"]}).ok
    missing = adapter.call("get_product", {"id": created["id"]})
    assert (missing.error_kind, missing.status) == ("notFound", 404)
    assert adapter.call("logout").ok
    assert adapter.call("get_tokens").result is None
