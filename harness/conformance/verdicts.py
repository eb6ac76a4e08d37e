"""What a conformance scenario concludes about a client, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not-applicable"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    authority: str


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    outcome: Outcome
    summary: str  # one sentence a client developer understands
    evidence: tuple[str, ...] = field(default=())  # the journal lines and timings that decided

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "title": self.rule.title,
            "authority": self.rule.authority,
            "outcome": self.outcome.value,
            "summary": self.summary,
            "evidence": list(self.evidence),
        }


def describe(entry: dict[str, Any], t0: float) -> str:
    """One journal entry as an evidence line: time, request, outcome, token."""
    at = entry["started_at"] - t0
    status = entry["status"] if entry["status"] is not None else f"no response ({entry['error']})"
    parts = [f"+{at:7.3f}s", f"#{entry['seq']}", entry["method"], entry["path"], f"-> {status}"]
    if entry.get("token_id"):
        parts.append(f"token {entry['token_id']} ({entry['token_state']})")
    if entry.get("idempotency_key"):
        parts.append(f"key {entry['idempotency_key'][:12]}")
    effect = entry.get("effect") or {}
    if effect.get("kind") == "refresh":
        parts.append(f"refresh {effect['from_refresh_token']} -> {effect['refresh_token']}")
    elif effect.get("kind") == "refresh_rejected":
        parts.append(f"refresh of {effect['refresh_token']} rejected ({effect['reason']})")
    elif effect.get("kind"):
        parts.append(str(effect["kind"]))
    if entry.get("fault"):
        parts.append(f"[fault {entry['fault']['action']}]")
    return " ".join(parts)
