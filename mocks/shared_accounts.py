"""A document's accounts shared by worker processes: `AccountRows` over the SQLite store.

With `--workers N`, an account registered on one worker signs in, changes and
closes on every other: the accounts are rows of the shared store, each change
one write transaction (a login name is checked free and taken in the same one,
so two workers cannot give one name to two accounts). Ids `u-N` are counted in
the store. The configured accounts are seeded once per store (kept across
restarts with `--state FILE`), and again inside a reset's own transaction.

Reads are cached until the next change any worker signals (mocks/sqlite_store.py
`cached`): the closed-account check runs on every signed request.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from mocks.spec_accounts import Account, AccountRows, memory_rows
from mocks.sqlite_store import SqliteStateStore
from mocks.state import MockState


def account_rows(state: MockState) -> Callable[[list[tuple[str, Account]]], AccountRows]:
    """Where a document's accounts live: in the workers' shared store, else this process."""
    store = state.shared
    if isinstance(store, SqliteStateStore):
        return lambda seeded: SharedAccountRows(store, seeded)
    return memory_rows


class SharedAccountRows:
    def __init__(self, store: SqliteStateStore, seeded: list[tuple[str, Account]]) -> None:
        self._store = store
        self._seeded = copy.deepcopy(seeded)
        store.epoch_hooks.append(self._seed)
        with store.write() as db:
            if _meta(db, "accounts_seeded") != "1":  # else kept from another worker or run
                self._seed(db)

    def _seed(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM accounts")
        db.execute("DELETE FROM closed_accounts")
        db.executemany(
            "INSERT INTO accounts (name, id, account) VALUES (?, ?, ?)",
            [(name, a["_id"], json.dumps(a)) for name, a in self._seeded],
        )
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES "
            "('accounts_seeded', '1'), ('account_serial', ?)",
            (str(len(self._seeded)),),
        )

    def _one(self, where: str, args: tuple[Any, ...]) -> Account | None:
        text = self._store.cached(
            ("account", where, args),
            lambda: self._store.read_one(f"SELECT account FROM accounts WHERE {where}", args),
        )
        return None if text is None else dict(json.loads(text))

    def get(self, name: str) -> Account | None:
        return self._one("name = ?", (name,))

    def by_id(self, account_id: str) -> Account | None:
        return self._one("id = ?", (account_id,))

    def first(self) -> Account | None:
        return self._one("rowid = (SELECT MIN(rowid) FROM accounts)", ())

    def all(self) -> Iterator[Account]:
        rows = self._store.read_all("SELECT account FROM accounts ORDER BY rowid")
        return (dict(json.loads(row[0])) for row in rows)

    def insert(self, name: str, account: Account) -> str | None:
        with self._store.write() as db:
            if db.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
                return None
            row = db.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'account_serial' RETURNING value"
            ).fetchone()
            given = account.get("id")
            account["_id"] = given if isinstance(given, str) and given else f"u-{row[0]}"
            account.setdefault("id", account["_id"])
            db.execute(
                "INSERT INTO accounts (name, id, account) VALUES (?, ?, ?)",
                (name, account["_id"], json.dumps(account)),
            )
        return str(account["_id"])

    def replace(self, before: str | None, after: str | None, account: Account) -> bool:
        with self._store.write() as db:
            taken = db.execute("SELECT id FROM accounts WHERE name = ?", (after,)).fetchone()
            if after is not None and after != before and taken is not None:
                return False
            if after is None:
                db.execute("DELETE FROM accounts WHERE id = ?", (account["_id"],))
            else:  # an UPDATE keeps the row's place (the first account stays first)
                db.execute(
                    "UPDATE accounts SET name = ?, account = ? WHERE id = ?",
                    (after, json.dumps(account), account["_id"]),
                )
        return True

    def keep(self, account_id: str, fields: Account) -> Account | None:
        with self._store.write() as db:
            row = db.execute("SELECT account FROM accounts WHERE id = ?", (account_id,)).fetchone()
            if row is None:
                return None
            stored = dict(json.loads(row[0]))
            lacking = {k: v for k, v in fields.items() if k not in stored}
            if lacking:
                stored.update(lacking)
                db.execute(
                    "UPDATE accounts SET account = ? WHERE id = ?", (json.dumps(stored), account_id)
                )
        return stored

    def close(self, name: str | None, account_id: str) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM accounts WHERE id = ?", (account_id,))
            db.execute("INSERT OR IGNORE INTO closed_accounts (id) VALUES (?)", (account_id,))

    def is_closed(self, account_id: str | None) -> bool:
        if account_id is None:
            return False
        found = self._store.cached(
            ("closed", account_id),
            lambda: self._store.read_one(
                "SELECT 1 FROM closed_accounts WHERE id = ?", (account_id,)
            ),
        )
        return found is not None

    def reseed(self, seeded: list[tuple[str, Account]]) -> None:
        """This worker's part of a reset: the store's part ran in the reset's transaction."""


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])
