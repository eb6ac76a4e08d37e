"""What a conformance scenario concludes about a client, and why."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not-applicable"
    # The client broke the adapter protocol, went silent, could not log in, or the
    # run's time bound was reached: no verdict on the rule itself.
    UNJUDGED = "could-not-be-judged"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    authority: str


@dataclass(frozen=True)
class Attempt:
    """One request as the server saw it, placed in time for the report's picture."""

    at_s: float  # since the first request in the evidence
    duration_s: float
    operation: str
    status: int | None  # None: no response (reset, hang, close)
    label: str  # what happened, in a few words

    def to_json(self) -> dict[str, Any]:
        return {
            "at_s": round(self.at_s, 4),
            "duration_s": round(self.duration_s, 4),
            "operation": self.operation,
            "status": self.status,
            "label": self.label,
        }


@dataclass(frozen=True)
class Evidence:
    """What decided a verdict: lines a developer reads, and the attempts in time.

    A rule judged in parts (R5, R9, R10, ...) keeps each part's own evidence in
    `parts`, each with its `title`; `lines` then reads them all in order, under
    their titles, and `timeline` is empty (the parts' times are not comparable).
    """

    lines: tuple[str, ...] = ()
    timeline: tuple[Attempt, ...] = ()
    title: str = ""
    parts: tuple[Evidence, ...] = ()

    @staticmethod
    def of_entries(entries: list[dict[str, Any]], title: str = "") -> Evidence:
        # The journal lists entries as they finish; evidence reads in the order they began.
        entries = sorted(entries, key=lambda e: e["started_at"])
        t0 = entries[0]["started_at"] if entries else 0.0
        return Evidence(
            tuple(describe(e, t0) for e in entries),
            tuple(attempt(e, t0) for e in entries),
            title,
        )

    @staticmethod
    def of_parts(parts: Iterable[Evidence]) -> Evidence:
        kept = tuple(p for p in parts if p.lines or p.timeline)
        if len(kept) == 1:
            return kept[0]
        lines = tuple(
            line
            for part in kept
            for line in ((f"-- {part.title} --",) if part.title else ()) + part.lines
        )
        return Evidence(lines, (), "", kept)

    def titled(self, title: str) -> Evidence:
        return Evidence(self.lines, self.timeline, title, self.parts)

    def with_lines(self, lines: Sequence[str], *, first: bool = True) -> Evidence:
        """The same evidence with more lines, before (or after) its own."""
        more = tuple(lines)
        combined = more + self.lines if first else self.lines + more
        return Evidence(combined, self.timeline, self.title, self.parts)

    def sections(self) -> tuple[Evidence, ...]:
        """What a report shows: each part, or the evidence itself when it has none."""
        return self.parts or (self,)

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "evidence": list(self.lines),
            "timeline": [a.to_json() for a in self.timeline],
        }


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    outcome: Outcome
    summary: str  # one sentence (or a few) a client developer understands
    evidence: Evidence = field(default_factory=Evidence)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "title": self.rule.title,
            "authority": self.rule.authority,
            "outcome": self.outcome.value,
            "summary": self.summary,
            "evidence": list(self.evidence.lines),
            "parts": [part.to_json() for part in self.evidence.sections()],
        }


def judged(
    rule: Rule,
    problems: Sequence[str],
    passed: str,
    evidence: Evidence = Evidence(),
) -> Verdict:
    """FAIL naming every problem found, or PASS with `passed`."""
    if problems:
        unique = list(dict.fromkeys(problems))
        return Verdict(rule, Outcome.FAIL, " ".join(_sentence(p) for p in unique), evidence)
    return Verdict(rule, Outcome.PASS, passed, evidence)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


SLOW_MS = 100  # evidence names how long an attempt took from this long on


def describe(entry: dict[str, Any], t0: float) -> str:
    """One journal entry as an evidence line: time, request, outcome, token."""
    at = entry["started_at"] - t0
    status = entry["status"] if entry["status"] is not None else f"no response ({entry['error']})"
    if entry.get("code"):
        status = f"{status} {entry['code']}"
    parts = [f"+{at:7.3f}s", f"#{entry['seq']}", entry["method"], entry["path"], f"-> {status}"]
    if entry["duration_ms"] >= SLOW_MS:
        parts.append(f"after {entry['duration_ms'] / 1000:.2f} s")
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


def attempt(entry: dict[str, Any], t0: float) -> Attempt:
    status = entry["status"]
    label = str(status) if status is not None else f"no response ({entry['error']})"
    if entry.get("fault"):
        label += f" [fault {entry['fault']['action']}]"
    return Attempt(
        at_s=entry["started_at"] - t0,
        duration_s=entry["duration_ms"] / 1000,
        operation=entry["operation"] or entry["path"],
        status=status,
        label=label,
    )
