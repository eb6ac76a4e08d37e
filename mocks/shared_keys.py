"""Idempotency keys and signature nonces shared by worker processes (SQLite store).

`SharedIdempotencyStore` keeps `IdempotencyStore`'s rules (mocks/idempotency.py)
with its records in the store: claiming a key is one write transaction, so the
same key sent to two workers at once runs once (the other gets 409), and a
retry on another worker replays the stored answer. The records go with a reset
(SqliteStateStore.next_epoch).

`SharedNonceCache` remembers nonces across workers: a signed request replayed
to another worker is still a replay. Nonces outlive a reset, as in one process.
"""

from __future__ import annotations

import json
import sqlite3

from mitmproxy import http

from mocks.clock import VirtualClock
from mocks.idempotency import HEADER, KEY_TTL_S, MAX_KEYS, IdempotencyStore
from mocks.problems import ProblemError
from mocks.signing import NonceCache
from mocks.sqlite_store import SqliteStateStore

_PRUNE_EVERY = 256


class SharedIdempotencyStore(IdempotencyStore):
    def __init__(self, clock: VirtualClock, store: SqliteStateStore) -> None:
        super().__init__(clock)
        self._store = store

    def clear(self) -> None:
        pass  # the store's records went with the epoch (a reset), on whichever worker

    def begin(self, scope: str, key: str, fingerprint: str) -> http.Response | None:
        now = self._clock.now()
        with self._store.write() as db:
            row = db.execute(
                "SELECT fingerprint, created_at, response FROM idempotency_keys "
                "WHERE scope = ? AND key = ?",
                (scope, key),
            ).fetchone()
            if row is None or row[1] + KEY_TTL_S <= now:
                db.execute(
                    "INSERT OR REPLACE INTO idempotency_keys (scope, key, fingerprint, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (scope, key, fingerprint, now),
                )
                _keep_newest(db)
                return None
        stored_fingerprint, _, response = row
        if stored_fingerprint != fingerprint:
            raise ProblemError(
                422,
                "idempotency_key_reused",
                f"{HEADER} {key!r} was already used with a different request body.",
            )
        if response is None:
            raise ProblemError(
                409,
                "idempotency_key_in_use",
                f"A request with {HEADER} {key!r} is still being processed; retry later.",
            )
        replay = _response_from(response)
        replay.headers["Idempotent-Replayed"] = "true"
        return replay

    def finish(self, scope: str, key: str, response: http.Response) -> None:
        with self._store.write() as db:
            db.execute(
                "UPDATE idempotency_keys SET response = ? "
                "WHERE scope = ? AND key = ? AND response IS NULL",
                (_response_text(response), scope, key),
            )

    def abandon(self, scope: str, key: str) -> None:
        with self._store.write() as db:
            db.execute(
                "DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND response IS NULL",
                (scope, key),
            )


def _keep_newest(db: sqlite3.Connection) -> None:
    count = db.execute("SELECT count(*) FROM idempotency_keys").fetchone()[0]
    if count > MAX_KEYS:
        db.execute(
            "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys "
            "ORDER BY created_at LIMIT ?)",
            (count - MAX_KEYS,),
        )


def _response_text(response: http.Response) -> str:
    return json.dumps(
        {
            "status": response.status_code,
            "headers": [[k, v] for k, v in response.headers.items(multi=True)],
            "body": (response.raw_content or b"").decode("latin-1"),
        }
    )


def _response_from(text: str) -> http.Response:
    stored = json.loads(text)
    headers = [(k.encode(), v.encode()) for k, v in stored["headers"]]
    return http.Response.make(stored["status"], stored["body"].encode("latin-1"), headers)


class SharedNonceCache(NonceCache):
    def __init__(self, store: SqliteStateStore) -> None:
        super().__init__()
        self._store = store
        self._checked = 0

    def seen_before(self, nonce: str, now: float, window: float) -> bool:
        self._checked += 1
        with self._store.write() as db:
            if self._checked % _PRUNE_EVERY == 0:  # older ones the timestamp check refuses
                db.execute("DELETE FROM nonces WHERE seen_at < ?", (now - 2 * window,))
            inserted = db.execute(
                "INSERT OR IGNORE INTO nonces (nonce, seen_at) VALUES (?, ?)", (nonce, now)
            )
            if inserted.rowcount:
                return False
            seen_at = db.execute("SELECT seen_at FROM nonces WHERE nonce = ?", (nonce,)).fetchone()
            if seen_at[0] < now - 2 * window:  # forgotten in one process too: a new sighting
                db.execute("UPDATE nonces SET seen_at = ? WHERE nonce = ?", (now, nonce))
                return False
            return True

    def clear(self) -> None:
        with self._store.write() as db:
            db.execute("DELETE FROM nonces")

    def __len__(self) -> int:
        return int(self._store.read_one("SELECT count(*) FROM nonces"))
