"""The state worker processes share: one interface, in memory or in SQLite.

One mock process keeps everything in its own memory (`MemoryStateStore`, the
default). `harness mock --workers N` runs N processes on one port; what must
stay correct across them lives in one `SqliteStateStore` (mocks/sqlite_store.py:
stdlib sqlite3 in WAL mode, one file every worker opens):

- fault rules and their counters: the rule list (with a version, so a worker
  notices another's change with one read), and per rule the matches, hits and
  how many seeded draws were taken, updated in one write transaction per
  request that a rule matches, so `times: 3` fires three times in all;
- the reset epoch: a reset on one worker resets every worker's local state;
- the clock's offset and the config, which every worker follows;
- and, through the SQLite store's transactions, the journal, tokens and keys
  (mocks/shared_journal.py, shared_tokens.py, shared_keys.py).

Every operation is a read, or a read-modify-write done atomically (`counters`,
`edit_rules`, `next_epoch`, a journal append, a refresh), so a networked store
(Redis: WATCH/MULTI or a Lua script per operation; PostgreSQL: a transaction
with SELECT ... FOR UPDATE) can implement the same interface (ARCHITECTURE.md).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class RuleCounts:
    """What a rule's selection has counted so far, across every worker."""

    matches: int = 0
    hits: int = 0
    draws: int = 0  # seeded probability draws taken: the next draw's index
    delays: int = 0  # seeded delay samples taken: the next sample's index


@dataclass(frozen=True)
class StoredRule:
    """A fault rule as the store keeps it: `key` names its counters (a new key per add)."""

    id: str
    key: str
    rule: dict[str, Any]
    added_at: float


@dataclass(frozen=True)
class SyncMarks:
    """What a worker checks at the start of each request, read at once."""

    epoch: int
    clock_offset: float
    config_version: int


@dataclass(frozen=True)
class RuleList:
    version: int
    rules: tuple[StoredRule, ...]
    next_id: int


def new_rule_key() -> str:
    return uuid.uuid4().hex


class CounterTransaction(Protocol):
    def get(self, key: str) -> RuleCounts: ...
    def put(self, key: str, counts: RuleCounts) -> None: ...


class StateStore(Protocol):
    """The cross-worker state. Implementations must make each call atomic."""

    def rules_version(self) -> int: ...
    def rules(self) -> RuleList: ...

    def edit_rules(self, edit: Callable[[RuleList], RuleList]) -> RuleList:
        """Replace the rule list with `edit(current)` atomically (it may raise: no change).
        Counters of rules no longer listed are dropped."""
        ...

    def counters(self) -> Any:
        """A context manager giving a `CounterTransaction`: all reads and writes in it
        are one atomic step (a write transaction), committed on exit."""
        ...

    def counts(self, keys: Sequence[str]) -> dict[str, RuleCounts]: ...

    def epoch(self) -> int: ...

    def next_epoch(self) -> int:
        """A reset, atomically: the next epoch, with the rules, their counters and every
        shared record (journal, sessions, keys, items) started anew in the same step."""
        ...

    def sync_marks(self) -> SyncMarks: ...

    def publish_config(self, text: str) -> None:
        """The settings (MockSettings as JSON) every worker follows; a change bumps the
        version `sync_marks` shows."""
        ...

    def config(self) -> str: ...

    def close(self) -> None: ...


class MemoryStateStore:
    """One process's state: today's behaviour, and the default for one worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # mocks in threads of one process share nothing, but
        self._list = RuleList(0, (), 0)  # the control API and the flows may run on two
        self._counts: dict[str, RuleCounts] = {}
        self._epoch = 0

    def rules_version(self) -> int:
        return self._list.version

    def rules(self) -> RuleList:
        return self._list

    def edit_rules(self, edit: Callable[[RuleList], RuleList]) -> RuleList:
        with self._lock:
            edited = edit(self._list)
            self._list = RuleList(self._list.version + 1, edited.rules, edited.next_id)
            keep = {r.key for r in edited.rules}
            self._counts = {k: v for k, v in self._counts.items() if k in keep}
            return self._list

    @contextmanager
    def counters(self) -> Iterator[CounterTransaction]:
        with self._lock:
            yield _MemoryCounters(self._counts)

    def counts(self, keys: Sequence[str]) -> dict[str, RuleCounts]:
        return {k: self._counts.get(k, RuleCounts()) for k in keys}

    def epoch(self) -> int:
        return self._epoch

    def next_epoch(self) -> int:
        with self._lock:
            self._epoch += 1
            self._list = RuleList(self._list.version + 1, (), self._list.next_id)
            self._counts = {}
            return self._epoch

    def sync_marks(self) -> SyncMarks:
        return SyncMarks(self._epoch, 0.0, 0)  # one process: clock and config are its own

    def publish_config(self, text: str) -> None:
        pass

    def config(self) -> str:
        return ""

    def close(self) -> None:
        pass


class _MemoryCounters:
    def __init__(self, counts: dict[str, RuleCounts]) -> None:
        self._counts = counts

    def get(self, key: str) -> RuleCounts:
        return self._counts.setdefault(key, RuleCounts())

    def put(self, key: str, counts: RuleCounts) -> None:
        self._counts[key] = counts
