"""The journal of worker processes: one ordered record in the shared SQLite store.

`SharedJournal` has `Journal`'s interface; every entry is one row, numbered
inside the store's write transaction, so the sequence is one order whichever
worker recorded the request, and the control API of any worker reads all of it.
The ring keeps `capacity` entries; counters keep counting past it, as in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import fields
from typing import Any

from mitmproxy import http

from mocks.journal import DEFAULT_CAPACITY, Journal, JournalEntry, counted, entry_for
from mocks.notes import note
from mocks.sqlite_store import SqliteStateStore, set_meta

log = logging.getLogger(__name__)
_STORED_FIELDS = tuple(f.name for f in fields(JournalEntry) if f.name != "seq")
_NULLS: dict[str, Any] = dict.fromkeys(_STORED_FIELDS)
EVICT_EVERY = 64  # entries: the ring drops old rows in batches, one DELETE per batch
# A request's hooks run as tasks over several turns of the loop: waiting three turns
# gathers those answered at about the same time (3.7 -> 6.7 entries a commit with two
# workers under load, ~75-100 us a commit), and costs an answer three turns.
COMMIT_AFTER_TURNS = 3
_Pending = tuple[str, list[str], int]  # an entry's JSON, the counters it adds, its epoch


class SharedJournal(Journal):
    def __init__(self, store: SqliteStateStore, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self._store = store
        self._capacity = capacity
        self._pending: list[_Pending] = []
        self._committed: asyncio.Future[None] | None = None  # the pending batch's commit

    @property
    def capacity(self) -> int:
        return self._capacity

    def resize(self, capacity: int) -> None:
        self._capacity = capacity

    @property
    def last_seq(self) -> int:
        return self._store.read(_last_seq)

    @property
    def counters(self) -> Counter[str]:
        return Counter(dict(self._store.read_all("SELECT name, n FROM journal_counters")))

    @counters.setter
    def counters(self, value: Counter[str]) -> None:
        pass  # Journal.__init__ sets its own; ours live in the store

    def clear(self) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM journal")
            db.execute("DELETE FROM journal_counters")
            set_meta(db, journal_cleared_through=_last_seq(db))

    def record(self, flow: http.HTTPFlow) -> JournalEntry | None:
        stored, names, epoch = self._prepared(flow)
        with self._store.write(quiet=True) as db:
            seq = self._append(db, [(_compact(stored), names, epoch)])
        return None if seq is None else _with_seq(stored, seq)

    def record_soon(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """Group commit: the flow's entry joins those of the flows answered in the next
        few turns of the event loop, written in one transaction; the flow waits for
        that commit (its answer goes out once recorded, so a journal read on any worker
        after the answer finds it). One commit for several requests under load."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.record(flow)
            return None
        stored, names, epoch = self._prepared(flow)
        self._pending.append((_compact(stored), names, epoch))
        if self._committed is None:
            self._committed = loop.create_future()  # one for the batch: all await it
            loop.call_soon(self._commit_after, COMMIT_AFTER_TURNS - 1)
        return self._committed

    def _commit_after(self, turns: int) -> None:
        if turns > 0:
            asyncio.get_running_loop().call_soon(self._commit_after, turns - 1)
        else:
            self._commit_pending()

    def _commit_pending(self) -> None:
        batch, self._pending = self._pending, []
        committed, self._committed = self._committed, None
        try:
            with self._store.write(quiet=True) as db:
                self._append(db, batch)
        except Exception:
            log.exception("the journal could not record %d entries", len(batch))
        if committed is not None and not committed.done():
            committed.set_result(None)

    def _prepared(self, flow: http.HTTPFlow) -> tuple[dict[str, Any], list[str], int]:
        entry = entry_for(flow, 0)
        # Shallow: the values are JSON already (asdict's deep copy cost ~25 us a request).
        # Without its nulls (half the fields of a plain read): a row's bytes are most of
        # what a commit writes.
        values = ((name, getattr(entry, name)) for name in _STORED_FIELDS)
        stored = {name: value for name, value in values if value is not None}
        # The flow's epoch is the store's at its start (StateSync): a reset by any
        # worker since then makes it the previous run's, and it is not kept.
        return stored, counted(entry), note(flow).epoch

    def _append(self, db: sqlite3.Connection, batch: Sequence[_Pending]) -> int | None:
        """Append the batch's entries (their `seq` assigned here, in order) and count
        them, in the caller's write transaction; the last entry's `seq`, or None if
        none was kept: an entry whose flow began before a reset (its `epoch` is not the
        store's any more) is the previous run's. A few statements for the whole batch."""
        epoch = int(db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0])
        kept = [(text, names) for text, names, flow_epoch in batch if flow_epoch == epoch]
        if not kept:
            return None
        db.executemany("INSERT INTO journal (entry) VALUES (?)", [(text,) for text, _ in kept])
        counts = Counter(name for _, names in kept for name in names)
        db.executemany(
            "INSERT INTO journal_counters (name, n) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET n = n + excluded.n",
            counts.items(),
        )
        last = _last_seq(db)  # the batch's rows are consecutive: the lock is ours
        through = last - self._capacity
        crossed = last // EVICT_EVERY > (last - len(kept)) // EVICT_EVERY
        if crossed and through > 0:
            evicted = db.execute("DELETE FROM journal WHERE seq <= ?", (through,)).rowcount
            if evicted:
                set_meta(db, journal_evicted_through=through)
        return last

    def since(self, seq: int, limit: int | None = None) -> tuple[list[JournalEntry], int]:
        """Entries after `seq` (oldest first, of the `capacity` newest), and how many of
        those are gone (evicted, not cleared)."""
        capacity = self._capacity

        def snapshot(db: sqlite3.Connection) -> tuple[list[tuple[int, str]], int, int]:
            last = _last_seq(db)
            rows = db.execute(
                "SELECT seq, entry FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
                (max(seq, last - capacity), -1 if limit is None else limit),
            ).fetchall()
            marks = dict(db.execute("SELECT key, value FROM meta").fetchall())
            evicted = max(int(marks["journal_evicted_through"]), last - capacity)
            return rows, int(marks["journal_cleared_through"]), evicted

        rows, cleared, evicted = self._store.read(snapshot)
        missed = max(0, evicted - max(seq, cleared))
        return [_with_seq(json.loads(entry), row_seq) for row_seq, entry in rows], missed


def _last_seq(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'journal'").fetchone()
    return int(row[0]) if row else 0


def _compact(stored: dict[str, Any]) -> str:
    return json.dumps(stored, separators=(",", ":"))


def _with_seq(stored: dict[str, Any], seq: int) -> JournalEntry:
    return JournalEntry(seq=seq, **(_NULLS | stored))  # a row holds no null field
