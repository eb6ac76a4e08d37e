"""Tokens and the virtual clock shared by worker processes (SQLite store).

`SharedTokenService` keeps `TokenService`'s rules (mocks/tokens.py) with its
state in the store: the signing key (so a token issued by one worker is valid
on all), the serial numbers, sessions and refresh tokens. Issuing and
refreshing are each one write transaction, so a refresh token rotates once in
all: presented again, on any worker, it is reuse and revokes the session.
Decoded claims are cached per worker (the key only changes on a reset).

`SharedClock` keeps the virtual clock's offset in the store; each worker picks
up another's `POST /__harness/clock` at its next request (`StateSync`).
"""

from __future__ import annotations

import secrets
import sqlite3
from typing import Any

from mocks.clock import VirtualClock
from mocks.settings import MockSettings
from mocks.sqlite_store import SqliteStateStore
from mocks.tokens import (
    IssuedTokens,
    RefreshFailure,
    RefreshRecord,
    RefreshResult,
    Session,
    TokenService,
    TokenState,
)


class SharedClock(VirtualClock):
    def __init__(self, store: SqliteStateStore) -> None:
        super().__init__()
        self._store = store
        self._offset = store.sync_marks().clock_offset

    def follow(self, offset: float) -> None:
        """Another worker's offset, read at the start of a request."""
        self._offset = offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset = self._store.advance_clock(seconds)
        return self.now()

    def reset(self) -> None:
        self._offset = self._store.sync_marks().clock_offset  # the reset set it there


class SharedTokenService(TokenService):
    def __init__(
        self, clock: VirtualClock, settings: MockSettings, store: SqliteStateStore
    ) -> None:
        self._store = store
        super().__init__(clock, settings)

    def reset(self) -> None:
        # The store's part was reset with the epoch (SqliteStateStore.next_epoch).
        super().reset()
        self._key = bytes.fromhex(self._store.meta("token_key"))

    def _counter(self, db: sqlite3.Connection, name: str) -> int:
        """The counter `name`, moved on by one (inside the caller's transaction)."""
        value = int(db.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()[0]) + 1
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (str(value), name))
        return value

    def _issue_in(
        self, db: sqlite3.Connection, session: Session, refresh_token: str, refresh: RefreshRecord
    ) -> IssuedTokens:
        self._serial = self._counter(db, "token_serial") - 1  # _issue adds the one
        return self._issue(session, refresh_token, refresh)

    def _refresh_in(self, db: sqlite3.Connection, session: Session) -> tuple[str, RefreshRecord]:
        number = self._counter(db, "token_refresh_ids")
        record = RefreshRecord(
            f"rt-{number}", session.id, self.clock.now() + self.settings.refresh_ttl_s
        )
        token = f"{record.id}.{secrets.token_urlsafe(24)}"
        db.execute(
            "INSERT INTO refresh_tokens (token, id, session_id, expires_at) VALUES (?, ?, ?, ?)",
            (token, record.id, record.session_id, record.expires_at),
        )
        return token, record

    def start_session(self, user_id: str) -> IssuedTokens:
        with self._store.write() as db:
            session = Session(f"s-{self._counter(db, 'token_sessions')}", user_id)
            db.execute("INSERT INTO sessions (id, user_id) VALUES (?, ?)", (session.id, user_id))
            return self._issue_in(db, session, *self._refresh_in(db, session))

    def _session_state(self, session_id: str) -> tuple[Session | None, int]:
        """Read again only after a worker changed sessions or the meta (ChangeSignal)."""
        return self._store.cached(("session", session_id), lambda: self._read_session(session_id))

    def _read_session(self, session_id: str) -> tuple[Session | None, int]:
        rows = self._store.read_all(
            "SELECT s.user_id, s.revoked_reason, m.value FROM meta m "
            "LEFT JOIN sessions s ON s.id = ? WHERE m.key = 'token_expired_through'",
            (session_id,),
        )
        user_id, revoked, expired_through = rows[0]
        session = None if user_id is None else Session(session_id, user_id, revoked)
        return session, int(expired_through)

    def _judge(self, claims: dict[str, Any], session_id: str) -> TokenState:
        session, expired_through = self._session_state(session_id)
        if session is None or session.revoked_reason is not None:
            return TokenState.REVOKED
        if claims["n"] <= expired_through or claims["exp"] <= self.clock.now():
            return TokenState.EXPIRED
        return TokenState.VALID

    def refresh(self, token: str) -> RefreshResult:
        with self._store.write() as db:
            row = db.execute(
                "SELECT r.id, r.session_id, r.expires_at, r.replaced_by, s.user_id, "
                "s.revoked_reason FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id "
                "WHERE r.token = ?",
                (token,),
            ).fetchone()
            if row is None:
                return RefreshResult(None, failure=RefreshFailure.UNKNOWN)
            record = RefreshRecord(row[0], row[1], row[2], row[3])
            session = Session(record.session_id, row[4], row[5])
            if session.revoked_reason is not None:
                return RefreshResult(record.id, failure=RefreshFailure.REVOKED)
            if record.replaced_by is not None:
                if not self.settings.reuse_detection:
                    return RefreshResult(record.id, failure=RefreshFailure.REUSED)
                db.execute(
                    "UPDATE sessions SET revoked_reason = ? WHERE id = ?",
                    (f"refresh token {record.id} reused", session.id),
                )
                return RefreshResult(
                    record.id, failure=RefreshFailure.REUSED, revoked_session=session.id
                )
            if record.expires_at <= self.clock.now():
                return RefreshResult(record.id, failure=RefreshFailure.EXPIRED)
            if not self.settings.rotate_refresh_tokens:
                return RefreshResult(record.id, issued=self._issue_in(db, session, token, record))
            issued = self._issue_in(db, session, *self._refresh_in(db, session))
            db.execute(
                "UPDATE refresh_tokens SET replaced_by = ? WHERE token = ?",
                (issued.refresh_id, token),
            )
            return RefreshResult(record.id, issued=issued)

    def logout(self, session_id: str) -> None:
        with self._store.write() as db:
            db.execute(
                "UPDATE sessions SET revoked_reason = 'logged out' "
                "WHERE id = ? AND revoked_reason IS NULL",
                (session_id,),
            )

    def expire_all(self) -> int:
        with self._store.write() as db:
            serial = db.execute("SELECT value FROM meta WHERE key = 'token_serial'").fetchone()[0]
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'token_expired_through'", (str(serial),)
            )
            return int(serial)

    def session_user(self, session_id: str) -> str | None:
        session, _ = self._session_state(session_id)
        return session.user_id if session else None
