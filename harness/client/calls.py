"""Every contract operation as a `Call`: what to send and how to read the answer.

Calls are plain data. The engine (`engine.py`) runs them; the sync and async
clients only add I/O. So each operation is described once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter

from contracts import models


@dataclass(frozen=True)
class Call[T]:
    operation: str
    method: str
    path: str
    parse: Callable[[bytes], T]
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    authenticated: bool = True
    # POSTs get a fresh key per call unless one is given: retries become safe.
    idempotency_key: str | None = None


def _model[M: BaseModel](model: type[M]) -> Callable[[bytes], M]:
    return model.model_validate_json


def _nothing(body: bytes) -> None:
    return None


_PRODUCTS = TypeAdapter(list[models.Product])


def _json(model: BaseModel) -> bytes:
    return model.model_dump_json(exclude_unset=False).encode()


def _product_path(product_id: str) -> str:
    return f"/v1/products/{quote(product_id, safe='')}"


def register(email: str, password: str, name: str) -> Call[models.TokenResponse]:
    body = models.RegisterRequest(email=email, password=password, name=name)
    return Call(
        "register",
        "POST",
        "/v1/auth/register",
        _model(models.TokenResponse),
        body=_json(body),
        authenticated=False,
    )


def login(email: str, password: str) -> Call[models.TokenResponse]:
    body = models.LoginRequest(email=email, password=password)
    return Call(
        "login",
        "POST",
        "/v1/auth/login",
        _model(models.TokenResponse),
        body=_json(body),
        authenticated=False,
    )


def refresh(refresh_token: str) -> Call[models.TokenResponse]:
    body = models.RefreshRequest(refresh_token=refresh_token)
    return Call(
        "refresh",
        "POST",
        "/v1/auth/refresh",
        _model(models.TokenResponse),
        body=_json(body),
        authenticated=False,
    )


def logout() -> Call[None]:
    return Call("logout", "POST", "/v1/auth/logout", _nothing)


def get_profile() -> Call[models.User]:
    return Call("getProfile", "GET", "/v1/users/profile", _model(models.User))


def update_profile(name: str | None = None, email: str | None = None) -> Call[models.User]:
    body = models.UserUpdate(name=name, email=email)
    return Call(
        "updateProfile",
        "PUT",
        "/v1/users/update",
        _model(models.User),
        body=body.model_dump_json(exclude_none=True).encode(),
    )


def list_products(
    page: int = 1, page_size: int = 20, category: models.CategoryId | str | None = None
) -> Call[list[models.Product]]:
    params = {"page": str(page), "page_size": str(page_size)}
    if category is not None:
        params["category"] = str(models.CategoryId(category).value)
    return Call("listProducts", "GET", "/v1/products", _PRODUCTS.validate_json, params=params)


def get_product(product_id: str) -> Call[models.Product]:
    return Call("getProduct", "GET", _product_path(product_id), _model(models.Product))


def create_product(
    product: models.ProductInput, idempotency_key: str | None = None
) -> Call[models.Product]:
    return Call(
        "createProduct",
        "POST",
        "/v1/products",
        _model(models.Product),
        body=_json(product),
        idempotency_key=idempotency_key,
    )


def update_product(product_id: str, product: models.ProductInput) -> Call[models.Product]:
    return Call(
        "updateProduct",
        "PUT",
        _product_path(product_id),
        _model(models.Product),
        body=_json(product),
    )


def delete_product(product_id: str) -> Call[None]:
    return Call("deleteProduct", "DELETE", _product_path(product_id), _nothing)
