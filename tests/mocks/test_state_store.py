"""The state store: memory and SQLite give the same selections, and SQLite's
counters stay exact when several processes choose at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mocks.fault_engine import RequestView, RuleSet
from mocks.fault_rules import FaultRule
from mocks.sqlite_store import SqliteStateStore
from mocks.state_store import MemoryStateStore, StateStore

GET = RequestView("GET", "/v1/products/p1", "getProduct", {})


def rule(**fields: Any) -> FaultRule:
    fields.setdefault("action", {"type": "status", "status": 503})
    return FaultRule.model_validate(fields)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    made: StateStore = (
        MemoryStateStore() if request.param == "memory" else SqliteStateStore(tmp_path / "s.db")
    )
    yield made
    made.close()


def pattern(rules: RuleSet, n: int) -> list[str | None]:
    return [c.id if (c := rules.choose(GET)) else None for _ in range(n)]


def test_both_stores_select_alike(store: StateStore) -> None:
    rules = RuleSet(store=store)
    rules.add(rule(id="two", select={"times": 2}))
    rules.add(rule(id="third", select={"after": 1, "every": 2}))
    # "third" counts only the matches "two" declined: the 3rd request on.
    assert pattern(rules, 8) == ["two", "two", None, None, "third", None, "third", None]
    assert [(d["id"], d["matches"], d["hits"]) for d in rules.describe()] == [
        ("two", 8, 2),
        ("third", 6, 2),
    ]


def test_a_second_rule_set_on_the_store_sees_rules_and_counters(store: StateStore) -> None:
    """What a second worker sees: the rule another added, its counters, its removal."""
    first, second = RuleSet(store=store), RuleSet(store=store)
    first.add(rule(id="once", select={"times": 1}))
    assert second.choose(GET) is not None
    assert first.choose(GET) is None  # the one hit was second's
    assert second.add(rule()) == "f1"
    with pytest.raises(ValueError, match="exists already"):
        second.add(rule(id="once"))
    assert first.remove("once")
    assert len(second) == 1
    second.clear()
    assert len(first) == 0


def test_seeded_draws_follow_one_sequence_across_rule_sets(store: StateStore) -> None:
    """Two workers taking turns draw the seeded sequence one worker would."""
    alone = RuleSet()
    alone.add(rule(id="p", select={"probability": 0.5, "seed": 7}))
    expected = pattern(alone, 40)
    workers = [RuleSet(store=store), RuleSet(store=store)]
    workers[0].add(rule(id="p", select={"probability": 0.5, "seed": 7}))
    taken = [c.id if (c := workers[i % 2].choose(GET)) else None for i in range(40)]
    assert taken == expected
    assert None in taken
    assert "p" in taken


def test_seeded_delays_follow_one_sequence_across_rule_sets(store: StateStore) -> None:
    spec = {
        "action": {"type": "delay"},
        "delay": {"type": "lognormal", "median_ms": 50, "sigma": 1.0},
        "select": {"seed": 3},
    }
    alone = RuleSet()
    alone.add(rule(**spec))
    workers = [RuleSet(store=store), RuleSet(store=store)]
    workers[0].add(rule(**spec))
    expected = sampled([alone], 6)
    assert sampled(workers, 6) == expected
    assert len(set(expected)) == 6


def sampled(turns: list[RuleSet], n: int) -> list[float]:
    """The delays the rule sets sample taking turns, as Faults samples them."""
    got = []
    for i in range(n):
        active = turns[i % len(turns)].choose(GET)
        assert active is not None
        assert active.rule.delay is not None
        got.append(active.rule.delay.sample(active.delays))
    return got


def test_replace_restarts_the_counters(store: StateStore) -> None:
    rules = RuleSet(store=store)
    rules.add(rule(id="r", select={"times": 1}))
    pattern(rules, 2)
    rules.replace([rule(id="r", select={"times": 1})])
    assert pattern(rules, 2) == ["r", None]


def test_the_sqlite_store_keeps_rules_and_counters_across_opening(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = SqliteStateStore(path)
    RuleSet(store=first).add(rule(id="r", select={"times": 2}))
    RuleSet(store=first).choose(GET)
    first.close()
    again = RuleSet(store=SqliteStateStore(path))
    assert pattern(again, 3) == ["r", None, None]


def test_the_sqlite_store_is_private_to_its_user(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "s.db")
    RuleSet(store=store).add(rule())
    for made in tmp_path.iterdir():
        assert made.stat().st_mode & 0o077 == 0, made
    store.close()


def test_the_sqlite_store_is_in_wal_mode(tmp_path: Path) -> None:
    SqliteStateStore(tmp_path / "s.db").close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _choose_many(path: str, n: int, start: Any) -> int:
    rules = RuleSet(store=SqliteStateStore(path))
    start.wait()
    return sum(1 for _ in range(n) if rules.choose(GET) is not None)


def test_counters_are_exact_when_processes_choose_at_once(tmp_path: Path) -> None:
    """Four processes, 400 choices each, one rule with times 100: exactly 100 hits,
    and every match counted (a read-modify-write outside one transaction loses some)."""
    path = str(tmp_path / "s.db")
    store = SqliteStateStore(path)
    RuleSet(store=store).add(rule(id="r", select={"times": 100}))
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(4) as pool:
        start = manager.Barrier(4)  # all four choose at once, not one after another
        pending = [pool.apply_async(_choose_many, (path, 400, start)) for _ in range(4)]
        hits = [p.get(timeout=120) for p in pending]
    assert sum(hits) == 100
    (described,) = RuleSet(store=store).describe()
    assert (described["matches"], described["hits"]) == (1600, 100)


def test_what_a_worker_caches_follows_another_workers_change_at_once(tmp_path: Path) -> None:
    """Marks and sessions are read again only after a signalled change: the very next
    read after another worker's reset, logout or expiry sees it; journal rows (under
    load, one per request) signal nothing and leave the caches in place."""
    from mitmproxy.test import tflow

    from mocks.settings import MockSettings
    from mocks.shared_journal import SharedJournal
    from mocks.shared_tokens import SharedClock, SharedTokenService
    from mocks.tokens import TokenState

    mine, theirs = (SqliteStateStore(tmp_path / "s.db", durable=False) for _ in range(2))
    tokens = [SharedTokenService(SharedClock(s), MockSettings(), s) for s in (mine, theirs)]
    issued = tokens[1].start_session("u-1")
    assert tokens[0].check_access(issued.access_token).state is TokenState.VALID
    assert mine.sync_marks().epoch == 0
    seen = mine.signal.value()
    SharedJournal(theirs).record(tflow.tflow(resp=True))
    assert mine.signal.value() == seen  # a journal row: nothing cached changed
    tokens[1].logout(issued.session_id)
    assert tokens[0].check_access(issued.access_token).state is TokenState.REVOKED
    again = tokens[1].start_session("u-2")
    assert tokens[0].check_access(again.access_token).state is TokenState.VALID
    tokens[1].expire_all()
    assert tokens[0].check_access(again.access_token).state is TokenState.EXPIRED
    theirs.next_epoch()
    assert mine.sync_marks().epoch == 1
    theirs.advance_clock(30)
    assert mine.sync_marks().clock_offset == 30
