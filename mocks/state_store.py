"""The state worker processes share: one interface, in memory or in SQLite.

One mock process keeps everything in its own memory (`MemoryStateStore`, the
default). `harness mock --workers N` runs N processes on one port; what must
stay correct across them lives in one `SqliteStateStore` (stdlib sqlite3 in
WAL mode, one file every worker opens):

- fault rules and their counters: the rule list (with a version, so a worker
  notices another's change with one read), and per rule the matches, hits and
  how many seeded draws were taken, updated in one write transaction per
  request that a rule matches, so `times: 3` fires three times in all;
- the reset epoch: a reset on one worker resets every worker's local state;
- the journal: one table, its sequence numbers assigned inside the write
  transaction, so the record is one ordered sequence whichever worker wrote.

Every operation is a read, or a read-modify-write done atomically (`counters`,
`edit_rules`, `journal_append`), so a networked store (Redis: WATCH/MULTI or a
Lua script per operation; PostgreSQL: a transaction with SELECT ... FOR UPDATE)
can implement the same interface (ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

BUSY_TIMEOUT_S = 10.0  # a write waits this long for another worker's, then fails
FIRST_RETRY_S = 20e-6
LAST_RETRY_S = 1e-3


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
    def next_epoch(self) -> int: ...
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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rule_counts (
    key TEXT PRIMARY KEY, matches INTEGER NOT NULL, hits INTEGER NOT NULL,
    draws INTEGER NOT NULL, delays INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal_counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, revoked_reason TEXT);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token TEXT PRIMARY KEY, id TEXT NOT NULL, session_id TEXT NOT NULL,
    expires_at REAL NOT NULL, replaced_by TEXT);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    created_at REAL NOT NULL, response TEXT, PRIMARY KEY (scope, key));
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, seen_at REAL NOT NULL);
"""
# Tokens (mocks/shared_tokens.py): the signing key and counters; a reset starts them anew.
_TOKEN_META = {
    "token_serial": "0",
    "token_expired_through": "0",
    "token_sessions": "0",
    "token_refresh_ids": "0",
    "clock_offset": "0",
}
_META_DEFAULTS = {
    "rules_version": "0",
    "rules": "[]",
    "next_rule_id": "0",
    "epoch": "0",
    "journal_evicted_through": "0",
    "journal_cleared_through": "0",
    "token_key": "",
    "config": "",
    "config_version": "0",
    **_TOKEN_META,
}


