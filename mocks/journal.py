"""The request journal: what reached the mock, when, and what it did.

Every API request (control calls excluded) becomes one entry once its
response is decided, or once it fails without one. Entries live in a ring of
bounded size; counters keep counting past it, and a reader that fell behind
is told how many entries it missed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, deque
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mitmproxy import http

from contracts.operations import API_PREFIX
from mocks.notes import note
from mocks.signing import NONCE_HEADER, TIMESTAMP_HEADER, parse_timestamp

if TYPE_CHECKING:
    from mocks.state import MockState

DEFAULT_CAPACITY = 10_000
# Bodies that carry passwords or refresh tokens. An unsalted SHA-256 of such a body
# is a password hash anyone who reads the journal can brute-force: none is kept.
_UNHASHED_OPERATIONS = frozenset({"register", "login", "refresh"})
_UNHASHED_PREFIX = f"{API_PREFIX}/auth/"


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    started_at: float
    duration_ms: float
    method: str
    path: str
    query: str
    operation: str | None
    role: str | None
    status: int | None
    code: str | None
    error: str | None
    client: str
    connection: str
    token_id: str | None
    token_state: str | None
    user_id: str | None
    session_id: str | None
    api_key: str
    idempotency_key: str | None
    idempotency: str | None
    nonce: str | None
    signed_at: float | None  # X-App-Timestamp as Unix seconds: how fresh the signature was
    signature: str
    body_sha256: str | None  # None for auth operations, whose bodies hold secrets
    effect: dict[str, Any] | None
    fault: dict[str, Any] | None
    violations: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=capacity)
        self._seq = 0
        # Entries up to these sequence numbers are gone: evicted by the ring
        # (a reader missed them) or cleared on purpose (nobody missed them).
        self._evicted_through = 0
        self._cleared_through = 0
        self.counters: Counter[str] = Counter()

    @property
    def capacity(self) -> int:
        return self._entries.maxlen or 0

    def resize(self, capacity: int) -> None:
        if capacity != self.capacity:
            self._entries = deque(self._entries, maxlen=capacity)

    @property
    def last_seq(self) -> int:
        return self._seq

    def clear(self) -> None:
        """Forget entries and counters; sequence numbers keep growing."""
        self._entries.clear()
        self._cleared_through = self._seq
        self.counters.clear()

    def record(self, flow: http.HTTPFlow) -> JournalEntry | None:
        self._seq += 1
        entry = entry_for(flow, self._seq)
        if len(self._entries) == self._entries.maxlen:
            self._evicted_through = self._entries[0].seq
        self._entries.append(entry)
        self.counters.update(counted(entry))
        return entry

    def record_soon(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """`record`, or (a shared journal) an awaitable for when it is recorded."""
        self.record(flow)
        return None

    def since(self, seq: int, limit: int | None = None) -> tuple[list[JournalEntry], int]:
        """Entries after `seq` (oldest first), and how many of those the ring evicted."""
        oldest = self._entries[0].seq if self._entries else self._seq + 1
        missed = max(0, self._evicted_through - max(seq, self._cleared_through))
        start = max(0, seq - oldest + 1)
        entries = [self._entries[i] for i in range(start, len(self._entries))]
        if limit is not None:
            entries = entries[:limit]
        return entries, missed


def entry_for(flow: http.HTTPFlow, seq: int) -> JournalEntry:
    """The journal entry for a flow whose response is final (or that failed)."""
    n = note(flow)
    request = flow.request
    # What the client got: nothing if a fault dropped the connection after
    # the API answered; the whole response if a fault sent it by hand.
    response = None if n.dropped else flow.response
    error = None if n.sent_by_hand or flow.error is None else flow.error.msg
    path, _, query = request.path.partition("?")
    problem_code = None
    if response is not None and response.status_code >= 400:
        problem_code = _problem_code(response)
    peer = flow.client_conn.peername
    entry = JournalEntry(
        seq=seq,
        started_at=request.timestamp_start,
        duration_ms=round((time.time() - request.timestamp_start) * 1000, 3),
        method=request.method,
        path=path,
        query=query,
        operation=n.operation,
        role=n.role,
        status=response.status_code if response is not None else None,
        code=problem_code,
        error=error,
        client=f"{peer[0]}:{peer[1]}" if peer else "",
        connection=flow.client_conn.id,
        token_id=n.token_id,
        token_state=n.token_state,
        user_id=n.user_id,
        session_id=n.session_id,
        api_key=n.api_key,
        idempotency_key=request.headers.get("Idempotency-Key"),
        idempotency=n.idempotency,
        nonce=request.headers.get(NONCE_HEADER),
        signed_at=parse_timestamp(request.headers.get(TIMESTAMP_HEADER, "")),
        signature=n.signature,
        body_sha256=_body_digest(n.operation, path, request.raw_content),
        effect=n.effect,
        fault=n.fault,
        violations=n.violations,
    )
    return entry


def counted(entry: JournalEntry) -> list[str]:
    """The journal counters one entry adds to."""
    names = [
        "requests",
        "no_response" if entry.status is None else f"status_{entry.status // 100}xx",
    ]
    if entry.operation:
        names.append(f"op_{entry.operation}")
    if entry.effect:
        names.append(f"effect_{entry.effect['kind']}")
    return names


def _body_digest(operation: str | None, path: str, body: bytes | None) -> str | None:
    if operation in _UNHASHED_OPERATIONS or path.startswith(_UNHASHED_PREFIX):
        return None
    return hashlib.sha256(body or b"").hexdigest()


def _problem_code(response: http.Response) -> str | None:
    body = response.raw_content
    if not body or len(body) > 65536 or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


class JournalAddon:
    """Records each non-control flow when its response is final or it failed.

    A flow that began before the last reset belongs to the previous run (say,
    a request a fault held past the end of a test) and is not recorded."""

    def __init__(self, state: MockState) -> None:
        self._state = state

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        note(flow).epoch = self._state.epoch

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        n = note(flow)
        if not n.control and n.epoch == self._state.epoch:
            return self._state.journal.record_soon(flow)  # answered once recorded
        return None

    def error(self, flow: http.HTTPFlow) -> None:
        n = note(flow)
        if not n.control and flow.response is None and n.epoch == self._state.epoch:
            self._state.journal.record(flow)
