"""The in-memory data of the mock: users and products, seeded with faker.

Seeding is deterministic for a given seed. Records are immutable; a change
replaces the record, so `reset()` only has to copy the seeded dicts back.
Listing keeps one creation-ordered id list per category (and one for all),
so a page costs what the page holds, not what the store holds.

Accounts are found by their e-mail's identity key (NFKC, then case folding):
one address in several Unicode spellings is one account. A product belongs
to the user who created it; the seeded catalogue belongs to the shop account.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from faker import Faker

from contracts.models import (
    Category,
    CategoryId,
    Product,
    ProductInput,
    User,
    Variant,
)
from mocks.passwords import hash_password, verify_password

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"
DEMO_NAME = "Demo User"
DEMO_ID = "usr_demo"
# The seeded catalogue's owner: the demo user may read every product but change only
# what it creates.
SHOP_EMAIL = "shop@example.com"
SHOP_PASSWORD = "shop-password"
SHOP_NAME = "The Shop"
SHOP_ID = "usr_shop"
DEFAULT_SEED = 1234
DEFAULT_PRODUCT_COUNT = 300
# Seeded timestamps count back from a fixed instant so they do not depend on today.
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)

CATEGORY_NAMES: dict[CategoryId, str] = {
    CategoryId.ELECTRONICS: "Electronics",
    CategoryId.BOOKS: "Books",
    CategoryId.HOME: "Home & Kitchen",
    CategoryId.TOYS: "Toys",
    CategoryId.SPORTS: "Sports & Outdoors",
    CategoryId.CLOTHING: "Clothing",
    CategoryId.GROCERY: "Grocery",
    CategoryId.BEAUTY: "Beauty",
}
CATEGORIES = {cid: Category(id=cid, name=name) for cid, name in CATEGORY_NAMES.items()}


class EmailTaken(Exception):
    pass


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    name: str
    created_at: datetime
    password_hash: str  # argon2id, encoded with its salt and parameters

    def to_model(self) -> User:
        return User(id=self.id, email=self.email, name=self.name, created_at=self.created_at)


def identity_key(email: str) -> str:
    """What makes two e-mails one account: NFKC, case folding, NFKC again (Unicode's
    NFKC_Casefold, which is stable when applied twice). Composed and decomposed
    accents, fullwidth letters, `ß` and `ss`, the Kelvin sign and `K` all agree."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email).casefold())


