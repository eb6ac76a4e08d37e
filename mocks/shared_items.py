"""A document's items shared by worker processes: `ItemStore` over the SQLite store.

`SharedItemStore` has `MemoryItemStore`'s behaviour (mocks/resource_store.py)
with the items in the shared store, so an item created on one worker is read,
listed, changed and deleted on every other, and ids stay unique across them:
serials are counted in the store, and `ItemWrites` runs each request that
changes items (create, update, delete, an action) in one write transaction, so
checking that an id is free and taking it cannot interleave with another
worker's create.

Seeding happens once per store (a collection with no serial row yet), and
again inside a reset's own transaction (`SqliteStateStore.epoch_hooks`): a
worker that only follows another's reset keeps what was created since.
`generation` is the store's count of item writes, read with the request's sync
marks, so `Resources` keeps caching reads between writes made on any worker.

A request that began before a reset on another worker and changes items after
it is answered, and its change rolled back: it happened before the reset, which
wiped it (its journal entry is dropped the same way, mocks/shared_journal.py).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from mitmproxy import http

from mocks.clock import VirtualClock
from mocks.notes import note
from mocks.resource_model import Resource
from mocks.resource_store import Item, ItemStore, MemoryItemStore, Parents
from mocks.sqlite_store import SqliteStateStore
from mocks.state import MockState

_WRITES = frozenset({"create", "update", "delete", "action"})


def item_store(state: MockState, resources: list[Resource]) -> ItemStore:
    """Where a document's items live: in the workers' shared store, else this process."""
    if isinstance(state.shared, SqliteStateStore):
        return SharedItemStore(state.shared, resources, state.clock)
    return MemoryItemStore(resources, state.clock)


def item_writes(addon: Any, store: ItemStore) -> Any:
    """`addon` (`Resources`), its item-changing requests made atomic where items are shared."""
    return ItemWrites(addon, store) if isinstance(store, SharedItemStore) else addon


class SharedItemStore:
    def __init__(
        self, store: SqliteStateStore, resources: list[Resource], clock: VirtualClock
    ) -> None:
        self.resources = resources
        self._store = store
        self._clock = clock
        self._lists: dict[tuple[str, str], tuple[int, list[Item]]] = {}
        store.epoch_hooks.append(self._seed_all)
        with store.write() as db:
            self._seed(db, only_new=True)

    # --- seeding -------------------------------------------------------------------

    def _seed_all(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM items")
        db.execute("DELETE FROM item_owners")
        db.execute("DELETE FROM item_serials")
        self._seed(db, only_new=False)

    def _seed(self, db: sqlite3.Connection, *, only_new: bool) -> None:
        seeded = {row[0] for row in db.execute("SELECT collection FROM item_serials")}
        for r in self.resources:
            if only_new and r.collection in seeded:
                continue  # kept from an earlier run (`--state FILE`) or another worker
            rows = []
            for index, item in enumerate(r.seeded):
                key = str(item[r.id_field]) if r.id_field else str(index + 1)
                rows.append((r.collection, "[]", key, json.dumps(item)))
            db.executemany(
                "INSERT OR REPLACE INTO items (collection, parents, key, item) VALUES (?, ?, ?, ?)",
                rows,
            )
            if r.seed_owner is not None:  # the seeded items belong to that account
                db.executemany(
                    "INSERT OR REPLACE INTO item_owners (collection, parents, key, owner) "
                    "VALUES (?, ?, ?, ?)",
                    [(c, p, key, r.seed_owner) for c, p, key, _ in rows],
                )
            db.execute(
                "INSERT OR REPLACE INTO item_serials (collection, n) VALUES (?, ?)",
                (r.collection, len(r.seeded)),
            )
        self._store.bump_items_generation(db)

    # --- ItemStore -----------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self._store.items_generation()

    def reset(self) -> None:
        """This worker's part of a reset: the store's part ran in the reset's transaction."""
        self._lists.clear()

    def get(self, r: Resource, parents: Parents, key: str) -> Item | None:
        text = self._store.read_one(
            "SELECT item FROM items WHERE collection = ? AND parents = ? AND key = ?",
            (r.collection, _parents(parents), key),
        )
        return None if text is None else dict(json.loads(text))

    def contains(self, r: Resource, parents: Parents, key: str) -> bool:
        found = self._store.read_one(
            "SELECT 1 FROM items WHERE collection = ? AND parents = ? AND key = ?",
            (r.collection, _parents(parents), key),
        )
        return found is not None

    def put(self, r: Resource, parents: Parents, key: str, item: Item) -> None:
        with self._store.write() as db:
            db.execute(
                "INSERT INTO items (collection, parents, key, item) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (collection, parents, key) DO UPDATE SET item = excluded.item",
                (r.collection, _parents(parents), key, json.dumps(item)),
            )
            self._store.bump_items_generation(db)

    def delete(self, r: Resource, parents: Parents, key: str) -> Item | None:
        where = (r.collection, _parents(parents), key)
        with self._store.write() as db:
            row = db.execute(
                "DELETE FROM items WHERE collection = ? AND parents = ? AND key = ? RETURNING item",
                where,
            ).fetchone()
            db.execute(
                "DELETE FROM item_owners WHERE collection = ? AND parents = ? AND key = ?", where
            )
            self._store.bump_items_generation(db)
        return None if row is None else dict(json.loads(row[0]))

    def items(self, r: Resource, parents: Parents) -> list[Item]:
        """In the order they were created (an update keeps an item's place), as in memory.
        Cached until the next item write on any worker: listed items are only read."""
        generation = self.generation  # before the rows: a later write makes a new one
        bucket = (r.collection, _parents(parents))
        cached = self._lists.get(bucket)
        if cached is not None and cached[0] == generation:
            return list(cached[1])
        rows = self._store.read_all(
            "SELECT item FROM items WHERE collection = ? AND parents = ? ORDER BY rowid", bucket
        )
        listed = [json.loads(row[0]) for row in rows]
        if len(self._lists) > 256:
            self._lists.clear()
        self._lists[bucket] = (generation, listed)
        return list(listed)

    def count(self, r: Resource) -> int:
        """Items of `r` under every parent."""
        return int(
            self._store.read_one("SELECT COUNT(*) FROM items WHERE collection = ?", (r.collection,))
        )

    def owner(self, r: Resource, parents: Parents, key: str) -> str | None:
        found = self._store.read_one(
            "SELECT owner FROM item_owners WHERE collection = ? AND parents = ? AND key = ?",
            (r.collection, _parents(parents), key),
        )
        return None if found is None else str(found)

    def set_owner(self, r: Resource, parents: Parents, key: str, owner: str) -> None:
        with self._store.write() as db:
            db.execute(
                "INSERT OR REPLACE INTO item_owners (collection, parents, key, owner) "
                "VALUES (?, ?, ?, ?)",
                (r.collection, _parents(parents), key, owner),
            )

    def next_serial(self, r: Resource) -> int:
        with self._store.write() as db:
            row = db.execute(
                "INSERT INTO item_serials (collection, n) VALUES (?, 1) "
                "ON CONFLICT (collection) DO UPDATE SET n = n + 1 RETURNING n",
                (r.collection,),
            ).fetchone()
        return int(row[0])

    def now_iso(self) -> str:
        return self._clock.now_datetime().isoformat().replace("+00:00", "Z")


class _BeforeTheReset(Exception):
    """Rolls back a request's item changes: it began before another worker's reset."""


class ItemWrites:
    """`Resources`, with each item-changing request in one write transaction of the store."""

    def __init__(self, inner: Any, store: SharedItemStore) -> None:
        self._inner = inner
        self._store = store._store

    def request(self, flow: http.HTTPFlow) -> None:
        from mocks.spec_routes import plan_of

        plan = plan_of(flow)
        if plan is None or plan.resource is None or plan.resource.action not in _WRITES:
            self._inner.request(flow)
            return
        try:
            with self._store.write() as db:
                epoch = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
                self._inner.request(flow)
                if int(epoch) != note(flow).epoch:
                    raise _BeforeTheReset
        except _BeforeTheReset:
            pass  # answered; the reset that came after it wiped its change


def _parents(parents: Parents) -> str:
    return json.dumps(list(parents))
