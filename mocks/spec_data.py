"""Values that conform to a schema: the document's examples first, else generated.

Generation is jsf (JSON Schema -> fake data, with faker for formats), made
deterministic per seed, then made realistic by property name with faker: a
`name` is a person's where the object is about one (a user, an author, beside
an email...) and a thing's name elsewhere, `city` a city, `image` a URL, an
`id` a UUID, a `price` a few dollars and cents rather than anything up to the
schema's maximum, a `quantity` a small count. Every value is checked with the
schema's compiled validator; a realistic touch that breaks a constraint is
undone, and a value jsf got wrong is drawn again.

All of this runs at startup (and when an item is created, for the fields a
client did not send), never per read: answers are pre-generated.
"""

from __future__ import annotations

import logging
import random
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from faker import Faker

from mocks.spec_schemas import Compiled

log = logging.getLogger(__name__)

ATTEMPTS = 12
REPAIRS = 40
# jsf keeps its randomness in module globals; one generation at a time, seeded.
_LOCK = threading.Lock()


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    import rstr
    from jsf.schema_types import string as jsf_string

    with _LOCK, warnings.catch_warnings():
        # jsf deep-copies an itertools.count; Python 3.12 warns about that.
        warnings.simplefilter("ignore", DeprecationWarning)
        saved = random.getstate()
        random.seed(seed)
        jsf_string.faker.seed_instance(seed)
        rstr._default_instance._random.seed(seed)  # jsf's patterns
        try:
            yield
        finally:
            random.setstate(saved)


def _by_name(fake: Faker) -> dict[str, Callable[[], Any]]:
    return {
        "name": fake.name,
        "fullname": fake.name,
        "displayname": fake.name,
        "firstname": fake.first_name,
        "givenname": fake.first_name,
        "lastname": fake.last_name,
        "familyname": fake.last_name,
        "surname": fake.last_name,
        "username": fake.user_name,
        "login": fake.user_name,
        "author": fake.name,
        "title": lambda: fake.sentence(nb_words=4).rstrip("."),
        "summary": fake.sentence,
        "description": fake.sentence,
        "bio": fake.sentence,
        "body": fake.paragraph,
        "content": fake.paragraph,
        "text": fake.sentence,
        "comment": fake.sentence,
        "message": fake.sentence,
        "city": fake.city,
        "country": fake.country,
        "countrycode": fake.country_code,
        "street": fake.street_address,
        "address": fake.address,
        "zip": fake.postcode,
        "postcode": fake.postcode,
        "postalcode": fake.postcode,
        "phone": fake.phone_number,
        "phonenumber": fake.phone_number,
        "company": fake.company,
        "publisher": fake.company,
        "email": fake.email,
        "url": fake.url,
        "website": fake.url,
        "homepage": fake.url,
        "image": fake.image_url,
        "imageurl": fake.image_url,
        "avatar": fake.image_url,
        "photo": fake.image_url,
        "photourl": fake.image_url,
        "slug": fake.slug,
        "color": fake.color_name,
        "currency": fake.currency_code,
        "language": fake.language_name,
        "isbn": fake.isbn13,
        "genre": fake.word,
        "tag": fake.word,
        "category": fake.word,
    }


# An object is about a person when its schema's title or the property holding it
# says so, or when it has one of these fields beside `name`.
_PERSON_WORDS = (
    "user", "author", "person", "people", "profile", "customer", "account", "member",
    "owner", "contact", "employee", "client", "student", "patient", "staff",
    "reviewer", "seller", "buyer", "writer", "artist", "player", "driver", "manager",
)  # fmt: skip
_PERSON_FIELDS = frozenset(
    {"email", "username", "firstname", "lastname", "avatar", "bio", "phone", "birthdate"}
)
_ID_NAMES = frozenset({"id", "uuid", "guid"})


def _by_number(fake: Faker) -> dict[str, Callable[[], float | int]]:
    """Numbers by property name, where a uniform draw up to the schema's maximum
    reads wrong (a price near 10^9): amounts of money in dollars and cents, counts."""

    def money() -> float:
        return round(fake.pyfloat(min_value=1, max_value=500, right_digits=2), 2)

    def count() -> int:
        return fake.pyint(min_value=0, max_value=100)

    return {
        "price": money, "amount": money, "cost": money, "subtotal": money, "fee": money,
        "balance": money, "salary": money, "unitprice": money,
        "quantity": count, "qty": count, "stock": count, "inventory": count,
        "age": lambda: fake.pyint(min_value=18, max_value=90),
        "year": lambda: fake.pyint(min_value=1950, max_value=2025),
        "rating": lambda: fake.pyint(min_value=1, max_value=5),
        "stars": lambda: fake.pyint(min_value=1, max_value=5),
        "pages": lambda: fake.pyint(min_value=40, max_value=900),
        "pagecount": lambda: fake.pyint(min_value=40, max_value=900),
    }  # fmt: skip


