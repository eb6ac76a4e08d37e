"""The state store in one SQLite file (WAL), shared by every worker that opens it.

The `StateStore` of mocks/state_store.py for worker processes: fault rules with
their version and counters, the reset epoch, the clock's offset and the config;
the tables the shared journal, tokens, keys and a document's items and accounts
use (mocks/shared_*.py) are created here too, so one file holds one schema.
"""

from __future__ import annotations

import json
import mmap
import os
import secrets
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from mocks.state_store import CounterTransaction, RuleCounts, RuleList, StoredRule, SyncMarks

BUSY_TIMEOUT_S = 10.0  # a write waits this long for another worker's, then fails
FIRST_RETRY_S = 20e-6
LAST_RETRY_S = 1e-3
T = TypeVar("T")

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
CREATE TABLE IF NOT EXISTS items (
    collection TEXT NOT NULL, parents TEXT NOT NULL, key TEXT NOT NULL, item TEXT NOT NULL,
    PRIMARY KEY (collection, parents, key));
CREATE TABLE IF NOT EXISTS item_owners (
    collection TEXT NOT NULL, parents TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL,
    PRIMARY KEY (collection, parents, key));
CREATE TABLE IF NOT EXISTS item_serials (collection TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, account TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS closed_accounts (id TEXT PRIMARY KEY);
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
    "items_generation": "0",
    **_TOKEN_META,
}


