"""A document's schemas as JSON Schema 2020-12, compiled once with jsonschema-rs.

OpenAPI 3.0 schemas are a dialect: `nullable`, boolean `exclusiveMinimum`,
a single `example`. They are converted here (3.1 documents are JSON Schema
already), with `$ref`s inlined by the document layer, so every validator the
mock uses per request is built at startup and never again.

`direction` drops from `required` what the other side never sends: readOnly
properties in requests, writeOnly ones in responses.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema_rs

Direction = Literal["request", "response"]
# OpenAPI annotations that are not JSON Schema and say nothing a validator needs.
_OPENAPI_ONLY = ("discriminator", "xml", "externalDocs", "nullable", "example", "deprecated")


def to_json_schema(schema: Any, direction: Direction, *, openapi_30: bool) -> Any:
    """A converted copy of a dereferenced OpenAPI schema."""
    if isinstance(schema, list):
        return [to_json_schema(s, direction, openapi_30=openapi_30) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"):
            out[key] = (
                {k: to_json_schema(v, direction, openapi_30=openapi_30) for k, v in value.items()}
                if isinstance(value, dict)
                else value
            )
        elif key in ("enum", "const", "examples", "default"):
            out[key] = value
        elif key in _OPENAPI_ONLY:
            continue
        else:
            out[key] = to_json_schema(value, direction, openapi_30=openapi_30)
    if out.get("format") == "email":
        # An address as people write it (RFC 6531: renée@example.com), as servers
        # that validate with email-validator accept it; ASCII addresses are a subset.
        out["format"] = "idn-email"
    if "example" in schema and "examples" not in schema:
        out["examples"] = [schema["example"]]
    if openapi_30:
        _convert_30(schema, out)
    hidden = "readOnly" if direction == "request" else "writeOnly"
    properties = out.get("properties")
    if isinstance(out.get("required"), list) and isinstance(properties, dict):
        out["required"] = [
            name
            for name in out["required"]
            if not (isinstance(properties.get(name), dict) and properties[name].get(hidden))
        ]
    return out


def _convert_30(source: dict[str, Any], out: dict[str, Any]) -> None:
    for bound, exclusive in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
        if isinstance(out.get(exclusive), bool) and out.pop(exclusive) and bound in out:
            out[exclusive] = out.pop(bound)
    if source.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        elif kind is None:
            rest = dict(out)
            out.clear()
            out["anyOf"] = [rest, {"type": "null"}]


class Compiled:
    """One schema and its validator; `errors(value)` says what is wrong, briefly."""

    __slots__ = ("_validator", "schema")

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self._validator = jsonschema_rs.validator_for(
            schema if isinstance(schema, dict | bool) else {},
            validate_formats=True,
        )

    def is_valid(self, value: Any) -> bool:
        return bool(self._validator.is_valid(value))

    def first_failure(self, value: Any) -> tuple[list[Any], list[Any]] | None:
        """(instance path, schema path) of the first error, or None when valid."""
        for error in self._validator.iter_errors(value):
            return list(error.instance_path), list(error.schema_path)
        return None

    def field_errors(self, value: Any, limit: int = 20) -> list[dict[str, str]]:
        """Each error as {field, message}: the field a dotted path (`variants.0.price`),
        a missing or unexpected property named itself (`name`, `sku`)."""
        found: list[dict[str, str]] = []
        for error in self._validator.iter_errors(value):
            where = [str(p) for p in error.instance_path]
            names: list[str | None] = [None]
            kind = error.kind
            if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
                names = [str(kind.property)]
            elif isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
                names = [str(n) for n in kind.unexpected] or [None]
            for name in names:
                field = ".".join([*where, name] if name is not None else where)
                found.append({"field": field or "(body)", "message": error.message})
            if len(found) >= limit:
                break
        return found[:limit]

    def first_error(self, value: Any) -> str | None:
        for error in self._validator.iter_errors(value):
            where = "/".join(str(p) for p in error.instance_path)
            return f"{'/' + where if where else '(root)'}: {error.message}"
        return None


class SchemaCompiler:
    """Compiles a document's schemas, sharing validators between equal schemas."""

    def __init__(self, *, openapi_30: bool) -> None:
        self._openapi_30 = openapi_30
        self._cache: dict[str, Compiled] = {}

    def convert(self, schema: Any, direction: Direction) -> Any:
        return to_json_schema(schema, direction, openapi_30=self._openapi_30)

    def compile(self, schema: Any, direction: Direction) -> Compiled:
        converted = self.convert(schema, direction)
        key = direction + json.dumps(converted, sort_keys=True, default=str)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = Compiled(converted)
        return found
