"""Generated values: optional properties with a `default` or `const` are written, as a
server that serializes its model writes them, unless that breaks the schema."""

from __future__ import annotations

from mocks.spec_data import DataGenerator
from mocks.spec_schemas import SchemaCompiler

TOKENS = {
    "type": "object",
    "required": ["access_token"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "const": "Bearer", "default": "Bearer"},
        "scope": {"type": "string", "default": "read"},
        "nested": {
            "type": "object",
            "properties": {"kind": {"type": "string", "default": "plain"}},
        },
    },
}


def test_optional_defaults_and_consts_are_always_written() -> None:
    compiled = SchemaCompiler(openapi_30=False).compile(TOKENS, "response")
    values = DataGenerator(seed=3).values(compiled, 30)
    assert len(values) == 30
    assert all(v["token_type"] == "Bearer" for v in values)
    assert all("scope" in v for v in values)
    assert all("kind" in v["nested"] for v in values if "nested" in v)


def test_a_default_the_schema_forbids_is_left_out() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer", "default": 5}},
        "not": {"required": ["a"]},
    }
    compiled = SchemaCompiler(openapi_30=False).compile(schema, "response")
    assert all("a" not in v for v in DataGenerator(seed=1).values(compiled, 10))
