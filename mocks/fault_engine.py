"""Choosing the fault for a request: ordered rules, counters, seeded randomness.

Pure logic: the caller says what the request looks like and gets back the
rule to apply, if any. Parsing happens once when a rule is added, never per
request.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mocks.fault_rules import FaultRule

Clock = Callable[[], float]


@dataclass
class ActiveRule:
    rule: FaultRule
    id: str
    path: re.Pattern[str]
    rng: random.Random
    added_at: float
    matches: int = 0
    hits: int = 0
    delays: random.Random = field(default_factory=random.Random)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule.model_dump(exclude_none=True) | {"id": self.id},
            "matches": self.matches,
            "hits": self.hits,
        }


@dataclass(frozen=True)
class RequestView:
    method: str
    path: str
    operation: str | None
    headers: Mapping[str, str]
    role: str | None = None


class RuleSet:
    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._rules: list[ActiveRule] = []
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._rules)

    def add(self, rule: FaultRule) -> str:
        taken = {r.id for r in self._rules}
        if rule.id is not None and rule.id in taken:
            raise ValueError(f"a fault rule with id {rule.id!r} exists already")
        rule_id = rule.id
        while rule_id is None or rule_id in taken:
            self._next_id += 1
            rule_id = f"f{self._next_id}"
        seed = rule.select.seed
        self._rules.append(
            ActiveRule(
                rule=rule,
                id=rule_id,
                path=rule.match.compiled(),
                rng=random.Random(seed),
                delays=random.Random(None if seed is None else seed + 1),
                added_at=self._clock(),
            )
        )
        return rule_id

    def replace(self, rules: list[FaultRule]) -> None:
        """All of `rules` instead of the current ones, or (on ValueError) no change."""
        trial = RuleSet(self._clock)
        for rule in rules:
            trial.add(rule)
        self._rules, self._next_id = trial._rules, trial._next_id

    def remove(self, rule_id: str) -> bool:
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != rule_id]
        return len(self._rules) != before

    def clear(self) -> None:
        self._rules = []

    def describe(self) -> list[dict[str, Any]]:
        return [r.describe() for r in self._rules]

    def choose(self, request: RequestView) -> ActiveRule | None:
        """The first rule that matches and selects this request; counts both."""
        for active in self._rules:
            if _matches(active, request) and _selects(active, self._clock()):
                active.hits += 1
                return active
        return None


def _matches(active: ActiveRule, request: RequestView) -> bool:
    match = active.rule.match
    if match.methods is not None and request.method.upper() not in match.methods:
        return False
    if match.operation == "*":
        if request.operation is None:
            return False
    elif match.operation is not None and match.operation != request.operation:
        return False
    if match.role is not None and request.role not in match.roles:
        return False
    if not active.path.match(request.path):
        return False
    return all(request.headers.get(k) == v for k, v in match.headers.items())


def _selects(active: ActiveRule, now: float) -> bool:
    select = active.rule.select
    active.matches += 1
    if select.expires_after_s is not None and now - active.added_at > select.expires_after_s:
        return False
    if select.times is not None and active.hits >= select.times:
        return False
    counted = active.matches - select.after
    if counted <= 0:
        return False
    if select.every is not None and counted % select.every != 0:
        return False
    # Drawn only for requests that passed the rest, so a seed gives the same run twice.
    return select.probability is None or active.rng.random() < select.probability
