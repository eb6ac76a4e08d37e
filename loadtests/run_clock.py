"""Loaded beside a team's own locust file: locust's --run-time counts from a fresh clock.

locust arms its --run-time timer with `gevent.spawn_later`, which counts from
the event loop's cached time. When nothing ran the loop since it was created
(a slow import on a busy machine), that time is seconds old and the run ends
at once: 4 s runs were seen to stop after 85 ms. Refreshing the loop's clock
when locust's environment is ready (just before the timer is armed) keeps
the run as long as asked. No User class here: only this listener.
"""

from __future__ import annotations

from typing import Any

import gevent  # type: ignore[import-untyped]
from locust import events


def _refresh_loop_clock(**_: Any) -> None:
    gevent.get_hub().loop.update_now()


events.init.add_listener(_refresh_loop_clock)
