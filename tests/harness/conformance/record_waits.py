"""Record how much a busy machine lengthens retry waits, for the backoff statistics.

    uv run python tests/harness/conformance/record_waits.py 200 100 out.json

Runs the reference client against the embedded mock: each trial fails one call
three times (503) and lets the fourth attempt through, as R10 does. For every
retry it pairs the delay the client chose (its INFO log line "retrying in X s")
with the wait the mock saw (from the end of the failed attempt to the start of
the next). Run several at once, next to a CPU hog, to record a loaded machine;
`data/waits-under-load.json` was recorded so (see its "how" field).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import tempfile
from pathlib import Path

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from harness.conformance.adapter import REFERENCE_ADAPTER, Adapter, AdapterEnv
from harness.control import ControlClient
from mocks.server import MockServer

CHOSEN = re.compile(r"retrying in (\d+\.\d+) s")


def record(trials: int, base_ms: int) -> list[dict[str, float]]:
    pairs: list[dict[str, float]] = []
    with (
        MockServer() as mock,
        ControlClient(mock.base_url) as control,
        tempfile.TemporaryDirectory() as logs,
    ):
        log = Path(logs) / "client.log"
        env = AdapterEnv(base_url=mock.base_url, log_file=log, retry_base_ms=base_ms)
        with Adapter.start(REFERENCE_ADAPTER, env) as client:
            client.call("login", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
            for _ in range(trials):
                client.parallel([("list_products", {"page_size": 1})] * 32)
                control.clear_journal()
                log.write_text("")
                control.add_fault(
                    {
                        "action": {"type": "status", "status": 503},
                        "match": {"operation": "getProfile"},
                        "select": {"times": 3},
                    }
                )
                client.call("get_profile", timeout=60)
                control.clear_faults()
                attempts = sorted(
                    (e for e in control.entries() if e["operation"] == "getProfile"),
                    key=lambda e: e["started_at"],
                )
                waits = [
                    b["started_at"] - a["started_at"] - a["duration_ms"] / 1000
                    for a, b in itertools.pairwise(attempts)
                ]
                chosen = [float(x) for x in CHOSEN.findall(log.read_text())]
                if len(chosen) != len(waits):
                    continue  # a log line lost: skip the trial rather than mispair
                for level, (c, w) in enumerate(zip(chosen, waits, strict=True), 1):
                    pairs.append({"level": level, "chosen_s": c, "observed_s": round(w, 6)})
    return pairs


if __name__ == "__main__":
    trials, base_ms, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    pairs = record(trials, base_ms)
    out.write_text(json.dumps(pairs), encoding="utf-8")
    noise = sorted((p["observed_s"] - p["chosen_s"]) * 1000 for p in pairs)
    n = len(noise)
    print(
        f"{n} waits; noise ms: min {noise[0]:.1f} median {noise[n // 2]:.1f} "
        f"p99 {noise[int(n * 0.99)]:.1f} max {noise[-1]:.1f}"
    )
