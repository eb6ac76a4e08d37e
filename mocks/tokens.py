"""Token logic, free of HTTP: sessions, JWT access tokens, rotating refresh tokens.

- Access tokens are HS256 JWTs carrying the session (`sid`), a token id
  (`jti`, "at-N") and a serial number. Expiry is judged on the virtual clock.
- Refresh tokens are opaque random strings known by id ("rt-N"). With
  rotation on, each use retires the token and issues a successor; presenting a
  retired token again is reuse, and with reuse detection on it revokes the
  whole session (RFC 9700 s4.14.2), which logs out a client that refreshes
  in parallel.
- `expire_all()` marks every access token issued so far as expired.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

import jwt

from mocks.clock import VirtualClock
from mocks.settings import MockSettings

_CLAIMS_CACHE_SIZE: Final = 4096
_UNSEEN: Final[Any] = object()


class TokenState(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    INVALID = "invalid"
    MISSING = "missing"


class RefreshFailure(StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REUSED = "reused"
    REVOKED = "revoked"


@dataclass
class Session:
    id: str
    user_id: str
    revoked_reason: str | None = None


@dataclass
class RefreshRecord:
    id: str
    session_id: str
    expires_at: float
    replaced_by: str | None = None


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    access_id: str
    refresh_token: str
    refresh_id: str
    session_id: str
    expires_in: int


@dataclass(frozen=True)
class AccessCheck:
    state: TokenState
    token_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class RefreshResult:
    presented_id: str | None
    issued: IssuedTokens | None = None
    failure: RefreshFailure | None = None
    revoked_session: str | None = None


@dataclass
class TokenService:
    clock: VirtualClock
    settings: MockSettings = field(default_factory=MockSettings)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        # A new signing key makes every token of the previous life invalid.
        self._key = secrets.token_bytes(32)
        self._serial = 0
        self._expired_through = 0
        self._sessions: dict[str, Session] = {}
        self._refresh: dict[str, RefreshRecord] = {}
        self._refresh_ids = 0
        self._claims: dict[str, dict[str, Any] | None] = {}

    # --- issuing --------------------------------------------------------------

    def start_session(self, user_id: str) -> IssuedTokens:
        session = Session(f"s-{len(self._sessions) + 1}", user_id)
        self._sessions[session.id] = session
        return self._issue(session, *self._new_refresh(session))

    def _issue(self, session: Session, refresh_token: str, refresh: RefreshRecord) -> IssuedTokens:
        self._serial += 1
        now = self.clock.now()
        ttl = self.settings.access_ttl_s
        access_id = f"at-{self._serial}"
        claims = {
            "sub": session.user_id,
            "sid": session.id,
            "jti": access_id,
            "n": self._serial,
            "iat": int(now),
            "exp": now + ttl,
        }
        access = jwt.encode(claims, self._key, algorithm="HS256")
        return IssuedTokens(
            access, access_id, refresh_token, refresh.id, session.id, max(0, round(ttl))
        )

    def _new_refresh(self, session: Session) -> tuple[str, RefreshRecord]:
        self._refresh_ids += 1
        record = RefreshRecord(
            f"rt-{self._refresh_ids}",
            session.id,
            self.clock.now() + self.settings.refresh_ttl_s,
        )
        token = f"{record.id}.{secrets.token_urlsafe(24)}"
        self._refresh[token] = record
        return token, record

    # --- checking -------------------------------------------------------------

    def check_access(self, token: str | None, *, verify_signature: bool = True) -> AccessCheck:
        """`verify_signature=False` is the `unsigned_tokens` breakage flaw (mocks/breakage.py)."""
        if not token:
            return AccessCheck(TokenState.MISSING)
        # Decoding is the costly part; revocation and expiry are judged every time.
        claims = self._claims.get(token, _UNSEEN) if verify_signature else self._unverified(token)
        if claims is _UNSEEN:
            claims = self._claims[token] = self._decode(token)
            if len(self._claims) > _CLAIMS_CACHE_SIZE:
                self._claims.pop(next(iter(self._claims)))
        if claims is None:
            return AccessCheck(TokenState.INVALID)
        token_id, session_id, user_id = claims["jti"], claims["sid"], claims["sub"]
        return AccessCheck(self._judge(claims, session_id), token_id, user_id, session_id)

    def _judge(self, claims: dict[str, Any], session_id: str) -> TokenState:
        """Revoked, expired or valid (worker processes: mocks/shared_tokens.py)."""
        session = self._sessions.get(session_id)
        if session is None or session.revoked_reason is not None:
            return TokenState.REVOKED
        if claims["n"] <= self._expired_through or claims["exp"] <= self.clock.now():
            return TokenState.EXPIRED
        return TokenState.VALID

    def _unverified(self, token: str) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return None
        wanted = ("exp", "sub", "sid", "jti", "n")
        return claims if all(k in claims for k in wanted) else None

    def _decode(self, token: str) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                # Time is judged on the virtual clock, which PyJWT does not know.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "sub", "sid", "jti", "n"],
                },
            )
        except jwt.PyJWTError:
            return None
        return claims

    # --- refreshing, logout, expiry ---------------------------------------------

    def refresh(self, token: str) -> RefreshResult:
        record = self._refresh.get(token)
        if record is None:
            return RefreshResult(None, failure=RefreshFailure.UNKNOWN)
        session = self._sessions[record.session_id]
        if session.revoked_reason is not None:
            return RefreshResult(record.id, failure=RefreshFailure.REVOKED)
        if record.replaced_by is not None:
            if self.settings.reuse_detection:
                session.revoked_reason = f"refresh token {record.id} reused"
                return RefreshResult(
                    record.id, failure=RefreshFailure.REUSED, revoked_session=session.id
                )
            return RefreshResult(record.id, failure=RefreshFailure.REUSED)
        if record.expires_at <= self.clock.now():
            return RefreshResult(record.id, failure=RefreshFailure.EXPIRED)
        if not self.settings.rotate_refresh_tokens:
            return RefreshResult(record.id, issued=self._issue(session, token, record))
        issued = self._issue(session, *self._new_refresh(session))
        record.replaced_by = issued.refresh_id
        return RefreshResult(record.id, issued=issued)

    def logout(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is not None and session.revoked_reason is None:
            session.revoked_reason = "logged out"

    def expire_all(self) -> int:
        """Expire every access token issued so far; returns how many that covers."""
        self._expired_through = self._serial
        return self._serial

    def session_user(self, session_id: str) -> str | None:
        session = self._sessions.get(session_id)
        return session.user_id if session else None