class Store:
    def __init__(self, seed: int = DEFAULT_SEED, product_count: int = DEFAULT_PRODUCT_COUNT):
        self.seed = seed
        self._seeded_users, self._seeded_products = _generate(seed, product_count)
        self.users: dict[str, UserRecord] = {}
        self._user_by_email: dict[str, str] = {}
        self.products: dict[str, Product] = {}
        self.owners: dict[str, str] = {}  # product id -> user id
        self._order: dict[CategoryId | None, list[str]] = {}
        self._ids = random.Random()
        self.reset()

    def reset(self) -> None:
        self.users = dict(self._seeded_users)
        self._user_by_email = {identity_key(u.email): u.id for u in self.users.values()}
        self.products = dict(self._seeded_products)
        self.owners = dict.fromkeys(self.products, SHOP_ID)
        self._order = {None: list(self.products)}
        for cid in CategoryId:
            self._order[cid] = []
        for product in self.products.values():
            self._order[product.category.id].append(product.id)
        self._ids = random.Random(f"{self.seed}:ids")

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{uuid.UUID(int=self._ids.getrandbits(128), version=4).hex[:20]}"

    # --- users ----------------------------------------------------------------

    def authenticate(self, email: str, password: str) -> UserRecord | None:
        user_id = self._user_by_email.get(identity_key(email))
        user = self.users.get(user_id) if user_id is not None else None
        # An unknown account costs a full verify too (against a stand-in hash).
        if not verify_password(user.password_hash if user else None, password):
            return None
        return user

    def create_user(self, email: str, password: str, name: str, now: datetime) -> UserRecord:
        key = identity_key(email)
        if key in self._user_by_email:
            raise EmailTaken(email)
        user = UserRecord(self.new_id("usr"), email, name, now, hash_password(password))
        self.users[user.id] = user
        self._user_by_email[key] = user.id
        return user

    def update_user(self, user_id: str, name: str | None, email: str | None) -> UserRecord:
        user = self.users[user_id]
        if email is not None and identity_key(email) != identity_key(user.email):
            if identity_key(email) in self._user_by_email:
                raise EmailTaken(email)
            del self._user_by_email[identity_key(user.email)]
            self._user_by_email[identity_key(email)] = user_id
        user = replace(user, name=name or user.name, email=email or user.email)
        self.users[user_id] = user
        return user

    # --- products -------------------------------------------------------------

    def page(
        self, page: int, page_size: int, category: CategoryId | None
    ) -> tuple[list[Product], int]:
        ids = self._order[category]
        start = (page - 1) * page_size
        return [self.products[i] for i in ids[start : start + page_size]], len(ids)

    def create_product(self, data: ProductInput, now: datetime, owner: str) -> Product:
        product = self._build(self.new_id("prd"), data, now)
        self.products[product.id] = product
        self.owners[product.id] = owner
        self._order[None].append(product.id)
        self._order[product.category.id].append(product.id)
        return product

    def replace_product(self, product_id: str, data: ProductInput) -> Product:
        old = self.products[product_id]
        new = self._build(product_id, data, old.created_at)
        if new.category.id != old.category.id:
            self._order[old.category.id].remove(product_id)
            self._order[new.category.id].append(product_id)
        self.products[product_id] = new
        return new

    def delete_product(self, product_id: str) -> None:
        product = self.products.pop(product_id)
        self.owners.pop(product_id, None)
        # O(n) removal keeps listing O(page); deletes are rare next to reads.
        self._order[None].remove(product_id)
        self._order[product.category.id].remove(product_id)

    def _build(self, product_id: str, data: ProductInput, created_at: datetime) -> Product:
        return Product(
            id=product_id,
            name=data.name,
            price=data.price,
            description=data.description,
            image_urls=list(data.image_urls),
            created_at=created_at,
            category=CATEGORIES[data.category_id],
            variants=[
                Variant(id=self.new_id("var"), name=v.name, price=v.price) for v in data.variants
            ],
        )


def _generate(seed: int, count: int) -> tuple[dict[str, UserRecord], dict[str, Product]]:
    fake = Faker()
    fake.seed_instance(seed)
    rng = random.Random(seed)

    def ident(prefix: str) -> str:
        return f"{prefix}_{uuid.UUID(int=rng.getrandbits(128), version=4).hex[:20]}"

    since = _EPOCH - timedelta(days=400)
    demo = UserRecord(DEMO_ID, DEMO_EMAIL, DEMO_NAME, since, hash_password(DEMO_PASSWORD))
    shop = UserRecord(SHOP_ID, SHOP_EMAIL, SHOP_NAME, since, hash_password(SHOP_PASSWORD))
    users = {demo.id: demo, shop.id: shop}
    created = [_EPOCH - timedelta(seconds=rng.randrange(0, 365 * 86400)) for _ in range(count)]
    products: dict[str, Product] = {}
    for created_at in sorted(created):
        product_id = ident("prd")
        category = rng.choice(list(CategoryId))
        cents = rng.randrange(99, 500_000)
        products[product_id] = Product(
            id=product_id,
            name=fake.catch_phrase(),
            price=Decimal(cents) / 100,
            description=fake.paragraph(nb_sentences=2) if rng.random() < 0.8 else None,
            image_urls=[
                f"https://images.example.com/products/{product_id}/{n}.jpg"
                for n in range(rng.randrange(0, 4))
            ],
            created_at=created_at,
            category=CATEGORIES[category],
            variants=[
                Variant(
                    id=ident("var"),
                    name=fake.color_name(),
                    price=Decimal(cents + rng.randrange(0, 2000)) / 100,
                )
                for _ in range(rng.randrange(0, 3))
            ],
        )
    return users, products
