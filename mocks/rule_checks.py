"""Fault rules judged against the API the mock serves: a rule whose operation,
role, methods and path together match none of its operations would never fire,
so the control API refuses it (400) and a scenario lists it under `warnings`.

The operations are the compiled document's (the demo's as any other: its
document and its configuration's roles).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from mocks.fault_rules import FaultRule


@dataclass(frozen=True)
class OperationView:
    operation_id: str
    method: str
    path: str  # the full path template, base path included
    role: str | None


def spec_operations(api: Any) -> tuple[OperationView, ...]:
    return tuple(
        OperationView(p.op.operation_id, p.op.method, api.base_path + p.op.path, p.role)
        for p in api.plans.values()
    )


def problem_for(state: Any, rule: FaultRule) -> str | None:
    """`rule_problem` for the API a mock's state serves (None: no API yet)."""
    spec = getattr(state, "spec", None)
    return None if spec is None else rule_problem(spec_operations(spec), rule)


def rule_problem(
    operations: tuple[OperationView, ...], rule: FaultRule, *, paths: bool = True
) -> str | None:
    """Why `rule` can match no operation (None: it can match one). `paths=False`
    judges only operation names and roles (the demo: its rules may aim at any path)."""
    match = rule.match
    found = list(operations)
    if match.operation is not None and match.operation != "*":
        found = [o for o in found if o.operation_id == match.operation]
        if not found:
            known = ", ".join(sorted(o.operation_id for o in operations))
            return f"no operation {match.operation!r}; the API has {known}"
    if match.roles:
        known_roles = {o.role for o in operations if o.role}
        unknown = [r for r in match.roles if r not in known_roles]
        if unknown:
            configured = ", ".join(sorted(known_roles)) or "none configured"
            return f"no operation has role {', '.join(unknown)}; roles: {configured}"
        found = [o for o in found if o.role in match.roles]
    if not paths and match.operation is None and not match.roles:
        return None
    if match.methods is not None:
        found = [o for o in found if o.method in match.methods]
    if paths and match.path not in ("*", "/*"):
        pattern = match.compiled()
        found = [
            o
            for o in found
            if pattern.match(re.sub(r"\{[^}]+\}", "x", o.path))
            or fnmatch.fnmatch(o.path, match.path)
            or _routes(o.path, match.path)
        ]
    if not found:
        return "its operation, role, methods and path together match no operation of the API"
    return None


def _routes(template: str, path: str) -> bool:
    """Whether a concrete path (no glob) is one the template serves:
    `/v1/products/prd_1` of `/v1/products/{id}`."""
    if any(c in path for c in "*?["):
        return False
    parts = re.split(r"\{[^}]+\}", template)
    return re.fullmatch("[^/]+".join(re.escape(p) for p in parts), path) is not None
