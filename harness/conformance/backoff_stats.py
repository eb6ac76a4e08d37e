"""Judging backoff from many trials' waits (R10): pure, so recorded waits replay.

The n-th retry of a call must wait within [0, bound(n)], bound(n) = min(cap,
base * 2^(n-1)) (the AWS "full jitter" range; gRPC A6's random(0, backoff)),
with base and cap those the adapter was given. A trial is one call that fails
three times; its waits are measured by the mock, from the end of a failed
attempt to the start of the next.

A busy machine only ever lengthens a wait (the client wakes late, the mock sees
the next request late; it never sees it early), by tens of milliseconds and
rarely more. So every check is a count over trials, chosen so that this
one-sided noise cannot make a wrong client look right where it matters most,
and can make a right one look wrong only in a tail so far out it is stated:

- jitter, at every retry level reached: some wait below JITTER_SHARE of the
  level's bound. A client without jitter (or jittering within the top
  quarter of the range) never gets there: noise only adds. A full-jitter
  client has each wait there with probability ~0.6, so all trials miss with
  ~0.4^trials.
- growth: at the highest level whose bound is at least 4x the first's, at
  least GROWTH_MIN waits above half of that bound (2x the first bound). A
  client that does not grow stays under the first bound and needs the noise
  to add the whole first bound, three times.
- bounds (and so the cap): fewer than OVER_MIN waits longer than their bound
  plus BOUND_MARGIN_S, counting waits that ended within STALL_S of each other
  once (several clients run at once, and one stall of the machine delays them
  all). Noise must add that margin at three different moments for a right
  client to fail.

tests/harness/conformance/test_backoff_statistics.py replays waits recorded on
a loaded machine through these checks and computes their false-verdict
probabilities; docs/conformance.md states them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

JITTER_SHARE = 0.75
GROWTH_MIN = 3
BOUND_MARGIN_S = 0.4
OVER_MIN = 3
STALL_S = 0.2


@dataclass(frozen=True)
class Plan:
    """What one part of R10 asked of the client: its backoff base and cap."""

    base_s: float
    cap_s: float
    bounds_only: bool = False  # the cap part: every bound is the cap, so no growth

    def bound(self, retry: int) -> float:
        """The longest the n-th retry (n from 1) may wait."""
        return min(self.cap_s, self.base_s * 2.0 ** (retry - 1))

    def growth_level(self, levels: int) -> int | None:
        """The retry judged for growth: the highest reached whose bound is 4x the first."""
        chosen = [n for n in range(2, levels + 1) if self.bound(n) >= 4 * self.bound(1)]
        return chosen[-1] if chosen and not self.bounds_only else None


@dataclass(frozen=True)
class Finding:
    problems: tuple[str, ...]
    facts: tuple[str, ...]  # per level, what was seen: the verdict's summary


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


@dataclass(frozen=True)
class Wait:
    seconds: float
    ended_at: float = 0.0  # when the next attempt started (any clock, for stalls)


def judge_waits(trials: Sequence[Sequence[Wait]], plan: Plan, *, min_trials: int) -> Finding:
    """Judge the waits of many trials, level by level; a level seen in fewer than
    `min_trials` trials is not judged."""
    levels = max((len(t) for t in trials), default=0)
    problems: list[str] = []
    facts: list[str] = []
    over: list[tuple[int, Wait, float]] = []
    unjittered: list[tuple[int, list[float], float]] = []
    for n in range(1, levels + 1):
        reached = [t[n - 1] for t in trials if len(t) >= n]
        waits = sorted(w.seconds for w in reached)
        if len(waits) < min_trials:
            facts.append(f"retry {n}: only {len(waits)} waits, not judged")
            continue
        bound = plan.bound(n)
        low = [w for w in waits if w < JITTER_SHARE * bound]
        facts.append(
            f"retry {n}: {len(waits)} waits {ms(waits[0])}-{ms(waits[-1])} "
            f"(bound {ms(bound)}, {len(low)} below {ms(JITTER_SHARE * bound)})"
        )
        if not low and not plan.bounds_only:
            unjittered.append((n, waits, bound))
        over += [(n, w, bound) for w in reached if w.seconds > bound + BOUND_MARGIN_S]
    if unjittered:
        problems.append(_no_jitter(unjittered, levels))
    if len(moments(w.ended_at for _, w, _ in over)) >= OVER_MIN:
        problems.append(_over(over, plan))
    growth = plan.growth_level(levels)
    if growth is not None:
        waits = [t[growth - 1].seconds for t in trials if len(t) >= growth]
        half = plan.bound(growth) / 2
        high = [w for w in waits if w > half]
        if len(waits) >= min_trials and len(high) < GROWTH_MIN:
            problems.append(_no_growth(growth, waits, half, plan))
    return Finding(tuple(problems), tuple(facts))


def _no_jitter(unjittered: list[tuple[int, list[float], float]], levels: int) -> str:
    """One problem for every retry level without jitter, named by how little it has."""
    exact = all(waits[0] >= 0.95 * bound for _, waits, bound in unjittered)
    which = _levels([n for n, _, _ in unjittered])
    seen = "; ".join(
        f"retry {n} waited {ms(waits[0])}-{ms(waits[-1])} (bound {ms(bound)})"
        for n, waits, bound in unjittered
    )
    trials = len(unjittered[0][1])
    others = "" if len(unjittered) == levels else " (the other retries are jittered)"
    if exact:
        return (
            f"No jitter at {which}{others}: in all {trials} trials {seen}, never less than "
            "min(cap, base*2^(n-1)); synchronized clients retry in waves"
        )
    return (
        f"Too little jitter at {which}{others}: in all {trials} trials {seen}, never below "
        f"{JITTER_SHARE:.0%} of the bound; full jitter spreads the n-th wait over "
        "[0, min(cap, base*2^(n-1))]"
    )


def _levels(levels: list[int]) -> str:
    if len(levels) == 1:
        return f"retry {levels[0]}"
    return "retries " + ", ".join(map(str, levels[:-1])) + f" and {levels[-1]}"


def _no_growth(n: int, waits: list[float], half: float, plan: Plan) -> str:
    longest = max(waits)
    # Four in five waits under half the first bound: no backoff at all (waiting at random
    # up to the first bound would put two in five above it; a busy machine makes even
    # instant retries a little late).
    most = sorted(waits)[int(0.8 * len(waits))]
    if most < 0.5 * plan.bound(1):
        return (
            f"No backoff: four in five of retry {n}'s waits were under {ms(most)} "
            f"(longest {ms(longest)}), where it may wait up to {ms(plan.bound(n))}; retries "
            "at once pile onto a failing server"
        )
    return (
        f"No exponential growth: retry {n} may wait up to {ms(plan.bound(n))} "
        f"(base*2^{n - 1}), yet only {sum(w > half for w in waits)} of {len(waits)} of its "
        f"waits passed {ms(half)} (longest {ms(longest)})"
    )


def moments(times: Iterable[float]) -> list[float]:
    """Distinct moments: times within STALL_S of the previous one are the same stall."""
    distinct: list[float] = []
    for t in sorted(times):
        if not distinct or t - distinct[-1] > STALL_S:
            distinct.append(t)
    return distinct


def _over(over: list[tuple[int, Wait, float]], plan: Plan) -> str:
    worst = max(over, key=lambda o: o[1].seconds - o[2])
    levels = sorted({n for n, _, _ in over})
    if plan.bounds_only:  # the cap part: every bound is the cap
        return (
            f"No cap: with its cap set to {ms(plan.cap_s)} (HARNESS_RETRY_CAP_MS), "
            f"{len(over)} waits passed it by more than {ms(BOUND_MARGIN_S)} (retry "
            f"{worst[0]} waited {ms(worst[1].seconds)}); backoff must stop growing at the cap"
        )
    return (
        f"Waits beyond their bound: {len(over)} waits of retries "
        f"{', '.join(map(str, levels))} passed min(cap, base*2^(n-1)) by more than "
        f"{ms(BOUND_MARGIN_S)} (retry {worst[0]} waited {ms(worst[1].seconds)}, "
        f"bound {ms(worst[2])})"
    )
