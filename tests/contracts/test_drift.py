"""The committed OpenAPI document and the pydantic models must never disagree."""

from __future__ import annotations

from typing import Any

import jsonschema
import pydantic
import pytest
import schemathesis
from mocks.api import Api
from mocks.auth import AuthEndpoints

from contracts import models, openapi
from contracts.demo import Store
from contracts.operations import OPERATIONS
from mocks.state import MockState


def test_committed_document_matches_the_models() -> None:
    assert openapi.main(["--check"]) == 0, "run: python -m contracts.openapi"


def test_the_drift_check_fails_when_a_model_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    class Product(models.Product):
        sku: str  # a field the committed document does not have

    drifted = tuple(Product if m is models.Product else m for m in openapi._RESPONSE_MODELS)
    monkeypatch.setattr(openapi, "_RESPONSE_MODELS", drifted)
    assert openapi.main(["--check"]) == 1


def test_the_document_is_valid_openapi_and_loads_in_schemathesis() -> None:
    schema = schemathesis.openapi.from_path(openapi.DOCUMENT_PATH)
    loaded = {op.ok().definition.raw["operationId"] for op in schema.get_all_operations()}
    assert loaded == {op.operation_id for op in OPERATIONS}


def test_the_mock_handles_every_documented_operation() -> None:
    state = MockState()
    served = Api(state).operations | AuthEndpoints(state).operations
    assert served == {op.operation_id for op in OPERATIONS}


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    # Resolve refs against the whole document, as an OpenAPI consumer would.
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def test_what_the_models_emit_validates_against_the_document() -> None:
    document = openapi.load_document()
    store = Store(seed=7, product_count=20)
    for product in store.products.values():
        jsonschema.validate(product.model_dump(mode="json"), _schema(document, "Product"))
    user = next(iter(store.users.values())).to_model()
    jsonschema.validate(user.model_dump(mode="json"), _schema(document, "User"))


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "price": "1.00", "category_id": "books"},
        {"name": "x", "price": 1, "category_id": "nope"},
        {"name": "", "price": 1, "category_id": "books"},
        {"name": "x", "price": -1, "category_id": "books"},
        {"name": "x", "price": 1, "category_id": "books", "extra": 1},
    ],
)
def test_document_and_models_reject_the_same_product_inputs(body: dict[str, Any]) -> None:
    document = openapi.load_document()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, _schema(document, "ProductInput"))
    with pytest.raises(pydantic.ValidationError):
        models.ProductInput.model_validate(body)
