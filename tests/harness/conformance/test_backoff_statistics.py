"""R10's checks against waits recorded on a loaded machine (data/waits-under-load.json):
the false-verdict probabilities docs/conformance.md states, computed and replayed.

The recording pairs each retry delay the reference client chose with the wait the
mock saw. Their difference is the noise a busy machine adds. Two things follow
from it and are proven here:

1. The noise never shortens a wait, so a client whose waits are never below 75%
   of their bound (no jitter, or too little) can never pass the jitter check,
   however loaded the machine.
2. With the noise of any recording, and a tail beyond it that falls off no
   faster than the recorded one does, a client with full jitter fails R10 less
   than once in a million runs, and the defects R10 names are caught at least
   999,999 times in a million; under the heaviest load recorded (R10 itself,
   three at once, next to a CPU hog) a client without growth slips through
   about once in 10,000.

The probabilities are exact binomial tails over per-wait probabilities averaged
over the recorded noise; a Monte Carlo replay of the same waits through
`judge_waits` itself checks that the computation and the checks agree.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest

from harness.conformance.backoff_stats import (
    BOUND_MARGIN_S,
    GROWTH_MIN,
    JITTER_SHARE,
    OVER_MIN,
    Plan,
    Wait,
    judge_waits,
)
from harness.conformance.scenarios.backoff import BACKOFF, CAPPED, FAILURES, MIN_SHARE, SHAPE

DATA = Path(__file__).parent / "data" / "waits-under-load.json"
HEAVIEST = -1  # the recordings run from idle to the heaviest load
MILLION = 1e-6


@cache
def recordings() -> list[dict[str, object]]:
    recorded: list[dict[str, object]] = json.loads(DATA.read_text(encoding="utf-8"))["recordings"]
    return recorded


def noise_of(recording: dict[str, object]) -> list[float]:
    """What the machine added to each wait, in seconds."""
    waits: list[list[float]] = recording["waits"]  # type: ignore[assignment]
    return sorted((observed - chosen) / 1000 for _, chosen, observed in waits)


class Noise:
    """The recorded noise as a distribution, with an exponential tail past its 95th
    percentile fitted to the recorded excesses, for what a recording is too short
    to show."""

    def __init__(self, samples: list[float]) -> None:
        self.samples = sorted(samples)
        self.q95 = self.samples[int(0.95 * len(self.samples))]
        excess = [e - self.q95 for e in self.samples if e > self.q95]
        self.tail_scale = sum(excess) / len(excess)

    def exceeds(self, x: float) -> float:
        """P(noise > x), never below the fitted tail."""
        seen = sum(e > x for e in self.samples) / len(self.samples)
        if x <= self.q95:
            return seen
        return max(seen, 0.05 * math.exp(-(x - self.q95) / self.tail_scale))

    def p_wait_below(self, threshold: float, low: float, high: float) -> float:
        """P(U[low, high] + noise < threshold), the tail counted as never below."""
        total = 0.0
        for e in self.samples:
            total += _uniform_cdf(threshold - e, low, high)
        return total / len(self.samples) - self.exceeds(self.samples[-1])

    def p_wait_above(self, threshold: float, low: float, high: float) -> float:
        """P(U[low, high] + noise > threshold), at least the noise-free share."""
        return max(1 - _uniform_cdf(threshold, low, high), 0.0)


def _uniform_cdf(x: float, low: float, high: float) -> float:
    if high <= low:
        return 1.0 if x >= low else 0.0
    return min(1.0, max(0.0, (x - low) / (high - low)))


def binomial_below(n: int, p: float, k: int) -> float:
    """P(Binomial(n, p) < k)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k))


def trials(plan: Plan) -> int:
    count, each = SHAPE[plan]
    return count * each


# --- 1. noise only lengthens waits ------------------------------------------------


@pytest.mark.parametrize("recording", range(len(recordings())))
def test_a_busy_machine_never_shortens_a_wait(recording: int) -> None:
    # Both ends of a wait are the mock's own clock: the client cannot be seen early.
    assert noise_of(recordings()[recording])[0] > -0.002


