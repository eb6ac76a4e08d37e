"""Generated values: optional properties with a `default` or `const` are written, as a
server that serializes its model writes them, unless that breaks the schema."""

from __future__ import annotations

from faker.providers.lorem.en_US import Provider as LoremWords

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


PRODUCT = {
    "type": "object",
    "title": "Product",
    "required": ["id", "name", "price", "stock", "category", "owner"],
    "properties": {
        "id": {"type": "string", "maxLength": 64},
        "name": {"type": "string", "maxLength": 200},
        "price": {"type": "number", "minimum": 0, "maximum": 1_000_000_000},
        "stock": {"type": "integer", "minimum": 0},
        "category": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}},
        },
        "owner": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}},
        },
    },
}


def test_names_ids_and_amounts_read_as_a_real_servers_would() -> None:
    compiled = SchemaCompiler(openapi_30=False).compile(PRODUCT, "response")
    values = DataGenerator(seed=5).values(compiled, 20)
    assert len(values) == 20
    assert all(compiled.is_valid(v) for v in values)
    assert all(1 <= v["price"] <= 500 and round(v["price"], 2) == v["price"] for v in values)
    assert all(isinstance(v["stock"], int) and 0 <= v["stock"] <= 100 for v in values)
    assert all(len(v["id"]) == 36 and v["id"].count("-") == 4 for v in values)  # a UUID
    assert len({v["id"] for v in values}) == 20
    # A product's and a category's name are two words; an owner's is a person's name.
    words = set(LoremWords.word_list)
    assert all(_in(v["name"], words) and v["name"].istitle() for v in values)
    assert all(_in(v["category"]["name"], words) for v in values)
    people = [v["owner"]["name"] for v in values]
    assert sum(not _in(name, words) for name in people) >= 18  # "Mark Will" is both


def _in(name: str, words: set[str]) -> bool:
    return all(word.lower() in words for word in name.split())


def test_a_realistic_value_the_schema_forbids_is_not_used() -> None:
    narrow = {
        "type": "object",
        "required": ["price", "id"],
        "properties": {
            "price": {"type": "number", "minimum": 1000, "maximum": 2000},
            "id": {"type": "string", "maxLength": 8},
        },
    }
    compiled = SchemaCompiler(openapi_30=False).compile(narrow, "response")
    values = DataGenerator(seed=2).values(compiled, 10)
    assert all(1000 <= v["price"] <= 2000 for v in values)
    assert all(compiled.is_valid(v) for v in values)