class ChangeSignal:
    """Eight bytes in a file every worker maps: a new value after each commit that changes
    what workers cache (the meta marks, sessions, items), so a worker re-reads those only
    when another changed them. Not after a journal row or a rule count: those are never
    cached, and under load another worker writes them at every request.

    The value is bumped after the commit, and a reader looks at it before it reads: a
    change is seen at latest by the next read after the bump, which comes before the
    writer's answer goes out. Values are never reused (a random start per process, then
    one more per bump), so two workers bumping at once cannot undo each other."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)
            self._map = mmap.mmap(fd, 8)
        finally:
            os.close(fd)
        self._next = secrets.randbits(63) << 1

    def value(self) -> int:
        return int(_U64.unpack_from(self._map)[0])

    def bump(self) -> None:
        self._next = (self._next + 1) & 0xFFFFFFFFFFFFFFFF
        _U64.pack_into(self._map, 0, self._next)

    def close(self) -> None:
        self._map.close()


_U64 = struct.Struct("<Q")
CACHE_LIMIT = 4096  # entries read under one signal value, then the cache starts again


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
        self._rules_version: int | None = None
        self._items_generation: int | None = None
        self._depth = 0  # write transactions open in this connection (nested: one)
        self._changes = False  # the open transaction changed what workers cache
        self.signal = ChangeSignal(self.path.with_name(self.path.name + "-signal"))
        self._cache: dict[Any, Any] = {}
        self._cache_seen = -1
        # Run inside a reset's transaction (`next_epoch`): a document's items reseed there.
        self.epoch_hooks: list[Callable[[sqlite3.Connection], None]] = []
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'NORMAL' if durable else 'OFF'}")
        with self.write() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            db.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", _META_DEFAULTS.items()
            )
            if not db.execute("SELECT value FROM meta WHERE key = 'token_key'").fetchone()[0]:
                set_meta(db, token_key=secrets.token_hex(32))
        # Then no busy timeout: SQLite's own handler sleeps whole milliseconds, a long
        # stall of the event loop when another worker holds the lock for ~20 us; `write`
        # retries itself, from microseconds up. (WAL: only writers wait for each other.)
        self._db.execute("PRAGMA busy_timeout = 0")

    @contextmanager
    def write(self, *, quiet: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction: the write lock from its first statement to commit.
        A write inside another is part of it (one commit, or one rollback, at the end).
        `quiet`: it changes nothing any worker caches (a journal row, a rule count)."""
        with self._lock:
            self._changes = self._changes or not quiet
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self._begin_immediate()
            self._depth = 1
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                self._items_generation = None  # what this one counted never happened
                raise
            finally:
                self._depth = 0
            self._db.execute("COMMIT")
            if self._changes:
                self._changes = False
                self.signal.bump()

    def cached(self, key: Any, read: Callable[[], T]) -> T:
        """`read()`, or what it answered since the last change any worker signalled."""
        seen = self.signal.value()  # before the read: a change after it shows next time
        if seen != self._cache_seen or len(self._cache) > CACHE_LIMIT:
            self._cache.clear()
            self._cache_seen = seen
        try:
            return self._cache[key]  # type: ignore[no-any-return]
        except KeyError:
            value = self._cache[key] = read()
            return value

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
        if self._rules_version is not None:  # read with this request's sync marks
            return self._rules_version
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
            set_meta(
                db,
                rules_version=result.version,
                rules=json.dumps(rules),
                next_rule_id=result.next_id,
            )
            keys = [r.key for r in result.rules]
            marks = ",".join("?" * len(keys))
            db.execute(f"DELETE FROM rule_counts WHERE key NOT IN ({marks})", keys)
        if self._rules_version is not None:
            self._rules_version = result.version
        return result

    @contextmanager
    def counters(self) -> Iterator[CounterTransaction]:
        with self.write(quiet=True) as db:
            yield _SqliteCounters(db)

    def counts(self, keys: Sequence[str]) -> dict[str, RuleCounts]:
        with self._lock:
            return _retrying(lambda: {k: _SqliteCounters(self._db).get(k) for k in keys})

    # --- reset -----------------------------------------------------------------------

    def epoch(self) -> int:
        return int(self.meta("epoch"))

    def next_epoch(self) -> int:
        """A reset: the next epoch, and what every worker shares starts anew in the same
        transaction: fault rules and counters, the journal, sessions, idempotency keys,
        the clock (a new signing key: no token of the last life is valid) and, through
        `epoch_hooks`, a document's items. One transaction, so a request another worker
        journals (or a rule it adds) once the epoch has moved is the new run's, never
        wiped by a clear that came after. Not the nonces: see MockState.reset."""
        with self.write() as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            epoch = int(meta["epoch"]) + 1
            for table in (
                "sessions", "refresh_tokens", "idempotency_keys",
                "rule_counts", "journal", "journal_counters",
            ):  # fmt: skip
                db.execute(f"DELETE FROM {table}")  # names from this list
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'journal'").fetchone()
            rules_version = int(meta["rules_version"]) + 1
            set_meta(
                db,
                epoch=epoch,
                token_key=secrets.token_hex(32),
                rules="[]",
                rules_version=rules_version,
                journal_cleared_through=row[0] if row else 0,
                **_TOKEN_META,
            )
            for hook in self.epoch_hooks:
                hook(db)
        if self._rules_version is not None:
            self._rules_version = rules_version
        return epoch

    def sync_marks(self) -> SyncMarks:
        """The epoch, the clock's offset and the config's version, in one read; and the
        rules' version, which `rules_version` answers from then on until the next call
        (a worker calls this at the start of each request: one read, not three)."""
        marks: dict[str, str] = self.cached("marks", self._read_marks)
        self._rules_version = int(marks["rules_version"])
        self._items_generation = int(marks["items_generation"])
        return SyncMarks(
            int(marks["epoch"]), float(marks["clock_offset"]), int(marks["config_version"])
        )

    def items_generation(self) -> int:
        """The items' write count: as of this request's sync marks, or of now."""
        if self._items_generation is not None:
            return self._items_generation
        return int(self.meta("items_generation"))

    def bump_items_generation(self, db: sqlite3.Connection) -> None:
        """One more item write (inside the caller's transaction)."""
        row = db.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'items_generation' RETURNING value"
        ).fetchone()
        if self._items_generation is not None:
            self._items_generation = int(row[0])

    def _read_marks(self) -> dict[str, str]:
        return dict(
            self.read_all(
                "SELECT key, value FROM meta "
                "WHERE key IN ('epoch', 'clock_offset', 'config_version', 'rules_version', "
                "'items_generation')"
            )
        )

    def publish_config(self, text: str) -> None:
        with self.write() as db:
            marks = dict(
                db.execute(
                    "SELECT key, value FROM meta WHERE key IN ('config', 'config_version')"
                ).fetchall()
            )
            if marks["config"] != text:
                set_meta(db, config=text, config_version=int(marks["config_version"]) + 1)

    def config(self) -> str:
        return self.meta("config")

    def advance_clock(self, seconds: float) -> float:
        """Move the shared clock's offset on by `seconds`; the new offset."""
        with self.write() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'clock_offset'").fetchone()
            offset = float(row[0]) + seconds
            set_meta(db, clock_offset=repr(offset))
            return offset

    def read(self, call: Callable[[sqlite3.Connection], T]) -> T:
        """`call(connection)` in one read transaction: one snapshot of everything it reads."""

        def snapshot() -> T:
            self._db.execute("BEGIN")
            try:
                return call(self._db)
            finally:
                self._db.execute("COMMIT")

        with self._lock:
            return _retrying(snapshot)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self.signal.close()


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


def _retrying(call: Callable[[], T]) -> T:
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


def set_meta(db: sqlite3.Connection, **values: Any) -> None:
    db.executemany(
        "UPDATE meta SET value = ? WHERE key = ?", [(str(v), k) for k, v in values.items()]
    )


def _rule_list(meta: dict[str, str]) -> RuleList:
    rules = tuple(
        StoredRule(r["id"], r["key"], r["rule"], float(r["added_at"]))
        for r in json.loads(meta["rules"])
    )
    return RuleList(int(meta["rules_version"]), rules, int(meta["next_rule_id"]))
