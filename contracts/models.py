"""Wire models of the API: the one source of truth for the contract.

`contracts/openapi.yaml` is generated from these models and the operation
table in `contracts/operations.py`; `tests/contracts/test_drift.py` fails when
the committed document and the models disagree.

Request models are strict (no type coercion, unknown fields rejected) because
the mock uses them to validate what clients send. Response models are what
the server emits; clients that read them should tolerate unknown fields.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

MAX_PRICE = Decimal(1_000_000_000)


def _reject_non_numbers(value: Any) -> Any:
    # Strict pydantic still turns "12.5" into a Decimal; the contract says number.
    if isinstance(value, str | bool):
        raise ValueError("price must be a JSON number")
    return value


def _price_to_json(value: Decimal) -> int | float:
    # Integral prices stay integers; cent values are exact as shortest-repr floats.
    if value == value.to_integral_value():
        return int(value)
    return float(value)


Price = Annotated[
    Decimal,
    BeforeValidator(_reject_non_numbers),
    # Lax on purpose: a JSON float becomes a Decimal through its shortest repr.
    Field(ge=0, le=MAX_PRICE, allow_inf_nan=False, strict=False),
    PlainSerializer(_price_to_json, return_type=int | float, when_used="json"),
    WithJsonSchema(
        {
            "type": "number",
            "minimum": 0,
            "maximum": int(MAX_PRICE),
            "description": "Amount in the shop's currency, exact to the cent (the server "
            "keeps up to 15 significant digits exactly).",
        }
    ),
]

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")


def _check_uri(value: str) -> str:
    if not _URI.match(value):
        raise ValueError("must be an absolute URI")
    return value


Uri = Annotated[
    str,
    BeforeValidator(lambda v: _check_uri(v) if isinstance(v, str) else v),
    Field(max_length=2048),
    WithJsonSchema({"type": "string", "format": "uri", "maxLength": 2048}),
]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("must be an email address")
    return value


Email = Annotated[
    str,
    BeforeValidator(lambda v: _check_email(v) if isinstance(v, str) else v),
    Field(max_length=254),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]

Name = Annotated[str, Field(min_length=1, max_length=200)]
Password = Annotated[str, Field(min_length=8, max_length=128)]
Identifier = Annotated[str, Field(min_length=1, max_length=64)]


class CategoryId(StrEnum):
    """The shop's fixed category taxonomy."""

    ELECTRONICS = "electronics"
    BOOKS = "books"
    HOME = "home"
    TOYS = "toys"
    SPORTS = "sports"
    CLOTHING = "clothing"
    GROCERY = "grocery"
    BEAUTY = "beauty"


class RequestModel(BaseModel):
    """Base of everything a client sends: strict types, unknown fields rejected."""

    model_config = ConfigDict(strict=True, extra="forbid")


class ResponseModel(BaseModel):
    """Base of everything the server sends. Unknown fields are ignored, so that
    clients built on these models survive a server that adds fields."""

    model_config = ConfigDict(extra="ignore")


# --- auth ---------------------------------------------------------------------


class RegisterRequest(RequestModel):
    email: Email
    password: Password
    name: Name


class LoginRequest(RequestModel):
    email: Email
    password: Annotated[str, Field(min_length=1, max_length=128)]


class RefreshRequest(RequestModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]


class TokenResponse(ResponseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: Annotated[int, Field(ge=0, description="Access token lifetime in seconds.")]


# --- users --------------------------------------------------------------------


class User(ResponseModel):
    id: Identifier
    email: Email
    name: Name
    created_at: AwareDatetime


class UserUpdate(RequestModel):
    name: Name | None = None
    email: Email | None = None


# --- products -----------------------------------------------------------------


class Category(ResponseModel):
    id: CategoryId
    name: Name


class Variant(ResponseModel):
    id: Identifier
    name: Name
    price: Price


class Product(ResponseModel):
    id: Identifier
    name: Name
    price: Price
    description: Annotated[str, Field(max_length=2000)] | None
    image_urls: Annotated[list[Uri], Field(max_length=10)]
    created_at: AwareDatetime
    category: Category
    variants: Annotated[list[Variant], Field(max_length=20)]


class VariantInput(RequestModel):
    name: Name
    price: Price


class ProductInput(RequestModel):
    """What a client sends to create or replace a product; the server assigns ids."""

    name: Name
    price: Price
    description: Annotated[str, Field(max_length=2000)] | None = None
    image_urls: Annotated[list[Uri], Field(max_length=10)] = []
    category_id: CategoryId
    variants: Annotated[list[VariantInput], Field(max_length=20)] = []


# --- errors -------------------------------------------------------------------


class Problem(ResponseModel):
    """RFC 9457 problem details, with the machine `code` the seed's client reads."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: Annotated[int, Field(ge=400, le=599)]
    detail: str
    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    instance: str | None = None