def _key(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def _about_a_person(holder: dict[str, Any], schema: Any, held_as: str) -> bool:
    words = f"{held_as} {schema.get('title', '') if isinstance(schema, dict) else ''}".lower()
    if any(word in words for word in _PERSON_WORDS):
        return True
    return any(_key(k) in _PERSON_FIELDS for k in holder)


class DataGenerator:
    """Deterministic values for compiled schemas; `seed` picks the run."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._draws = 0
        self._fake = Faker()
        self._fake.seed_instance(seed)
        self._names = _by_name(self._fake)
        self._numbers = _by_number(self._fake)
        # jsf's dates count back from now; these stay the same from run to run.
        start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
        self._formats: dict[str, Callable[[], Any]] = {
            "date-time": lambda: (
                self._fake.date_time_between(start, end, UTC).isoformat().replace("+00:00", "Z")
            ),
            "date": lambda: self._fake.date_between(start, end).isoformat(),
        }

    def _next_seed(self) -> int:
        self._draws += 1
        return self.seed * 1_000_003 + self._draws

    def example(self, compiled: Compiled, examples: list[Any]) -> Any:
        """The first of `examples` that is valid, else one generated value."""
        for candidate in examples:
            if compiled.is_valid(candidate):
                return candidate
        found = self.values(compiled, 1)
        return found[0] if found else None

    def values(self, compiled: Compiled, count: int) -> list[Any]:
        """`count` valid values (fewer only if the schema defeats the generator: logged)."""
        from jsf import JSF

        schema = compiled.schema
        if schema is True or schema == {}:
            return [{} for _ in range(count)]
        out: list[Any] = []
        seed = self._next_seed()
        with _seeded(seed):
            try:
                # jsf ignores allOf's siblings: give it the branches merged.
                simple = merge_all_of(schema)
                faker = JSF(simple, allow_none_optionals=0.3)
                sparse = JSF(simple, allow_none_optionals=1.0)
            except Exception as e:  # jsf cannot read every schema it is given
                log.debug("jsf cannot read schema %s: %s", _short(schema), e)
                faker = sparse = None
            for _ in range(count):
                value = _NONE if faker is None else self._one(compiled, faker, sparse)
                if value is _NONE:
                    break
                out.append(value)
        if len(out) < count:
            log.warning("no valid value for schema %s", _short(schema))
        return out

    def _one(self, compiled: Compiled, faker: Any, sparse: Any) -> Any:
        for attempt in range(ATTEMPTS):
            source = faker if attempt < ATTEMPTS // 2 else sparse
            try:
                value = source.generate(use_examples=attempt == 0)
            except Exception:
                continue
            value = self._repaired(compiled, value)
            if value is not _NONE:
                _fill_defaults(value, value, compiled.schema, compiled)
                self.realistic(value, compiled.schema, compiled)
                return value
        return _NONE

    def _repaired(self, compiled: Compiled, value: Any) -> Any:
        """`value` with each part the validator rejects drawn again from its own
        subschema (jsf gets some keywords wrong: enums of booleans, allOf siblings)."""
        for _ in range(REPAIRS):
            error = compiled.first_failure(value)
            if error is None:
                return value
            instance_path, schema_path = error
            sub = _walk(compiled.schema, schema_path[:-1])
            replacement = self._draw(sub)
            if replacement is _NONE:
                return _NONE
            if not instance_path:
                value = replacement
            elif not _assign(value, instance_path, replacement):
                return _NONE
        return _NONE

    def _draw(self, schema: Any) -> Any:
        from jsf import JSF

        if not isinstance(schema, dict):
            return _NONE
        if schema.get("enum"):
            return random.choice(schema["enum"])
        if "const" in schema:
            return schema["const"]
        kinds = schema.get("type")
        try:
            return JSF(merge_all_of(schema), allow_none_optionals=1.0).generate()
        except Exception:
            return None if isinstance(kinds, list) and "null" in kinds else _NONE

    def _maker(
        self, holder: dict[str, Any], name: str, prop: dict[str, Any], about: tuple[Any, str]
    ) -> Callable[[], Any] | None:
        key = _key(name)
        if isinstance(holder[name], bool):
            return None
        if isinstance(holder[name], int | float):
            number = self._numbers.get(key)
            if number is not None and prop.get("type") == "integer":
                return lambda: round(number())
            return number
        made = self._formats.get(prop.get("format", ""))
        if made is not None:
            return made
        if key == "name" and not isinstance(holder, _Slot):
            if _about_a_person(holder, *about):
                return self._fake.name
            return lambda: " ".join(self._fake.words(nb=2)).title()
        if key in _ID_NAMES:
            return lambda: str(self._fake.uuid4())
        return self._names.get(key)

    def realistic(self, value: Any, schema: Any, compiled: Compiled) -> None:
        """Faker values by property name, in place, each kept only if `value` stays valid."""
        for holder, name, prop, about in _named_strings(value, schema):
            make = self._maker(holder, name, prop, about)
            if make is None:
                continue
            before = holder[name]
            holder[name] = make()
            if isinstance(prop.get("maxLength"), int) and isinstance(holder[name], str):
                holder[name] = holder[name][: prop["maxLength"]]
            if not compiled.is_valid(value):
                holder[name] = before


_NONE = object()


def _fill_defaults(root: Any, value: Any, schema: Any, compiled: Compiled, depth: int = 0) -> None:
    """Optional properties with a `default` or `const` present, as a server that
    serializes its model writes them (`token_type: Bearer`), each kept only if valid."""
    if depth > 8 or not isinstance(schema, dict) or not isinstance(value, dict | list):
        return
    if isinstance(value, list):
        for item in value:
            _fill_defaults(root, item, schema.get("items"), compiled, depth + 1)
        return
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        if name in value:
            _fill_defaults(root, value[name], prop, compiled, depth + 1)
            continue
        fixed = prop.get("const", prop.get("default", _NONE))
        if fixed is _NONE or fixed is None:
            continue
        value[name] = fixed
        if not compiled.is_valid(root):
            del value[name]


def _walk(schema: Any, path: list[Any]) -> Any:
    for part in path:
        try:
            schema = schema[part]
        except (KeyError, IndexError, TypeError):
            return None
    return schema


def _assign(value: Any, path: list[Any], new: Any) -> bool:
    node = value
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return False
    try:
        node[path[-1]] = new
    except (KeyError, IndexError, TypeError):
        return False
    return True


def merge_all_of(schema: Any) -> Any:
    """`schema` with each allOf merged into its parent (hypothesis-jsonschema's merge)."""
    if isinstance(schema, list):
        return [merge_all_of(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        k: merge_all_of(v) if k not in ("enum", "const", "examples") else v
        for k, v in schema.items()
    }
    if isinstance(out.get("allOf"), list):
        from hypothesis_jsonschema._canonicalise import merged

        rest = {k: v for k, v in out.items() if k != "allOf"}
        combined = merged([rest, *out["allOf"]])
        if combined is not None:
            return combined
    return out


Named = tuple[dict[str, Any], str, dict[str, Any], tuple[Any, str]]


def _named_strings(value: Any, schema: Any, depth: int = 0, held_as: str = "") -> Iterator[Named]:
    """(object, property name, property schema, (object's schema, the property holding
    it)) for free-text string and plain number properties."""
    if depth > 8 or not isinstance(schema, dict):
        return
    for part in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(part) or ():
            yield from _named_strings(value, sub, depth + 1, held_as)
    if isinstance(value, list):
        for item in value:
            yield from _named_strings(item, schema.get("items"), depth + 1, held_as)
        return
    if not isinstance(value, dict):
        return
    for name, prop in (schema.get("properties") or {}).items():
        if name not in value or not isinstance(prop, dict):
            continue
        free = not ({"enum", "const", "pattern"} & set(prop))
        if (
            isinstance(value[name], str)
            and free
            and prop.get("format") in (None, "date-time", "date")
        ) or (isinstance(value[name], int | float) and free and "multipleOf" not in prop):
            yield value, name, prop, (schema, held_as)
        elif _is_text_list(value[name], prop):
            # authors: ["...", "..."] -> each one a name, as `author` would be
            singular = name[:-1] if name.endswith("s") else name
            for index in range(len(value[name])):
                yield _Slot(value[name], index), singular, prop["items"], (schema, held_as)
        elif isinstance(value[name], dict | list):
            yield from _named_strings(value[name], prop, depth + 1, name)


def _is_text_list(value: Any, prop: dict[str, Any]) -> bool:
    items = prop.get("items")
    return (
        isinstance(value, list)
        and all(isinstance(v, str) for v in value)
        and isinstance(items, dict)
        and not ({"enum", "const", "pattern", "format"} & set(items))
    )


class _Slot(dict):  # type: ignore[type-arg]
    """One list element seen as `holder[name]`, so lists take the same realistic touch."""

    def __init__(self, items: list[Any], index: int) -> None:
        super().__init__()
        self._items, self._index = items, index

    def __getitem__(self, name: str) -> Any:
        return self._items[self._index]

    def __setitem__(self, name: str, value: Any) -> None:
        self._items[self._index] = value


def _short(schema: Any) -> str:
    text = repr(schema)
    return text if len(text) < 120 else text[:117] + "..."
