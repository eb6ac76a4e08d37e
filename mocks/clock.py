"""A virtual clock: real time plus an offset the control API can advance.

Token expiry is judged on this clock so tests can expire tokens without sleeping.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class VirtualClock:
    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """Seconds since the epoch, as the mock sees it."""
        return time.time() + self._offset

    def now_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), tz=UTC)

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        return self.now()

    def reset(self) -> None:
        self._offset = 0.0
