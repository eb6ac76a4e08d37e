"""The operation table: every operation of the API, in one declarative list.

The OpenAPI document is built from it (`contracts/openapi.py`), and the mock
serves that document, so an operation here that the mock does not serve
statefully fails a test (tests/contracts/test_drift.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from contracts import models

API_PREFIX = "/v1"

# Error statuses every operation may answer, whatever it does.
COMMON_ERRORS = (400, 403, 429, 503)
# ...those an operation with a JSON request body adds.
BODY_ERRORS = (413, 415, 422)


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: dict[str, Any]
    description: str


@dataclass(frozen=True)
class Link:
    name: str
    operation_id: str
    parameters: dict[str, str] = field(default_factory=dict)
    request_body: dict[str, str] | None = None


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    summary: str
    tag: str
    success: int
    response: type[BaseModel] | None
    response_is_list: bool = False
    request: type[BaseModel] | None = None
    secured: bool = True
    errors: tuple[int, ...] = ()
    query: tuple[QueryParam, ...] = ()
    idempotency_key: bool = False
    success_headers: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    description: str = ""

    @property
    def all_errors(self) -> tuple[int, ...]:
        codes = set(COMMON_ERRORS) | set(self.errors)
        if self.secured:
            codes.add(401)
        if self.request is not None:
            codes.update(BODY_ERRORS)
        return tuple(sorted(codes))

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(part[1:-1] for part in self.path.split("/") if part.startswith("{"))


PAGE = QueryParam("page", {"type": "integer", "minimum": 1, "default": 1}, "1-based page number.")
PAGE_SIZE = QueryParam(
    "page_size",
    {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    "Products per page.",
)
CATEGORY = QueryParam(
    "category",
    {"$ref": "#/components/schemas/CategoryId"},
    "Only products of this category.",
)

# Object-level authorization, the same rule for both changing operations.
_OWNER_ONLY = (
    "Only the product's owner, the user who created it, may {verb} it; anyone else gets "
    "403 with code `not_product_owner` and nothing changes. Reading stays open to every "
    "signed-in user (a catalogue), so the 403 reveals nothing a GET would not. The "
    "seeded catalogue belongs to the shop account. An unknown id is a 404 for everyone."
)

_PRODUCT_ID_FROM_BODY = {"id": "$response.body#/id"}
_PRODUCT_ID_FROM_PATH = {"id": "$request.path.id"}
_REFRESH_FROM_BODY = {"refresh_token": "$response.body#/refresh_token"}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "register",
        "POST",
        "/auth/register",
        "Create an account and start a session.",
        "auth",
        201,
        models.TokenResponse,
        request=models.RegisterRequest,
        secured=False,
        errors=(409,),
        links=(Link("RefreshSession", "refresh", request_body=_REFRESH_FROM_BODY),),
    ),
    Operation(
        "login",
        "POST",
        "/auth/login",
        "Start a session with email and password.",
        "auth",
        200,
        models.TokenResponse,
        request=models.LoginRequest,
        secured=False,
        errors=(401,),
        links=(Link("RefreshSession", "refresh", request_body=_REFRESH_FROM_BODY),),
    ),
    Operation(
        "refresh",
        "POST",
        "/auth/refresh",
        "Trade a refresh token for a new token pair; the refresh token rotates.",
        "auth",
        200,
        models.TokenResponse,
        request=models.RefreshRequest,
        secured=False,
        errors=(401,),
        links=(Link("RefreshAgain", "refresh", request_body=_REFRESH_FROM_BODY),),
    ),
    Operation(
        "logout",
        "POST",
        "/auth/logout",
        "End the session of the presented access token and revoke its tokens.",
        "auth",
        204,
        None,
    ),
    Operation(
        "getProfile",
        "GET",
        "/users/profile",
        "The signed-in user.",
        "users",
        200,
        models.User,
    ),
    Operation(
        "updateProfile",
        "PUT",
        "/users/update",
        "Change the signed-in user's name or email.",
        "users",
        200,
        models.User,
        request=models.UserUpdate,
        errors=(409,),
    ),
    Operation(
        "listProducts",
        "GET",
        "/products",
        "A page of products, newest last; X-Total-Count and Link describe the rest.",
        "products",
        200,
        models.Product,
        response_is_list=True,
        query=(PAGE, PAGE_SIZE, CATEGORY),
        success_headers=("X-Total-Count", "Link"),
    ),
    Operation(
        "createProduct",
        "POST",
        "/products",
        "Create a product, owned by the signed-in user. An Idempotency-Key makes retries safe.",
        "products",
        201,
        models.Product,
        request=models.ProductInput,
        errors=(409,),
        idempotency_key=True,
        success_headers=("Location",),
        links=(
            Link("GetCreatedProduct", "getProduct", _PRODUCT_ID_FROM_BODY),
            Link("UpdateCreatedProduct", "updateProduct", _PRODUCT_ID_FROM_BODY),
            Link("DeleteCreatedProduct", "deleteProduct", _PRODUCT_ID_FROM_BODY),
        ),
    ),
    Operation(
        "getProduct",
        "GET",
        "/products/{id}",
        "One product.",
        "products",
        200,
        models.Product,
        errors=(404,),
        links=(
            Link("UpdateProduct", "updateProduct", _PRODUCT_ID_FROM_BODY),
            Link("DeleteProduct", "deleteProduct", _PRODUCT_ID_FROM_BODY),
        ),
    ),
    Operation(
        "updateProduct",
        "PUT",
        "/products/{id}",
        "Replace a product's fields (its owner only).",
        "products",
        200,
        models.Product,
        request=models.ProductInput,
        errors=(403, 404),
        description=_OWNER_ONLY.format(verb="replace"),
        links=(Link("GetUpdatedProduct", "getProduct", _PRODUCT_ID_FROM_BODY),),
    ),
    Operation(
        "deleteProduct",
        "DELETE",
        "/products/{id}",
        "Delete a product (its owner only).",
        "products",
        204,
        None,
        errors=(403, 404),
        description=_OWNER_ONLY.format(verb="delete"),
        links=(Link("GetDeletedProduct", "getProduct", _PRODUCT_ID_FROM_PATH),),
    ),
)

BY_ID: dict[str, Operation] = {op.operation_id: op for op in OPERATIONS}
