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
from mocks.state_store import (
    MemoryStateStore,
    RuleCounts,
    RuleList,
    StateStore,
    StoredRule,
    new_rule_key,
)

Clock = Callable[[], float]


@dataclass
class ActiveRule:
    """A rule compiled for matching; its counters live in the state store."""

    rule: FaultRule
    id: str
    path: re.Pattern[str]
    rng: random.Random
    added_at: float
    key: str = ""
    delays: random.Random = field(default_factory=random.Random)
    # How many draws `rng` and `delays` have given: a seeded rule's next draw is the
    # one at the index the store counts, whichever worker took the ones before.
    drawn: int = 0
    sampled: int = 0

    def draw(self, index: int) -> float:
        """The `index`-th number of the rule's seeded sequence (any worker's)."""
        if self.rule.select.seed is None:
            return self.rng.random()
        if index < self.drawn:
            self.rng, self.drawn = random.Random(self.rule.select.seed), 0
        while self.drawn < index:
            self.rng.random()
            self.drawn += 1
        self.drawn += 1
        return self.rng.random()

    def seek_delay(self, index: int) -> None:
        """Position `delays` so the caller's next sample is the `index`-th one."""
        seed, delay = self.rule.select.seed, self.rule.delay
        if seed is None or delay is None:
            return
        if index < self.sampled:
            self.delays, self.sampled = random.Random(seed + 1), 0
        while self.sampled < index:
            delay.sample(self.delays)
            self.sampled += 1
        self.sampled += 1  # the sample the caller takes next


@dataclass(frozen=True)
class RequestView:
    method: str
    path: str
    operation: str | None
    headers: Mapping[str, str]
    role: str | None = None


class RuleSet:
    """The ordered fault rules. The list and its counters live in a `StateStore`
    (in memory by default; shared by worker processes in SQLite); this keeps
    the compiled rules and refreshes them when the store's version moves."""

    def __init__(self, clock: Clock = time.time, store: StateStore | None = None) -> None:
        self._clock = clock
        self.store: StateStore = store or MemoryStateStore()
        self._version = -1
        self._rules: list[ActiveRule] = []
        self._compiled: dict[str, ActiveRule] = {}

    def _sync(self) -> list[ActiveRule]:
        if self.store.rules_version() != self._version:
            listed = self.store.rules()
            known = self._compiled
            self._compiled = {
                r.key: known.get(r.key) or _compile(r, FaultRule.model_validate(r.rule))
                for r in listed.rules
            }
            self._rules = [self._compiled[r.key] for r in listed.rules]
            self._version = listed.version
        return self._rules

    def __len__(self) -> int:
        return len(self._sync())

    def add(self, rule: FaultRule) -> str:
        key = new_rule_key()
        added: list[StoredRule] = []

        def edit(current: RuleList) -> RuleList:
            added.clear()
            stored, next_id = _stored(rule, key, current, self._clock())
            added.append(stored)
            return RuleList(current.version, (*current.rules, stored), next_id)

        self.store.edit_rules(edit)
        self._compiled[key] = _compile(added[0], rule)
        return added[0].id

    def replace(self, rules: list[FaultRule]) -> None:
        """All of `rules` instead of the current ones, or (on ValueError) no change."""
        fresh = [(new_rule_key(), rule) for rule in rules]

        def edit(current: RuleList) -> RuleList:
            listed = RuleList(current.version, (), 0)
            for key, rule in fresh:
                stored, next_id = _stored(rule, key, listed, self._clock())
                listed = RuleList(listed.version, (*listed.rules, stored), next_id)
            return listed

        self.store.edit_rules(edit)

    def remove(self, rule_id: str) -> bool:
        removed = [False]

        def edit(current: RuleList) -> RuleList:
            kept = tuple(r for r in current.rules if r.id != rule_id)
            removed[0] = len(kept) != len(current.rules)
            return RuleList(current.version, kept, current.next_id)

        self.store.edit_rules(edit)
        return removed[0]

    def clear(self) -> None:
        self.store.edit_rules(lambda current: RuleList(current.version, (), current.next_id))

    def describe(self) -> list[dict[str, Any]]:
        rules = self._sync()
        counts = self.store.counts([r.key for r in rules])
        return [
            {
                "id": r.id,
                "rule": r.rule.model_dump(exclude_none=True) | {"id": r.id},
                "matches": counts[r.key].matches,
                "hits": counts[r.key].hits,
            }
            for r in rules
        ]

    def choose(self, request: RequestView) -> ActiveRule | None:
        """The first rule that matches and selects this request; counts both, in one
        atomic step of the store (one write transaction, whatever the worker)."""
        candidates = [active for active in self._sync() if _matches(active, request)]
        if not candidates:
            return None
        now = self._clock()
        with self.store.counters() as counters:
            for active in candidates:
                counts = counters.get(active.key)
                selected = _selects(active, counts, now)
                if selected:
                    counts.hits += 1
                    if active.rule.delay is not None:
                        active.seek_delay(counts.delays)
                        counts.delays += 1
                counters.put(active.key, counts)
                if selected:
                    return active
        return None


def _stored(rule: FaultRule, key: str, current: RuleList, now: float) -> tuple[StoredRule, int]:
    """The rule as stored, with its id (given, or the next free `fN`), and the next id."""
    taken = {r.id for r in current.rules}
    if rule.id is not None and rule.id in taken:
        raise ValueError(f"a fault rule with id {rule.id!r} exists already")
    rule_id, next_id = rule.id, current.next_id
    while rule_id is None or rule_id in taken:
        next_id += 1
        rule_id = f"f{next_id}"
    return StoredRule(rule_id, key, rule.model_dump(mode="json"), now), next_id


def _compile(stored: StoredRule, rule: FaultRule) -> ActiveRule:
    seed = rule.select.seed
    return ActiveRule(
        rule=rule,
        id=stored.id,
        key=stored.key,
        path=rule.match.compiled(),
        rng=random.Random(seed),
        delays=random.Random(None if seed is None else seed + 1),
        added_at=stored.added_at,
    )


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


def _selects(active: ActiveRule, counts: RuleCounts, now: float) -> bool:
    select = active.rule.select
    counts.matches += 1
    if select.expires_after_s is not None and now - active.added_at > select.expires_after_s:
        return False
    if select.times is not None and counts.hits >= select.times:
        return False
    counted = counts.matches - select.after
    if counted <= 0:
        return False
    if select.every is not None and counted % select.every != 0:
        return False
    # Drawn only for requests that passed the rest, so a seed gives the same run twice.
    if select.probability is None:
        return True
    counts.draws += 1
    return active.draw(counts.draws - 1) < select.probability
