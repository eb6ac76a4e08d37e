"""The journal of worker processes: one ordered record in the shared SQLite store.

`SharedJournal` has `Journal`'s interface; every entry is one row, numbered
inside the store's write transaction, so the sequence is one order whichever
worker recorded the request, and the control API of any worker reads all of it.
The ring keeps `capacity` entries; counters keep counting past it, as in memory.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from mitmproxy import http

from mocks.journal import DEFAULT_CAPACITY, Journal, JournalEntry, counted, entry_for
from mocks.notes import note
from mocks.state_store import SqliteStateStore


class SharedJournal(Journal):
    def __init__(self, store: SqliteStateStore, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self._store = store
        self._capacity = capacity

    @property
    def capacity(self) -> int:
        return self._capacity

    def resize(self, capacity: int) -> None:
        self._capacity = capacity

    @property
    def last_seq(self) -> int:
        return self._store.journal_last_seq()

    @property
    def counters(self) -> Counter[str]:
        return self._store.journal_counters()

    @counters.setter
    def counters(self, value: Counter[str]) -> None:
        pass  # Journal.__init__ sets its own; ours live in the store

    def clear(self) -> None:
        self._store.journal_clear()

    def record(self, flow: http.HTTPFlow) -> JournalEntry | None:
        entry = entry_for(flow, 0)
        stored = asdict(entry)
        del stored["seq"]
        # The flow's epoch is the store's at its start (StateSync): a reset by any
        # worker since then makes it the previous run's, and it is not kept.
        seq = self._store.journal_append(stored, counted(entry), self._capacity, note(flow).epoch)
        return None if seq is None else _with_seq(stored, seq)

    def since(self, seq: int, limit: int | None = None) -> tuple[list[JournalEntry], int]:
        rows, missed = self._store.journal_since(seq, limit, self._capacity)
        return [_with_seq(entry, row_seq) for row_seq, entry in rows], missed


def _with_seq(stored: dict[str, Any], seq: int) -> JournalEntry:
    return JournalEntry(seq=seq, **stored)
