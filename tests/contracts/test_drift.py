"""The committed OpenAPI document and the pydantic models must never disagree."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pydantic
import pytest
import schemathesis

from contracts import models, openapi
from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from contracts.operations import OPERATIONS
from mocks.server import MockServer
from mocks.spec_chain import demo_spec
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
    """Each operation is served by a stateful part of the engine (an auth role or a
    resource action), not by a generated answer."""
    api = demo_spec(products=0)
    assert set(api.plans) == {op.operation_id for op in OPERATIONS}
    unhandled = [
        op_id for op_id, plan in api.plans.items() if plan.role is None and plan.resource is None
    ]
    assert unhandled == []


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    # Resolve refs against the whole document, as an OpenAPI consumer would.
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


def test_what_the_mock_serves_validates_against_the_document_and_the_models() -> None:
    document = openapi.load_document()
    with (
        MockServer(MockState(seed=7, product_count=20)) as mock,
        httpx.Client(base_url=mock.base_url) as client,
    ):
        login = client.post("/v1/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        auth = {"Authorization": "Bearer " + login.json()["access_token"]}
        products = client.get("/v1/products", params={"page_size": 100}, headers=auth).json()
        profile = client.get("/v1/users/profile", headers=auth).json()
    assert len(products) == 20
    for product in products:
        jsonschema.validate(product, _schema(document, "Product"))
        models.Product.model_validate(product)
    jsonschema.validate(profile, _schema(document, "User"))
    assert models.User.model_validate(profile).email == DEMO_EMAIL


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
