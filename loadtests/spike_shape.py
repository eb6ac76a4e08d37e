"""The spike profile's load shape: `-f loadtests/locustfile.py,loadtests/spike_shape.py`.

A fifth of `--users` for the first third of `--run-time`, all of them
(spawned within about a second) for the middle third, a fifth again for the
rest; then the shape ends the run. A separate file because locust applies
every shape class it finds in its locustfiles.
"""

from __future__ import annotations

from locust import LoadTestShape

DEFAULT_USERS = 20
DEFAULT_RUN_TIME_S = 60.0


class SpikeShape(LoadTestShape):
    use_common_options = True  # reads --users and --run-time

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        peak = int(getattr(options, "num_users", None) or DEFAULT_USERS)
        run_time = float(getattr(options, "run_time", None) or DEFAULT_RUN_TIME_S)
        base = max(1, peak // 5)
        elapsed = self.get_run_time()
        if elapsed >= run_time:
            return None
        if elapsed < run_time / 3:
            return base, float(base)
        if elapsed < 2 * run_time / 3:
            return peak, float(peak)
        return base, float(peak)  # and back down as fast