class SqliteStateStore:
    """The state in one SQLite file (WAL), shared by every worker that opens it.

    Writes run in `BEGIN IMMEDIATE` transactions: the write lock is taken before
    the first read, so a read-modify-write cannot interleave with another
    worker's. `durable=False` (a temporary store) skips fsync: a crash loses the
    store, which nobody keeps anyway."""

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self.path = Path(path)
        # The store holds the config's secrets and live sessions: this user's only (SQLite
        # gives its -wal and -shm files the database file's permissions).
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        # Autocommit off at the driver (isolation_level=None): we say BEGIN ourselves.
        self._db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'NORMAL' if durable else 'OFF'}")
        with self.write() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            db.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", _META_DEFAULTS.items()
            )
            if not db.execute("SELECT value FROM meta WHERE key = 'token_key'").fetchone()[0]:
                _set_meta(db, token_key=secrets.token_hex(32))
        # Then no busy timeout: SQLite's own handler sleeps whole milliseconds, a long
        # stall of the event loop when another worker holds the lock for ~20 us; `write`
        # retries itself, from microseconds up. (WAL: only writers wait for each other.)
        self._db.execute("PRAGMA busy_timeout = 0")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: the write lock from its first statement to commit."""
        with self._lock:
            self._begin_immediate()
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _begin_immediate(self) -> None:
        _retrying(lambda: self._db.execute("BEGIN IMMEDIATE"))

    def read_one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        with self._lock:
            row = _retrying(lambda: self._db.execute(sql, args).fetchone())
        return None if row is None else row[0]

    def read_all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return _retrying(lambda: self._db.execute(sql, args).fetchall())

    def meta(self, key: str) -> str:
        return str(self.read_one("SELECT value FROM meta WHERE key = ?", (key,)))

    # --- fault rules ---------------------------------------------------------------

    def rules_version(self) -> int:
        return int(self.meta("rules_version"))

    def rules(self) -> RuleList:
        with self._lock:
            return _rule_list(dict(self.read_all("SELECT key, value FROM meta")))

    def edit_rules(self, edit: Callable[[RuleList], RuleList]) -> RuleList:
        with self.write() as db:
            current = _rule_list(dict(db.execute("SELECT key, value FROM meta").fetchall()))
            edited = edit(current)
            result = RuleList(current.version + 1, edited.rules, edited.next_id)
            rules = [
                {"id": r.id, "key": r.key, "rule": r.rule, "added_at": r.added_at}
                for r in result.rules
            ]
            _set_meta(
                db,
                rules_version=result.version,
                rules=json.dumps(rules),
                next_rule_id=result.next_id,
            )
            keys = [r.key for r in result.rules]
            marks = ",".join("?" * len(keys))
            db.execute(f"DELETE FROM rule_counts WHERE key NOT IN ({marks})", keys)
            return result

    @contextmanager
    def counters(self) -> Iterator[CounterTransaction]:
        with self.write() as db:
            yield _SqliteCounters(db)

    def counts(self, keys: Sequence[str]) -> dict[str, RuleCounts]:
        with self._lock:
            return _retrying(lambda: {k: _SqliteCounters(self._db).get(k) for k in keys})

    # --- reset -----------------------------------------------------------------------

    def epoch(self) -> int:
        return int(self.meta("epoch"))

    def next_epoch(self) -> int:
        """A reset: the next epoch, and what every worker shares of sessions, idempotency
        keys and the clock starts anew (a new signing key: no token of the last life is
        valid). Not the nonces: see MockState.reset."""
        with self.write() as db:
            epoch = int(db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0])
            db.execute("DELETE FROM sessions")
            db.execute("DELETE FROM refresh_tokens")
            db.execute("DELETE FROM idempotency_keys")
            _set_meta(db, epoch=epoch + 1, token_key=secrets.token_hex(32), **_TOKEN_META)
            return epoch + 1

    def sync_marks(self) -> SyncMarks:
        """The epoch, the clock's offset and the config's version, in one read."""
        marks = dict(
            self.read_all(
                "SELECT key, value FROM meta "
                "WHERE key IN ('epoch', 'clock_offset', 'config_version')"
            )
        )
        return SyncMarks(
            int(marks["epoch"]), float(marks["clock_offset"]), int(marks["config_version"])
        )

    def publish_config(self, text: str) -> None:
        with self.write() as db:
            marks = dict(
                db.execute(
                    "SELECT key, value FROM meta WHERE key IN ('config', 'config_version')"
                ).fetchall()
            )
            if marks["config"] != text:
                _set_meta(db, config=text, config_version=int(marks["config_version"]) + 1)

    def config(self) -> str:
        return self.meta("config")

    def advance_clock(self, seconds: float) -> float:
        """Move the shared clock's offset on by `seconds`; the new offset."""
        with self.write() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'clock_offset'").fetchone()
            offset = float(row[0]) + seconds
            _set_meta(db, clock_offset=repr(offset))
            return offset

    # --- the journal (mocks/shared_journal.py) -------------------------------------------

    def journal_append(
        self, entry: Mapping[str, Any], counted: Sequence[str], capacity: int, epoch: int
    ) -> int | None:
        """Append one entry (its `seq` assigned here) and count it; None (nothing kept)
        if the store's epoch moved past `epoch`: the flow began before a reset."""
        with self.write() as db:
            if int(db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]) != epoch:
                return None
            cursor = db.execute("INSERT INTO journal (entry) VALUES (?)", (json.dumps(entry),))
            seq = int(cursor.lastrowid or 0)
            db.executemany(
                "INSERT INTO journal_counters (name, n) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET n = n + 1",
                [(name,) for name in counted],
            )
            if seq % 64 == 0:  # evict in batches: one DELETE per 64 entries
                through = seq - capacity
                if (
                    through > 0
                    and db.execute(
                        "SELECT 1 FROM journal WHERE seq <= ? LIMIT 1", (through,)
                    ).fetchone()
                ):
                    db.execute("DELETE FROM journal WHERE seq <= ?", (through,))
                    _set_meta(db, journal_evicted_through=through)
            return seq

    def journal_since(
        self, seq: int, limit: int | None, capacity: int
    ) -> tuple[list[tuple[int, dict[str, Any]]], int]:
        """Entries after `seq` (oldest first, at most `capacity` newest), and how many
        of those are gone (evicted, not cleared)."""

        def snapshot() -> tuple[list[tuple[int, str]], int, int]:
            self._db.execute("BEGIN")  # one snapshot for the rows and the marks
            try:
                last = self._last_seq()
                rows = self._db.execute(
                    "SELECT seq, entry FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
                    (max(seq, last - capacity), -1 if limit is None else limit),
                ).fetchall()
                marks = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            finally:
                self._db.execute("COMMIT")
            evicted = max(int(marks["journal_evicted_through"]), last - capacity)
            return rows, int(marks["journal_cleared_through"]), evicted

        with self._lock:
            rows, cleared, evicted = _retrying(snapshot)
        missed = max(0, evicted - max(seq, cleared))
        return [(s, json.loads(e)) for s, e in rows], missed

    def _last_seq(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'journal'").fetchone()
        return int(row[0]) if row else 0

    def journal_last_seq(self) -> int:
        with self._lock:
            return _retrying(self._last_seq)

    def journal_counters(self) -> Counter[str]:
        return Counter(dict(self.read_all("SELECT name, n FROM journal_counters")))

    def journal_clear(self) -> None:
        with self.write() as db:
            db.execute("DELETE FROM journal")
            db.execute("DELETE FROM journal_counters")
            _set_meta(db, journal_cleared_through=self._last_seq())

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _SqliteCounters:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get(self, key: str) -> RuleCounts:
        row = self._db.execute(
            "SELECT matches, hits, draws, delays FROM rule_counts WHERE key = ?", (key,)
        ).fetchone()
        return RuleCounts(*row) if row else RuleCounts()

    def put(self, key: str, counts: RuleCounts) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO rule_counts (key, matches, hits, draws, delays) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, counts.matches, counts.hits, counts.draws, counts.delays),
        )


def _retrying[T](call: Callable[[], T]) -> T:
    """`call`, again after a short pause while another worker holds a lock it needs."""
    pause, deadline = FIRST_RETRY_S, time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return call()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, LAST_RETRY_S)


def _set_meta(db: sqlite3.Connection, **values: Any) -> None:
    db.executemany(
        "UPDATE meta SET value = ? WHERE key = ?", [(str(v), k) for k, v in values.items()]
    )


def _rule_list(meta: dict[str, str]) -> RuleList:
    rules = tuple(
        StoredRule(r["id"], r["key"], r["rule"], float(r["added_at"]))
        for r in json.loads(meta["rules"])
    )
    return RuleList(int(meta["rules_version"]), rules, int(meta["next_rule_id"]))
