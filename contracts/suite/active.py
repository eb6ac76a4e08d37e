"""The one suite session a run is using, for the hooks and checks schemathesis
calls without a way to hand them our objects (it instantiates auth providers
and calls check functions itself). One run at a time per process; `activate`
restores the previous value on exit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from contracts.suite.session import SessionKeeper

_lock = threading.Lock()
_active: SessionKeeper | None = None


@contextmanager
def activate(keeper: SessionKeeper) -> Iterator[SessionKeeper]:
    global _active
    if not _lock.acquire(timeout=0):
        raise RuntimeError("a contract suite is already running in this process")
    previous, _active = _active, keeper
    try:
        yield keeper
    finally:
        _active = previous
        _lock.release()


def active() -> SessionKeeper | None:
    """The running suite's session, or None outside a suite run."""
    return _active
