"""Awkward but valid values from a document's own schema, for R17 on any API.

Starting from a valid answer of the operation, each property is made as awkward
as its schema allows, the whole answer checked against the schema after every
change (a change that breaks it is undone): nulls where nullable, many decimals
and integers where a number is asked, unicode text, a date-time with an offset
and milliseconds, absent optional fields, and an unknown field where
`additionalProperties` allows one. `differences` then says what a client lost.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

TEXT = 'Kaffeemühle «Grand Café» ☕ 𝄞 日本語 "quoted" \\ back\nslash'
DATE_TIME = "2026-03-01T12:00:00.250+05:30"
NUMBERS = (3.14159265358979, 20, 1234567.89, 0.1)
EXTRA = "x_harness_unknown"
MAX_DEPTH = 6


def merged(schema: Any) -> dict[str, Any]:
    """An object schema with its allOf branches' properties and required merged in."""
    if not isinstance(schema, dict):
        return {}
    out = {k: v for k, v in schema.items() if k != "allOf"}
    properties = dict(out.get("properties") or {})
    required = list(out.get("required") or [])
    for branch in schema.get("allOf") or []:
        part = merged(branch)
        properties |= part.get("properties") or {}
        required += part.get("required") or []
        for key, value in part.items():
            out.setdefault(key, value)
    out["properties"], out["required"] = properties, required
    return out


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if isinstance(kind, str) else set()


class Awkward:
    """Makes `body` awkward in place, keeping `valid(whole body)` true."""

    def __init__(self, body: Any, valid: Callable[[Any], bool]) -> None:
        self.body = copy.deepcopy(body)
        self._valid = valid
        self._numbers = 0
        self.changed: list[str] = []

    def run(self, schema: Any) -> Any:
        self._visit(self.body, merged(schema), "", 0)
        return self.body

    def _try(self, holder: dict[str, Any], key: str, value: Any, what: str) -> bool:
        missing = key not in holder
        before = holder.get(key)
        if value is _ABSENT:
            holder.pop(key, None)
        else:
            holder[key] = value
        if self._valid(self.body):
            self.changed.append(what)
            return True
        if missing:
            holder.pop(key, None)
        else:
            holder[key] = before
        return False

    def _visit(self, value: Any, schema: dict[str, Any], where: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(value, list):
            item = merged(schema.get("items"))
            if value:
                self._visit(value[0], item, f"{where}[0]", depth + 1)
            return
        if not isinstance(value, dict):
            return
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        for key, raw in properties.items():
            prop = merged(raw)
            here = f"{where}.{key}" if where else key
            if key in value and isinstance(value[key], dict | list):
                self._visit(value[key], prop, here, depth + 1)
                continue
            self._property(value, key, prop, key in required, here)
        if schema.get("additionalProperties") is not False:
            named = f"{where}.{EXTRA}" if where else EXTRA
            self._try(value, EXTRA, {"nested": [1, None, "ü"]}, f"{named} (unknown)")

    def _property(
        self, holder: dict[str, Any], key: str, schema: dict[str, Any], required: bool, here: str
    ) -> None:
        types = _types(schema)
        if "null" in types and self._try(holder, key, None, f"{here} = null"):
            return
        if "number" in types:
            for _ in NUMBERS:
                number = NUMBERS[self._numbers % len(NUMBERS)]
                self._numbers += 1
                if self._try(holder, key, number, f"{here} = {number!r}"):
                    return
        elif "integer" in types:
            big = 2**31 - 1 if schema.get("format") == "int32" else 2**53 - 1
            if self._try(holder, key, big, f"{here} = {big}"):
                return
        elif "string" in types and schema.get("format") == "date-time":
            if self._try(holder, key, DATE_TIME, f"{here} = {DATE_TIME}"):
                return
        elif "string" in types and not ({"format", "pattern", "enum"} & set(schema)):
            top = schema.get("maxLength")
            text = TEXT[: int(top)] if isinstance(top, int) else TEXT
            if self._try(holder, key, text, f"{here} = unicode text"):
                return
        if not required and key in holder:
            self._try(holder, key, _ABSENT, f"{here} absent")


_ABSENT = object()


def differences(sent: Any, reported: Any, where: str) -> list[str]:
    """What the client lost or changed: same keys, exact numbers, the same instants
    with an offset, the same text. Unknown fields may be dropped; a null may come
    back absent."""
    if isinstance(sent, dict):
        if not isinstance(reported, dict):
            return [f"{where} became {type(reported).__name__}"]
        losses = []
        for key, value in sent.items():
            if key == EXTRA:
                continue
            if key not in reported:
                if value is not None:
                    losses.append(f"{where}.{key} is missing")
                continue
            losses += differences(value, reported[key], f"{where}.{key}")
        return losses
    if isinstance(sent, list):
        if not isinstance(reported, list) or len(reported) != len(sent):
            size = len(reported) if isinstance(reported, list) else "no"
            return [f"{where} has {size} items, not {len(sent)}"]
        return [
            loss
            for i, (a, b) in enumerate(zip(sent, reported, strict=True))
            for loss in differences(a, b, f"{where}[{i}]")
        ]
    if isinstance(sent, bool) or sent is None or isinstance(sent, str):
        if isinstance(sent, str) and sent == DATE_TIME and sent != reported:
            return date_loss(sent, reported, where)
        return (
            []
            if sent == reported and type(sent) is type(reported)
            else [f"{where} was {sent!r}, reported {reported!r}"]
        )
    if isinstance(sent, int | float):
        return (
            [] if same_number(sent, reported) else [f"{where} was {sent!r}, reported {reported!r}"]
        )
    return []


def same_number(sent: float, reported: Any) -> bool:
    """The same decimal value, whatever its JSON spelling (1.0 and 1 are the same)."""
    if isinstance(reported, bool) or not isinstance(reported, int | float):
        return False
    return Decimal(repr(sent)) == Decimal(repr(reported))


def date_loss(sent: str, reported: Any, where: str) -> list[str]:
    try:
        moment = datetime.fromisoformat(str(reported))
    except ValueError:
        return [f"{where} is not an RFC 3339 date: {reported!r}"]
    if moment.tzinfo is None:
        return [f"{where} lost its offset: {reported!r} (was {sent!r})"]
    if moment != datetime.fromisoformat(sent):
        return [f"{where} is another instant: {reported!r} (was {sent!r})"]
    return []
