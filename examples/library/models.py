"""The library's request bodies as pydantic models, as strict as its document.

Strict mode, because JSON Schema is: `"5"` is not an integer, `1.0` is not one
either in OpenAPI 3.0's dialect (JSON Schema draft 4), `true` is not a number.
Formats and patterns are judged by jsonschema-rs, the validator the document's
tools (schemathesis among them) judge them with, so that the server and its
document agree on every edge (`$` does not match before a final newline, what
an email is). Fields the document marks `readOnly` are refused in requests.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, ClassVar, Literal

import jsonschema_rs
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)


@cache
def _validator(schema_json: str) -> jsonschema_rs.Validator:
    import json

    return jsonschema_rs.Draft4Validator(json.loads(schema_json), validate_formats=True)


def conforming(schema: str, what: str) -> AfterValidator:
    """A check that the value is valid for the JSON Schema `schema` (as JSON text)."""

    def check(value: str) -> str:
        if not _validator(schema).is_valid(value):
            raise ValueError(f"value is not {what}")
        return value

    return AfterValidator(check)


Email = Annotated[
    str,
    StringConstraints(max_length=254),
    conforming('{"format": "email"}', "an email address"),
]
Username = Annotated[
    str, conforming('{"pattern": "^[A-Za-z0-9_]{3,30}$"}', "3 to 30 letters, digits or _")
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
Uri = Annotated[
    str, StringConstraints(max_length=2000), conforming('{"format": "uri"}', "an absolute URI")
]
Isbn = Annotated[str, conforming('{"pattern": "^97[89][0-9]{10}$"}', "an ISBN-13 (97[89]...)")]
Tag = Annotated[str, conforming('{"pattern": "^[a-z0-9-]{1,30}$"}', "a tag (a-z, 0-9, -)")]
Language = Literal["en", "fr", "de", "es", "it", "other"]


class _Closed(BaseModel):
    """A JSON object with `additionalProperties: false`."""

    model_config = ConfigDict(strict=True, extra="forbid")


class _Open(BaseModel):
    """A JSON object that allows properties it does not name (they are ignored)."""

    model_config = ConfigDict(strict=True, extra="ignore")


# --- users ------------------------------------------------------------------------------


class Credentials(_Closed):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class LoginRequest(_Closed):
    user: Credentials


class NewUser(_Closed):
    email: Email
    username: Username
    password: Password


class NewUserRequest(_Closed):
    user: NewUser


class UserChanges(_Closed):
    email: Email | None = None
    username: Username | None = None
    password: Password | None = None
    bio: Annotated[str, StringConstraints(max_length=1000)] | None = None
    image: Uri | None = None

    @model_validator(mode="after")
    def _some(self) -> UserChanges:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for name in ("email", "username", "password"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class UpdateUserRequest(_Closed):
    user: UserChanges


# --- books ------------------------------------------------------------------------------


class BookFields(_Open):
    """Every field optional and `null` only where the document says `nullable`;
    `model_fields_set` tells a field left out from one set to null."""

    isbn: Isbn | None = None
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    authors: (
        Annotated[
            list[Annotated[str, StringConstraints(min_length=1, max_length=100)]],
            Field(min_length=1, max_length=10),
        ]
        | None
    ) = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    language: Language | None = None
    publishedYear: Annotated[int, Field(ge=1450, le=2100)] | None = None
    copies: Annotated[int, Field(ge=1, le=50)] | None = None
    # exclusiveMinimum: true in the 3.0 dialect: more than 0
    replacementCost: Annotated[float, Field(gt=0, le=10000)] | None = None
    coverUrl: Uri | None = None
    tags: Annotated[list[Tag], Field(max_length=10)] | None = None

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"description", "publishedYear", "coverUrl"})

    @model_validator(mode="after")
    def _nulls_and_sets(self) -> BookFields:
        for name in self.model_fields_set - self.NULLABLE:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        if self.tags is not None and len(set(self.tags)) != len(self.tags):
            raise ValueError("tags must be unique")
        return self

    def given(self) -> dict[str, Any]:
        """The fields the request set, by their JSON names."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class NewBook(BookFields):
    @model_validator(mode="after")
    def _required(self) -> NewBook:
        missing = [
            f for f in ("isbn", "title", "authors", "copies") if f not in self.model_fields_set
        ]
        if missing:
            raise ValueError(f"required: {', '.join(missing)}")
        return self


class NewBookRequest(_Closed):
    book: NewBook


class BookChanges(BookFields):
    @model_validator(mode="after")
    def _some(self) -> BookChanges:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class UpdateBookRequest(_Closed):
    book: BookChanges


# --- reviews and loans ------------------------------------------------------------------

READ_ONLY_REVIEW_FIELDS = ("id", "author", "createdAt")


class NewReview(_Open):
    body: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    rating: Annotated[int, Field(ge=1, le=5)]

    @model_validator(mode="before")
    @classmethod
    def _no_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            sent = [name for name in READ_ONLY_REVIEW_FIELDS if name in data]
            if sent:
                raise ValueError(f"read-only fields cannot be sent: {', '.join(sent)}")
        return data


class ReviewRequest(_Open):
    review: NewReview


class NewLoan(_Closed):
    book: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    days: Annotated[int, Field(ge=1, le=60)] = 14


class NewLoanRequest(_Closed):
    loan: NewLoan


class LoanChange(_Closed):
    status: Literal["returned"]


class LoanUpdateRequest(_Closed):
    loan: LoanChange
