"""The shared (SQLite) journal answers as the in-memory ring does: the same
entries after any `since`, the same `missed`, counters and sequence numbers,
through evictions in batches and clears."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy.test import tflow

from mocks.fault_engine import RuleSet
from mocks.fault_rules import FaultRule
from mocks.journal import Journal, JournalEntry
from mocks.notes import note
from mocks.shared_journal import EVICT_EVERY, SharedJournal
from mocks.shared_state import share_state
from mocks.sqlite_store import SqliteStateStore
from mocks.state import MockState


@settings(max_examples=40, deadline=None)
@given(
    capacity=st.integers(min_value=1, max_value=80),
    before_clear=st.integers(min_value=0, max_value=150),
    after_clear=st.none() | st.integers(min_value=0, max_value=150),
    since=st.integers(min_value=0, max_value=300),
    limit=st.none() | st.integers(min_value=0, max_value=20),
    batch=st.integers(min_value=1, max_value=70),
)
def test_the_shared_journal_answers_as_the_ring_does(
    capacity: int,
    before_clear: int,
    after_clear: int | None,
    since: int,
    limit: int | None,
    batch: int,
) -> None:
    """Recorded one at a time into the ring and in group commits of `batch` flows
    into the store (a batch may cross an eviction or the capacity)."""
    flow = tflow.tflow(resp=True)

    async def record_in_batches(journal: SharedJournal, count: int) -> None:
        for start in range(0, count, batch):
            waits = [journal.record_soon(flow) for _ in range(min(batch, count - start))]
            await asyncio.gather(*[w for w in waits if w is not None])

    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStateStore(Path(folder) / "s.db", durable=False)
        ring, shared = Journal(capacity), SharedJournal(store, capacity)
        for _ in range(before_clear):
            ring.record(flow)
        asyncio.run(record_in_batches(shared, before_clear))
        if after_clear is not None:
            ring.clear()
            shared.clear()
            for _ in range(after_clear):
                ring.record(flow)
            asyncio.run(record_in_batches(shared, after_clear))
        (ring_entries, ring_missed), (entries, missed) = (
            ring.since(since, limit),
            shared.since(since, limit),
        )
        assert [e.seq for e in entries] == [e.seq for e in ring_entries]
        assert missed == ring_missed
        assert [e.to_json() | {"duration_ms": 0} for e in entries] == [
            e.to_json() | {"duration_ms": 0} for e in ring_entries
        ]
        assert (shared.last_seq, shared.counters) == (ring.last_seq, ring.counters)
        rows = store.read_one("SELECT COUNT(*) FROM journal")
        assert rows <= capacity + EVICT_EVERY + batch  # the ring's rows are dropped
        store.close()


def test_an_entry_from_before_a_reset_is_not_kept(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "s.db")
    journal = SharedJournal(store)
    flow = tflow.tflow(resp=True)
    assert journal.record(flow) is not None  # epoch 0, as the flow's note says
    store.next_epoch()  # another worker reset the mock while this flow ran
    assert journal.record(flow) is None
    assert journal.last_seq == 1


def test_a_batch_keeps_the_entries_begun_after_a_reset_and_counts_each(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "s.db")
    journal = SharedJournal(store)
    stale, fresh = tflow.tflow(resp=True), [tflow.tflow(resp=True) for _ in range(3)]
    fresh[1].response.status_code = 503  # type: ignore[union-attr]

    async def answer_all() -> None:
        waits = [journal.record_soon(stale)]  # began before the reset below
        store.next_epoch()  # another worker reset the mock
        for flow in fresh:
            note(flow).epoch = store.epoch()
            waits.append(journal.record_soon(flow))
        await asyncio.gather(*[w for w in waits if w is not None])

    asyncio.run(answer_all())
    entries, _ = journal.since(0)
    assert [e.status for e in entries] == [200, 503, 200]
    assert [e.seq for e in entries] == [1, 2, 3]
    assert journal.counters["requests"] == 3
    assert (journal.counters["status_5xx"], journal.counters["status_2xx"]) == (1, 2)


def test_a_reset_keeps_what_another_worker_journals_and_adds_while_it_runs(
    tmp_path: Path,
) -> None:
    """A reset on one worker while another journals a request begun after the reset's
    new epoch (and adds a rule): both belong to the new run and must survive the reset.
    They did not when the reset cleared the journal and rules after moving the epoch."""
    state = share_state(MockState(), SqliteStateStore(tmp_path / "s.db"))
    other_store = SqliteStateStore(tmp_path / "s.db")  # the other worker's connection
    other_journal, other_rules = SharedJournal(other_store), RuleSet(store=other_store)
    before = tflow.tflow(resp=True)
    assert state.journal.record(before) is not None  # the last run's: the reset drops it
    state.faults.add(FaultRule.model_validate({"action": {"type": "status", "status": 500}}))
    during = tflow.tflow(resp=True)
    recorded: list[JournalEntry | None] = []

    def other_worker() -> None:  # runs inside the reset, once the epoch has moved
        note(during).epoch = other_store.epoch()  # this flow began in the new run
        recorded.append(other_journal.record(during))
        other_rules.add(FaultRule.model_validate({"action": {"type": "status", "status": 503}}))

    state.on_reset.append(other_worker)
    state.reset()
    (kept,) = recorded
    assert kept is not None  # the store took it as the new run's
    entries, _ = state.journal.since(0)
    assert [e.seq for e in entries] == [kept.seq]
    assert state.journal.counters["requests"] == 1
    assert [r["rule"]["action"]["status"] for r in state.faults.describe()] == [503]


def test_flows_answered_in_one_turn_of_the_loop_are_recorded_in_one_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStateStore(tmp_path / "s.db", durable=False)
    journal = SharedJournal(store)
    commits: list[int] = []
    write = store.write

    def counted_write(*, quiet: bool = False) -> Any:
        commits.append(1)
        return write(quiet=quiet)

    monkeypatch.setattr(store, "write", counted_write)
    flows = [tflow.tflow(resp=True) for _ in range(5)]
    for n, flow in enumerate(flows):
        flow.request.path = f"/v1/products/p-{n}"

    async def answer_all() -> int:
        waits = [journal.record_soon(flow) for flow in flows]
        before = journal.last_seq  # nothing written yet: the flows wait for one commit
        await asyncio.gather(*[w for w in waits if w is not None])
        return before

    assert asyncio.run(answer_all()) == 0
    assert commits == [1]
    entries, missed = journal.since(0)
    assert [(e.seq, e.path) for e in entries] == [(n + 1, f"/v1/products/p-{n}") for n in range(5)]
    assert (missed, journal.counters["requests"]) == (0, 5)
    assert journal.record_soon(tflow.tflow(resp=True)) is None  # no loop: recorded at once
    assert journal.last_seq == 6
