"""The demo API's seeded accounts and data, as its configuration (harness.yaml) states
them: one place for the banner, the smoke run, the reference bindings and the tests.

The demo is one document plus one configuration; these names only read the
configuration, so a changed account there changes them too.
"""

from __future__ import annotations

from typing import Any

from contracts.config import DEMO_CONFIG_PATH, HarnessConfig, load_config

DEMO_RESOURCE = "products"  # the demo's one seeded collection


def demo_config(**overrides: Any) -> HarnessConfig:
    """The demo's configuration, without HARNESS_* variables (the demo is fixed), with
    dotted `overrides` (for instance `{"mock.seed": 7}`)."""
    return load_config(DEMO_CONFIG_PATH, env={}, overrides=overrides)


def _account(account_id: str) -> dict[str, str]:
    found = next((a for a in _CONFIG.mock.accounts if a.get("id") == account_id), None)
    if found is None:  # a broken harness.yaml, not a user error
        raise RuntimeError(f"{DEMO_CONFIG_PATH.name}: mock.accounts has no {account_id}")
    return found


_CONFIG = demo_config()
_DEMO = _account("usr_demo")
_SHOP = _account("usr_shop")

DEMO_ID = _DEMO["id"]
DEMO_EMAIL = _DEMO["email"]
DEMO_PASSWORD = _DEMO["password"]
DEMO_NAME = _DEMO["name"]
SHOP_ID = _SHOP["id"]
SHOP_EMAIL = _SHOP["email"]
SHOP_PASSWORD = _SHOP["password"]
SHOP_NAME = _SHOP["name"]
DEFAULT_SEED = _CONFIG.mock.seed
_PRODUCTS = _CONFIG.mock.resources[DEMO_RESOURCE].seed_items
DEFAULT_PRODUCT_COUNT = _PRODUCTS if _PRODUCTS is not None else _CONFIG.mock.items_per_resource
