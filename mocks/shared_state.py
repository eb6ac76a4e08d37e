"""A `MockState` whose cross-worker parts live in a shared `SqliteStateStore`.

`share_state` moves the fault rules (and their counters), the journal and the
reset epoch into the store; `StateSync` (first in the chain) notices, with one
read per request, a reset another worker made, and resets this worker's own
parts (data, sessions, clock, keys) to match.

Also shared: sessions, access and refresh tokens (mocks/shared_tokens.py),
the virtual clock's offset, idempotency keys and signature nonces
(mocks/shared_keys.py), and a document's items and accounts (mocks/shared_items.py,
mocks/shared_accounts.py, chosen where the spec chain is built). The config
follows the store: a `PUT /__harness/config` (or scenario, or reset) on one
worker is applied by the others at their next request.
"""

from __future__ import annotations

from mitmproxy import http

from mocks.fault_engine import RuleSet
from mocks.settings import MockSettings, Settings
from mocks.shared_journal import SharedJournal
from mocks.shared_keys import SharedIdempotencyStore, SharedNonceCache
from mocks.shared_tokens import SharedClock, SharedTokenService
from mocks.sqlite_store import SqliteStateStore
from mocks.state import MockState
from mocks.state_store import StateStore


def share_state(state: MockState, store: SqliteStateStore) -> MockState:
    """Make `state` keep its shared parts in `store` (before the mock starts)."""
    state.faults = RuleSet(store=store)
    state.journal = SharedJournal(store, state.journal.capacity)
    clock = SharedClock(store)
    state.clock = clock
    state.tokens = SharedTokenService(clock, state.tokens.settings, store)
    state.idempotency = SharedIdempotencyStore(clock, store)
    state.nonces = SharedNonceCache(store)
    state.shared = store
    state.epoch = store.epoch()
    return state


class StateSync:
    """Before anything reads the state for a request: catch up with the other workers
    (a reset, the clock, a config another worker's control API changed)."""

    def __init__(self, state: MockState, store: StateStore, settings: Settings | None) -> None:
        self._state = state
        self._store = store
        self._settings = settings
        self._config_version = -1

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        marks = self._store.sync_marks()
        if marks.epoch != self._state.epoch:
            self._state.epoch = marks.epoch
            self._state.reset_local()
        clock = self._state.clock
        if isinstance(clock, SharedClock):
            clock.follow(marks.clock_offset)
        if marks.config_version != self._config_version and self._settings is not None:
            self._config_version = marks.config_version
            text = self._store.config()
            if text and text != self._settings.current.model_dump_json():
                self._settings.apply(MockSettings.model_validate_json(text))
