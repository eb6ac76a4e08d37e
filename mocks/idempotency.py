"""Idempotency-Key on a create (the demo's POST /v1/products, any document's through
spec_idempotency.py), after the IETF httpapi draft.

- First request with a key: it runs; its response is stored when sent.
- Same key, same body: the stored response is replayed (`Idempotent-Replayed: true`).
- Same key, another body: 422. Same key while the first is still running: 409.
- A first request that fails without a response, or is refused with a 4xx
  before it took effect, frees its key for a retry.
Keys are scoped to the user and kept for 24 hours of virtual time.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from mitmproxy import http

from mocks.clock import VirtualClock
from mocks.notes import note
from mocks.problems import ProblemError

HEADER = "Idempotency-Key"
KEY_TTL_S = 24 * 3600.0
MAX_KEYS = 10_000
MAX_KEY_LENGTH = 255
IDEMPOTENT_OPERATIONS = frozenset({"createProduct"})


@dataclass
class KeyRecord:
    fingerprint: str
    created_at: float
    response: http.Response | None = None  # None while the first request runs


class IdempotencyStore:
    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._records: OrderedDict[tuple[str, str], KeyRecord] = OrderedDict()

    def clear(self) -> None:
        self._records.clear()

    def begin(self, scope: str, key: str, fingerprint: str) -> http.Response | None:
        """Claim a key; returns a response to replay, or None to go ahead."""
        now = self._clock.now()
        record = self._records.get((scope, key))
        if record is not None and record.created_at + KEY_TTL_S <= now:
            del self._records[(scope, key)]
            record = None
        if record is None:
            self._records[(scope, key)] = KeyRecord(fingerprint, now)
            while len(self._records) > MAX_KEYS:
                self._records.popitem(last=False)
            return None
        if record.fingerprint != fingerprint:
            raise ProblemError(
                422,
                "idempotency_key_reused",
                f"{HEADER} {key!r} was already used with a different request body.",
            )
        if record.response is None:
            raise ProblemError(
                409,
                "idempotency_key_in_use",
                f"A request with {HEADER} {key!r} is still being processed; retry later.",
            )
        replay = record.response.copy()
        replay.headers["Idempotent-Replayed"] = "true"
        return replay

    def finish(self, scope: str, key: str, response: http.Response) -> None:
        record = self._records.get((scope, key))
        if record is not None and record.response is None:
            record.response = response.copy()

    def abandon(self, scope: str, key: str) -> None:
        record = self._records.get((scope, key))
        if record is not None and record.response is None:
            del self._records[(scope, key)]


class Idempotency:
    """The addon: claims keys before the API runs and stores what it answered.

    `applies(flow)` says which requests honour a key (the demo: createProduct; a
    document: the operations that declare the header), `refuse(flow, problem)`
    answers a refusal (the demo: the problem itself; a document: its error shape)."""

    def __init__(
        self,
        store: IdempotencyStore,
        applies: Callable[[http.HTTPFlow], bool] | None = None,
        refuse: Callable[[http.HTTPFlow, ProblemError], http.Response] | None = None,
    ) -> None:
        self._store = store
        self._applies = applies or (lambda flow: note(flow).operation in IDEMPOTENT_OPERATIONS)
        self._refuse = refuse or (lambda flow, problem: problem.to_response())

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        n = note(flow)
        key = flow.request.headers.get(HEADER)
        if key is None or n.user_id is None or not self._applies(flow):
            return
        n.idempotency_key = key
        if not key or len(key) > MAX_KEY_LENGTH:
            n.idempotency = "invalid"
            flow.response = self._refuse(
                flow,
                ProblemError(
                    400,
                    "invalid_idempotency_key",
                    f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.",
                ),
            )
            return
        fingerprint = hashlib.sha256(
            flow.request.method.encode()
            + b" "
            + flow.request.path.encode()
            + b"\n"
            + (flow.request.raw_content or b"")
        ).hexdigest()
        try:
            replay = self._store.begin(n.user_id, key, fingerprint)
        except ProblemError as problem:
            n.idempotency = problem.code
            flow.response = self._refuse(flow, problem)
            return
        if replay is not None:
            n.idempotency = "replayed"
            flow.response = replay
        else:
            n.idempotency = "new"

    def response(self, flow: http.HTTPFlow) -> None:
        n = note(flow)
        if n.idempotency != "new" or not (n.user_id and n.idempotency_key and flow.response):
            return
        if 400 <= flow.response.status_code < 500:
            # Rejected before it took effect (e.g. invalid body): a corrected retry
            # may use the same key, as Stripe and the IETF draft's examples allow.
            self._store.abandon(n.user_id, n.idempotency_key)
        else:
            self._store.finish(n.user_id, n.idempotency_key, flow.response)

    def error(self, flow: http.HTTPFlow) -> None:
        n = note(flow)
        if n.idempotency == "new" and n.user_id and n.idempotency_key:
            self._store.abandon(n.user_id, n.idempotency_key)