def test_the_heaviest_recording_adds_tens_of_milliseconds() -> None:
    noise = noise_of(recordings()[HEAVIEST])
    assert noise[len(noise) // 2] > 0.010  # the median wait is 10+ ms late
    assert noise[-1] > 0.100  # and some are over 100 ms late


# --- 2. the false-verdict probabilities ---------------------------------------------


def full_jitter_false_fail(noise: Noise) -> dict[str, float]:
    """For a client with full jitter, the chance of each check failing it."""
    odds: dict[str, float] = {}
    t = trials(BACKOFF)
    for n in range(1, FAILURES + 1):
        bound = BACKOFF.bound(n)
        p_low = noise.p_wait_below(JITTER_SHARE * bound, 0, bound)
        odds[f"jitter, retry {n}"] = (1 - p_low) ** t
    top = BACKOFF.growth_level(FAILURES)
    assert top is not None
    # Noise only helps a wait pass half its bound: count without it.
    odds["growth"] = binomial_below(t, 0.5, GROWTH_MIN)
    for plan in (BACKOFF, CAPPED):
        # A right wait passes its bound + margin only if the noise passes the margin.
        samples = trials(plan) * FAILURES
        over = noise.exceeds(BOUND_MARGIN_S)
        odds[f"bounds ({'cap' if plan.bounds_only else 'backoff'} part)"] = 1 - binomial_below(
            samples, over, OVER_MIN
        )
    return odds


def defect_missed(noise: Noise) -> dict[str, float]:
    """For each defect R10 names, the chance it passes the check meant for it."""
    t = trials(BACKOFF)
    top = BACKOFF.growth_level(FAILURES)
    assert top is not None
    half = BACKOFF.bound(top) / 2
    # No growth: every wait within the first bound; it passes half of the top bound
    # only by noise of at least the first bound.
    no_growth = noise.exceeds(half - BACKOFF.bound(1))
    # No cap: the n-th wait over [0, base*2^(n-1)] with the cap at the base. The waits
    # one client sees over the cap are moments apart (a trial lasts longer than a stall
    # window), so it is missed only if every client sees fewer than OVER_MIN.
    count, each = SHAPE[CAPPED]
    over = [
        noise.p_wait_above(CAPPED.cap_s + BOUND_MARGIN_S, 0, CAPPED.base_s * 2 ** (n - 1))
        for n in range(1, FAILURES + 1)
    ]
    one_client = _at_most(each, over, OVER_MIN - 1)
    return {
        "no jitter": 0.0,  # (1.): no wait below 75% of its bound, ever
        "too little jitter (0-20%)": 0.0,
        "jitter on the first retry only": 0.0,
        "no growth": 1 - binomial_below(t, no_growth, GROWTH_MIN),
        "no cap": one_client**count,
    }


def _at_most(trials_: int, p_per_level: list[float], k: int) -> float:
    """P(at most k waits over, out of `trials_` trials with these per-level odds)."""
    # Distribution of the number of levels over in one trial, then its convolution.
    one = [1.0]
    for p in p_per_level:
        one = [
            (one[i] if i < len(one) else 0) * (1 - p) + (one[i - 1] * p if i else 0)
            for i in range(len(one) + 1)
        ]
    total = [1.0]
    for _ in range(trials_):
        total = [
            sum(total[j] * one[i - j] for j in range(len(total)) if 0 <= i - j < len(one))
            for i in range(len(total) + len(one) - 1)
        ]
    return sum(total[: k + 1])


def test_a_full_jitter_client_fails_r10_less_than_once_in_a_million() -> None:
    noise = Noise(noise_of(recordings()[HEAVIEST]))
    odds = full_jitter_false_fail(noise)
    assert sum(odds.values()) < MILLION, odds


@pytest.mark.parametrize("recording", range(len(recordings())))
def test_a_client_breaking_r10_passes_it_less_than_once_in_a_million(recording: int) -> None:
    missed = defect_missed(Noise(noise_of(recordings()[recording])))
    if recording == len(recordings()) - 1:  # the heaviest: R10 loading the machine itself
        assert missed.pop("no growth") < 1e-3, missed
    assert max(missed.values()) < MILLION, missed


def test_the_bounds_hold_on_every_recording() -> None:
    for recording in recordings():
        noise = Noise(noise_of(recording))
        assert sum(full_jitter_false_fail(noise).values()) < MILLION, recording["how"]


# --- 3. the checks themselves, replayed -----------------------------------------------

Client = Callable[[int, Plan, random.Random], float]  # (retry n, plan, rng) -> delay


def full_jitter(n: int, plan: Plan, rng: random.Random) -> float:
    return rng.uniform(0, plan.bound(n))


def no_jitter(n: int, plan: Plan, rng: random.Random) -> float:
    return plan.bound(n)


def small_jitter(n: int, plan: Plan, rng: random.Random) -> float:
    return plan.bound(n) * (1 - 0.2 * rng.random())


def first_only(n: int, plan: Plan, rng: random.Random) -> float:
    return full_jitter(n, plan, rng) if n == 1 else plan.bound(n)


def constant(n: int, plan: Plan, rng: random.Random) -> float:
    return rng.uniform(0, plan.base_s)


def no_cap(n: int, plan: Plan, rng: random.Random) -> float:
    return rng.uniform(0, plan.base_s * 2 ** (n - 1))


def replay(client: Client, plan: Plan, noise: list[float], rng: random.Random) -> tuple[str, ...]:
    """One run of a part: the client's delays plus recorded noise, through the judge."""
    count, each = SHAPE[plan]
    runs = []
    for _ in range(count):  # the instances run at once: their clocks start together
        clock = rng.uniform(0, 0.5)
        for _ in range(each):
            trial = []
            for n in range(1, FAILURES + 1):
                seconds = client(n, plan, rng) + rng.choice(noise)
                clock += seconds + 0.01
                trial.append(Wait(seconds, clock))
            clock += 0.3  # the successful attempt and the calls before the next trial
            runs.append(trial)
    minimum = round(MIN_SHARE * count * each)
    return judge_waits(runs, plan, min_trials=minimum).problems


RUNS = 400


@pytest.mark.parametrize("recording", [0, HEAVIEST])
def test_replayed_full_jitter_always_passes(recording: int) -> None:
    noise, rng = noise_of(recordings()[recording]), random.Random(11)
    failed = [
        p
        for _ in range(RUNS)
        for plan in (BACKOFF, CAPPED)
        if (p := replay(full_jitter, plan, noise, rng))
    ]
    assert not failed


@pytest.mark.parametrize(
    ("client", "plan", "reason"),
    [
        (no_jitter, BACKOFF, "No jitter at retries 1, 2 and 3"),
        (small_jitter, BACKOFF, "Too little jitter at retries 1, 2 and 3"),
        (first_only, BACKOFF, "No jitter at retries 2 and 3"),
        (constant, BACKOFF, "No exponential growth"),
        (no_cap, CAPPED, "No cap"),
    ],
)
@pytest.mark.parametrize("recording", [0, HEAVIEST])
def test_replayed_defects_always_fail_named(
    client: Client, plan: Plan, reason: str, recording: int
) -> None:
    noise, rng = noise_of(recordings()[recording]), random.Random(12)
    for _ in range(RUNS // 4):
        problems = replay(client, plan, noise, rng)
        assert any(reason in p for p in problems), problems


def test_the_computed_odds_match_the_replayed_checks() -> None:
    # With three trials instead of thirty, a full-jitter client misses the jitter
    # check of retry 1 often enough to count: the computation must agree with it.
    noise_samples = noise_of(recordings()[HEAVIEST])
    noise, rng = Noise(noise_samples), random.Random(13)
    small = Plan(BACKOFF.base_s, BACKOFF.cap_s)
    bound = small.bound(1)
    expected = (1 - noise.p_wait_below(JITTER_SHARE * bound, 0, bound)) ** 3
    runs, missed = 20_000, 0
    for _ in range(runs):
        trials_ = [[Wait(full_jitter(1, small, rng) + rng.choice(noise_samples))] for _ in range(3)]
        problems = judge_waits(trials_, small, min_trials=3).problems
        missed += any("jitter at retry 1" in p for p in problems)
    assert missed / runs == pytest.approx(expected, abs=4 * math.sqrt(expected / runs))
