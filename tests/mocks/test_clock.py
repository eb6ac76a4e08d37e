"""VirtualClock: real time plus an offset that only moves forward."""

from __future__ import annotations

import time
from datetime import UTC

import pytest

from mocks.clock import VirtualClock


def test_starts_at_real_time() -> None:
    clock = VirtualClock()
    assert clock.offset == 0
    assert abs(clock.now() - time.time()) < 1
    assert clock.now_datetime().tzinfo is UTC


def test_advance_moves_forward_and_returns_the_new_time() -> None:
    clock = VirtualClock()
    returned = clock.advance(3600)
    assert clock.offset == 3600
    assert abs(returned - (time.time() + 3600)) < 1
    clock.advance(0.5)
    assert clock.offset == 3600.5


def test_the_clock_never_moves_back() -> None:
    clock = VirtualClock()
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    assert clock.offset == 0


def test_reset_drops_the_offset() -> None:
    clock = VirtualClock()
    clock.advance(100)
    clock.reset()
    assert clock.offset == 0
