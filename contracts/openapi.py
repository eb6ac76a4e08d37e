"""Build the OpenAPI 3.1 document from the models and the operation table.

`python -m contracts.openapi` rewrites `contracts/openapi.yaml`;
`python -m contracts.openapi --check` exits 1 when the committed file is stale.
"""

from __future__ import annotations

import argparse
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts import models
from contracts.operations import API_PREFIX, OPERATIONS, Operation

DOCUMENT_PATH = Path(__file__).with_name("openapi.yaml")
PROBLEM_MEDIA_TYPE = "application/problem+json"
REF_TEMPLATE = "#/components/schemas/{model}"

_REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    models.RegisterRequest,
    models.LoginRequest,
    models.RefreshRequest,
    models.UserUpdate,
    models.ProductInput,
)
_RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    models.TokenResponse,
    models.User,
    models.Product,
    models.Problem,
)

_HEADERS: dict[str, dict[str, Any]] = {
    "X-Total-Count": {
        "description": "Number of products matching the query, across all pages.",
        "schema": {"type": "integer", "minimum": 0},
        "required": True,
    },
    "Link": {
        "description": "RFC 8288 links to the first, previous, next and last pages.",
        "schema": {"type": "string"},
        "required": True,
    },
    "Location": {
        "description": "URL of the created resource.",
        "schema": {"type": "string"},
        "required": True,
    },
    "WWW-Authenticate": {
        "description": 'Bearer challenge, e.g. `Bearer error="invalid_token"`.',
        "schema": {"type": "string"},
        "required": True,
    },
    "Retry-After": {
        "description": "Seconds, or an HTTP-date, to wait before trying again.",
        "schema": {"type": "string"},
        "required": True,
    },
}
_ERROR_HEADERS: dict[int, tuple[str, ...]] = {
    401: ("WWW-Authenticate",),
    429: ("Retry-After",),
    503: ("Retry-After",),
}


def _schemas() -> dict[str, Any]:
    pairs = [(m, "validation") for m in _REQUEST_MODELS] + [
        (m, "serialization") for m in _RESPONSE_MODELS
    ]
    _, top = models_json_schema(pairs, ref_template=REF_TEMPLATE)  # type: ignore[arg-type]
    defs: dict[str, Any] = top["$defs"]
    return dict(sorted(defs.items()))


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _error_responses() -> dict[str, Any]:
    codes = sorted({code for op in OPERATIONS for code in op.all_errors})
    responses: dict[str, Any] = {}
    for code in codes:
        response: dict[str, Any] = {
            "description": HTTPStatus(code).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _ref("schemas", "Problem")}},
        }
        if code in _ERROR_HEADERS:
            response["headers"] = {h: _ref("headers", h) for h in _ERROR_HEADERS[code]}
        responses[f"Problem{code}"] = response
    return responses


def _success_response(op: Operation) -> dict[str, Any]:
    response: dict[str, Any] = {"description": HTTPStatus(op.success).phrase}
    if op.response is not None:
        schema: dict[str, Any] = _ref("schemas", op.response.__name__)
        if op.response_is_list:
            schema = {"type": "array", "items": schema}
        response["content"] = {"application/json": {"schema": schema}}
    if op.success_headers:
        response["headers"] = {h: _ref("headers", h) for h in op.success_headers}
    if op.links:
        response["links"] = {
            link.name: {
                "operationId": link.operation_id,
                **({"parameters": link.parameters} if link.parameters else {}),
                **({"requestBody": link.request_body} if link.request_body else {}),
            }
            for link in op.links
        }
    return response


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in op.path_params
    ]
    params += [
        {"name": q.name, "in": "query", "required": False, "description": q.description}
        | {"schema": q.schema}
        for q in op.query
    ]
    if op.idempotency_key:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Makes retries safe: the same key and body replay the "
                "first response; the same key with another body gets 422.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    return params


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        doc["description"] = op.description
    if params := _parameters(op):
        doc["parameters"] = params
    if op.request is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref("schemas", op.request.__name__)}},
        }
    responses = {str(op.success): _success_response(op)}
    responses |= {str(code): _ref("responses", f"Problem{code}") for code in op.all_errors}
    doc["responses"] = responses
    doc["security"] = [{"bearerAuth": []}] if op.secured else []
    return doc


def build_document() -> dict[str, Any]:
    """The whole OpenAPI document as a plain dict."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(API_PREFIX + op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shop API",
            "version": "1.0.0",
            "description": (
                "The API of the seed app: auth with rotating refresh tokens, users and "
                "products. Every error is RFC 9457 problem+json with a machine `code`.\n\n"
                "Deployments may also require an `X-API-Key` header and request signing "
                "(`X-App-Timestamp`, `X-App-Nonce`, `X-App-Signature`); see the README."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "responses": _error_responses(),
            "headers": _HEADERS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "Required only where the deployment is configured so.",
                },
            },
        },
    }


class _NoAliasDumper(yaml.SafeDumper):
    # Shared dicts would otherwise become &id001 anchors, which hurt readability.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_document() -> str:
    header = "# Generated by `python -m contracts.openapi` from contracts/models.py; do not edit.\n"
    body = yaml.dump(
        build_document(), Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=100
    )
    return header + body


def load_document(path: Path = DOCUMENT_PATH) -> dict[str, Any]:
    """The committed document, parsed."""
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    rendered = render_document()
    if args.check:
        current = DOCUMENT_PATH.read_text(encoding="utf-8") if DOCUMENT_PATH.exists() else ""
        if current != rendered:
            print(
                f"{DOCUMENT_PATH.name} is stale: run python -m contracts.openapi", file=sys.stderr
            )
            return 1
        return 0
    DOCUMENT_PATH.write_text(rendered, encoding="utf-8")
    print(f"wrote {DOCUMENT_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
