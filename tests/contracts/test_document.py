"""Any OpenAPI document: validation with a pointer, base path, routing, security."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.document import DocumentError, load_document

DOC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "servers": [{"url": "https://{host}/api/v2", "variables": {"host": {"default": "x.io"}}}],
    "security": [{"Token": []}],
    "components": {
        "securitySchemes": {
            "Token": {"type": "apiKey", "in": "header", "name": "Authorization"},
            "Basic": {"type": "http", "scheme": "basic"},
        },
        "parameters": {
            "Slug": {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}
        },
    },
    "paths": {
        "/books": {
            "get": {
                "operationId": "ListBooks",
                "security": [],
                "responses": {"200": {"description": "ok"}},
            },
            "post": {
                "operationId": "CreateBook",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "201": {
                        "description": "ok",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    "422": {"description": "bad", "content": {"application/json": {"schema": {}}}},
                },
            },
        },
        "/books/feed": {
            "get": {"operationId": "Feed", "responses": {"200": {"description": "ok"}}}
        },
        "/books/{slug}": {
            "parameters": [{"$ref": "#/components/parameters/Slug"}],
            "get": {"operationId": "GetBook", "responses": {"200": {"description": "ok"}}},
            "delete": {
                "security": [{"Basic": []}, {}],
                "responses": {"204": {"description": "gone"}},
            },
        },
    },
}


def _write(tmp_path: Path, doc: dict[str, Any], name: str = "api.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc) if name.endswith(".yaml") else json.dumps(doc))
    return path


def test_a_document_reads_as_every_job_needs_it(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path, DOC, "api.json"))
    assert doc.base_path == "/api/v2"
    assert [op.operation_id for op in doc.operations] == [
        "ListBooks", "CreateBook", "Feed", "GetBook", "DELETE /books/{slug}",
    ]  # fmt: skip
    create = doc.operation("CreateBook")
    assert create.secured
    assert create.declares_response_header("Location", (201,))
    assert not doc.operation("ListBooks").secured
    assert not doc.operation("DELETE /books/{slug}").secured  # one alternative is empty
    assert doc.operation("GetBook").parameter("slug", "path") is not None
    assert [s.name for s in doc.schemes_used()] == ["Token", "Basic"]
    assert doc.security_schemes["Token"].header == "Authorization"


def test_routing_prefers_literal_segments_and_keeps_the_base_path(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path, DOC))
    found = doc.find("GET", "/api/v2/books/feed")
    assert found is not None
    assert found[0].operation_id == "Feed"
    found = doc.find("GET", "/api/v2/books/a%20b")
    assert found is not None
    assert found == (doc.operation("GetBook"), {"slug": "a b"})
    assert doc.find("GET", "/books/feed") is None  # not under the base path
    assert doc.methods_at("/api/v2/books/x") == ["DELETE", "GET"]


def test_an_invalid_document_names_the_pointer(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(DOC))
    broken["paths"]["/books"]["get"]["responses"]["200"]["content"] = {
        "application/json": {"schema": {"type": "nonsense"}}
    }
    with pytest.raises(DocumentError) as error:
        load_document(_write(tmp_path, broken))
    message = str(error.value)
    assert ": /paths/~1books/get/responses/200: this node is not valid under any of" in message
    assert "nonsense" not in message


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"swagger": "2.0"}, "only OpenAPI 3.0 and 3.1"),
        (["not", "a", "mapping"], "is a mapping"),
        ({"openapi": "3.0.3", "info": {"title": "t", "version": "1"}}, "paths"),
    ],
)
def test_what_is_not_openapi_3_says_so(tmp_path: Path, doc: Any, message: str) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DocumentError, match=message):
        load_document(path)


def test_a_missing_file_or_a_bad_url_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="No such file"):
        load_document(tmp_path / "nope.yaml")
    with pytest.raises(DocumentError, match="cannot fetch"):
        load_document("http://127.0.0.1:9/openapi.yaml")


def test_refs_across_files_resolve(tmp_path: Path) -> None:
    (tmp_path / "schemas.yaml").write_text(yaml.safe_dump({"Book": {"type": "object"}}))
    doc = json.loads(json.dumps(DOC))
    content = doc["paths"]["/books"]["post"]["requestBody"]["content"]["application/json"]
    content["schema"] = {"$ref": "schemas.yaml#/Book"}
    loaded = load_document(_write(tmp_path, doc))
    assert loaded.operation("CreateBook").request_media_types["application/json"] == {
        "type": "object"
    }


def test_a_dangling_ref_and_an_undeclared_scheme_are_document_errors(tmp_path: Path) -> None:
    dangling = json.loads(json.dumps(DOC))
    dangling["paths"]["/books"]["get"]["responses"]["404"] = {"$ref": "#/components/responses/Nope"}
    with pytest.raises(DocumentError, match="cannot resolve the document"):
        load_document(_write(tmp_path, dangling))
    unknown = json.loads(json.dumps(DOC))
    unknown["paths"]["/books"]["post"]["security"] = [{"Nope": []}]
    with pytest.raises(
        DocumentError, match="/paths/~1books/post/security/0: security names 'Nope'"
    ):
        load_document(_write(tmp_path, unknown))


def test_a_trailing_slash_is_another_path(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path, DOC))
    assert doc.find("GET", "/api/v2/books/") is None
