"""Backoff over many trials, and retry budgets under sustained failure (R10, R12).

One trial cannot tell jitter from a late scheduler, so R10 repeats the same
failing call and compares the delays of the same retry across trials. The
bounds of each check are chosen so that a client with full jitter fails them
with a probability below one in a million, while a client without jitter (or
without backoff) fails them every time; evidence lists every delay.
"""

from __future__ import annotations

import itertools
import statistics
from typing import Any

from harness.conformance.scenarios.base import Context, evidence_of, of_operation
from harness.conformance.verdicts import Evidence, Outcome, Rule, Verdict

# --- R10 ---------------------------------------------------------------------------

R10 = Rule(
    "R10",
    "Capped exponential backoff with jitter",
    'AWS Architecture Blog "Exponential Backoff and Jitter"; gRPC A6 (jittered backoff)',
)
TRIALS = 8
FAILURES_PER_TRIAL = 3
# Successful calls between trials, so that a retry budget (R12) never blocks R10's retries.
REFILL_CALLS = 40
NO_BACKOFF_S = 0.010  # every delay below this: retries are immediate
JITTER_FLOOR_S = 0.020  # a scheduler can shift equal delays by a few ms, not by this
JITTER_SHARE = 0.3  # ... nor by this share of the mean delay


def backoff_with_jitter(ctx: Context) -> Verdict:
    ctx.start_session()
    delays: list[list[float]] = []  # per trial: the waits before retry 1, 2, ...
    trials: list[dict[str, Any]] = []
    for _ in range(TRIALS):
        ctx.adapter.parallel([("list_products", {"page_size": 1})] * REFILL_CALLS)
        ctx.control.clear_journal()
        ctx.control.add_fault(
            {
                "action": {"type": "status", "status": 503},
                "match": {"operation": "getProfile"},
                "select": {"times": FAILURES_PER_TRIAL},
            }
        )
        ctx.adapter.call("get_profile", timeout=120)
        attempts = of_operation(ctx.journal(), "getProfile")
        ctx.control.clear_faults()
        delays.append(_gaps(attempts))
        trials.extend(attempts)
    levels = min(len(d) for d in delays)
    lines = tuple(
        f"trial {i + 1}: waits " + ", ".join(f"{d * 1000:.0f} ms" for d in trial)
        for i, trial in enumerate(delays)
    )
    evidence = Evidence(lines, evidence_of(trials[-(levels + 1) :]).timeline)
    if levels < 2:
        return Verdict(
            R10,
            Outcome.NOT_APPLICABLE,
            "The client retried a GET answered 503 fewer than twice; backoff cannot be judged.",
            evidence,
        )
    by_level = [[trial[n] for trial in delays] for n in range(levels)]
    if max(max(level) for level in by_level) < NO_BACKOFF_S:
        return Verdict(
            R10,
            Outcome.FAIL,
            f"Every retry came within {NO_BACKOFF_S * 1000:.0f} ms of the failure: no backoff.",
            evidence,
        )
    spreads = [max(level) - min(level) for level in by_level]
    means = [statistics.fmean(level) for level in by_level]
    jittered = any(
        spread >= max(JITTER_FLOOR_S, JITTER_SHARE * mean)
        for spread, mean in zip(spreads, means, strict=True)
    )
    summary = "; ".join(
        f"retry {n + 1}: mean {m * 1000:.0f} ms, spread {s * 1000:.0f} ms"
        for n, (m, s) in enumerate(zip(means, spreads, strict=True))
    )
    if not jittered:
        return Verdict(
            R10,
            Outcome.FAIL,
            f"The same retry waited the same time in all {TRIALS} trials (no jitter): "
            f"{summary}. Synchronized clients retry in waves.",
            evidence,
        )
    if max(by_level[-1]) <= max(by_level[0]):
        return Verdict(
            R10,
            Outcome.FAIL,
            f"Later retries never waited longer than the first (no backoff growth): {summary}.",
            evidence,
        )
    return Verdict(R10, Outcome.PASS, f"Delays vary and grow: {summary}.", evidence)


def _gaps(attempts: list[dict[str, Any]]) -> list[float]:
    """Wait between the end of each attempt and the start of the next."""
    return [
        max(0.0, nxt["started_at"] - (prev["started_at"] + prev["duration_ms"] / 1000))
        for prev, nxt in itertools.pairwise(attempts)
    ]


# --- R12 ---------------------------------------------------------------------------

R12 = Rule(
    "R12",
    "Retries are throttled when most calls fail (retry budget)",
    "gRPC A6 retry throttling; Finagle retry budgets",
)
CALLS = 20
WINDOW = 5  # calls compared at the start and the end


def retry_budget(ctx: Context) -> Verdict:
    ctx.start_session()
    ctx.control.add_fault(
        {"action": {"type": "status", "status": 503}, "match": {"operation": "getProfile"}}
    )
    per_call: list[int] = []
    mark = 0
    for _ in range(CALLS):
        ctx.adapter.call("get_profile", timeout=120)
        entries = ctx.control.entries(since=mark)
        if entries:
            mark = entries[-1]["seq"]
        per_call.append(len(of_operation(entries, "getProfile")))
    retries = [n - 1 for n in per_call]
    early = sum(retries[:WINDOW]) / WINDOW
    late = sum(retries[-WINDOW:]) / WINDOW
    evidence = Evidence(
        (f"attempts per call, in order: {', '.join(map(str, per_call))}",),
        evidence_of(of_operation(ctx.journal(), "getProfile")).timeline,
    )
    if early == 0:
        return Verdict(
            R12,
            Outcome.NOT_APPLICABLE,
            "The client does not retry a GET answered 503, so it needs no budget.",
            evidence,
        )
    if late > early / 2:
        return Verdict(
            R12,
            Outcome.FAIL,
            f"Against a server failing every call, the client kept retrying: "
            f"{early:.1f} retries per call over the first {WINDOW} calls, {late:.1f} over "
            f"the last {WINDOW}. Each client multiplies the load on a struggling backend.",
            evidence,
        )
    return Verdict(
        R12,
        Outcome.PASS,
        f"Retries per call fell from {early:.1f} (first {WINDOW} calls) to {late:.1f} "
        f"(last {WINDOW}) while every call failed.",
        evidence,
    )
