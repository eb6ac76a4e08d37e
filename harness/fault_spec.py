"""Building a fault rule from the short forms people type (CLI, pytest marker)."""

from __future__ import annotations

from typing import Any

from mocks.fault_rules import FaultRule, parse_header_fault

_SELECT_KEYS = ("times", "after", "every", "probability", "seed", "expires_after_s")


def build_rule(
    action: str | dict[str, Any],
    *,
    path: str | None = None,
    methods: list[str] | None = None,
    operation: str | None = None,
    rule_id: str | None = None,
    **select: Any,
) -> FaultRule:
    """`action` is X-Harness-Fault syntax ('status;status=503;retry_after=2') or a whole
    rule as a dict; the keywords narrow the match and the selection. Raises ValueError
    (pydantic's ValidationError is one) with the reason."""
    unknown = set(select) - set(_SELECT_KEYS)
    if unknown:
        raise ValueError(f"unknown selection {', '.join(sorted(unknown))}; use {_SELECT_KEYS}")
    if isinstance(action, str):
        base = parse_header_fault(action).model_dump(exclude_none=True)
    else:
        base = dict(action)
    match = dict(base.get("match", {}))
    if path is not None:
        match["path"] = path
    if methods:
        match["methods"] = methods
    if operation is not None:
        match["operation"] = operation
    chosen = dict(base.get("select", {})) | {k: v for k, v in select.items() if v is not None}
    rule = base | {"match": match, "select": chosen}
    if rule_id is not None:
        rule["id"] = rule_id
    return FaultRule.model_validate(rule)
