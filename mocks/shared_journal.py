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
EVICT_EVERY = 64  # entries: the ring drops old rows in batches, one DELETE per batch


class SharedJournal(Journal):
    def __init__(self, store: SqliteStateStore, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self._store = store
        self._capacity = capacity
        self._pending: list[tuple[str, list[str], int, asyncio.Future[None]]] = []

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
            seq = self._append(db, json.dumps(stored), names, epoch)
        return None if seq is None else _with_seq(stored, seq)

    def record_soon(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """Group commit: the flow's entry joins those of the flows answered in this turn
        of the event loop, written in one transaction at the next turn; the flow waits
        for that commit (its answer goes out once recorded, so a journal read on any
        worker after the answer finds it). One commit for several requests under load."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.record(flow)
            return None
        stored, names, epoch = self._prepared(flow)
        done = loop.create_future()
        self._pending.append((json.dumps(stored), names, epoch, done))
        if len(self._pending) == 1:
            loop.call_soon(self._commit_pending)
        return done

    def _commit_pending(self) -> None:
        batch, self._pending = self._pending, []
        try:
            with self._store.write(quiet=True) as db:
                for text, names, epoch, _ in batch:
                    self._append(db, text, names, epoch)
        except Exception:
            log.exception("the journal could not record %d entries", len(batch))
        for *_, done in batch:
            if not done.done():
                done.set_result(None)

    def _prepared(self, flow: http.HTTPFlow) -> tuple[dict[str, Any], list[str], int]:
        entry = entry_for(flow, 0)
        # Shallow: the values are JSON already (asdict's deep copy cost ~25 us a request).
        stored = {name: getattr(entry, name) for name in _STORED_FIELDS}
        # The flow's epoch is the store's at its start (StateSync): a reset by any
        # worker since then makes it the previous run's, and it is not kept.
        return stored, counted(entry), note(flow).epoch

    def _append(
        self, db: sqlite3.Connection, text: str, names: Sequence[str], epoch: int
    ) -> int | None:
        """Append one entry (its `seq` assigned here) and count it, in the caller's write
        transaction; None (nothing kept) if the store's epoch moved past `epoch`: the
        flow began before a reset."""
        cursor = db.execute(
            "INSERT INTO journal (entry) SELECT ? "
            "WHERE (SELECT value FROM meta WHERE key = 'epoch') = ?",
            (text, str(epoch)),
        )
        if not cursor.rowcount:
            return None
        seq = int(cursor.lastrowid or 0)
        rows = ", ".join(["(?, 1)"] * len(names))
        db.execute(
            f"INSERT INTO journal_counters (name, n) VALUES {rows} "
            "ON CONFLICT (name) DO UPDATE SET n = n + 1",
            names,
        )
        through = seq - self._capacity
        if seq % EVICT_EVERY == 0 and through > 0:
            evicted = db.execute("DELETE FROM journal WHERE seq <= ?", (through,)).rowcount
            if evicted:
                set_meta(db, journal_evicted_through=through)
        return seq

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


def _with_seq(stored: dict[str, Any], seq: int) -> JournalEntry:
    return JournalEntry(seq=seq, **stored)
