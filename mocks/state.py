"""Everything the mock remembers, in one place with one reset."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.demo import DEFAULT_PRODUCT_COUNT, DEFAULT_SEED
from mocks.clock import VirtualClock
from mocks.fault_engine import RuleSet
from mocks.idempotency import IdempotencyStore
from mocks.journal import Journal
from mocks.settings import MockSettings
from mocks.signing import NonceCache
from mocks.state_store import StateStore
from mocks.tokens import TokenService


@dataclass
class MockState:
    # The demo's data when no document is given: its seed and seeded products.
    seed: int = DEFAULT_SEED
    product_count: int = DEFAULT_PRODUCT_COUNT
    clock: VirtualClock = field(default_factory=VirtualClock)
    journal: Journal = field(default_factory=Journal)
    nonces: NonceCache = field(default_factory=NonceCache)
    faults: RuleSet = field(default_factory=RuleSet)

    def __post_init__(self) -> None:
        self.epoch = 0
        self.tokens = TokenService(self.clock)
        self.idempotency = IdempotencyStore(self.clock)
        # The compiled document served (the demo's too), and what else resets.
        self.spec: Any = None
        self.on_reset: list[Callable[[], None]] = []
        self.describe: Callable[[], dict[str, Any]] | None = None  # the API, for /health
        # Worker processes (`--workers N`): the store they share (mocks/shared_state.py).
        self.shared: StateStore | None = None

    @property
    def settings(self) -> MockSettings:
        return self.tokens.settings

    def publish(self, settings: MockSettings) -> None:
        self.tokens.settings = settings
        if self.shared is not None:  # worker processes follow one config
            self.shared.publish_config(settings.model_dump_json())

    def reset(self) -> None:
        """Back to the seeded start: data, sessions, clock, keys, faults, journal.

        Not the nonces of signed requests: they are judged on the real clock, and a
        reset must not make a captured signed request valid again. They age out of
        the cache with the signature skew window anyway."""
        if self.shared is not None:  # workers: the store resets its part in one transaction
            self.epoch = self.shared.next_epoch()
            self.reset_local()
            return
        self.epoch += 1
        self.reset_local()
        self.faults.clear()
        self.journal.clear()

    def reset_local(self) -> None:
        """What each worker process keeps itself; the other workers' reset follows."""
        self.clock.reset()
        self.tokens.reset()
        self.idempotency.clear()
        for reset in self.on_reset:
            reset()
