"""Backoff over many trials, and retry budgets under sustained failure (R10, R12).

R10 runs many trials of the same failing call (three 503s, then the call goes
through) and judges the waits of each retry level across trials
(backoff_stats.py): jitter at every level, growth, and the bounds
min(cap, base*2^(n-1)) with the base and cap the adapter was given. Two parts:
- backoff: base 250 ms, cap 1 s: the bounds grow 250, 500, 1000 ms; three
  instances of the adapter, 10 trials each;
- cap: base and cap both 400 ms: every wait must stay within 400 ms; three
  instances, 14 trials each.
All six instances run at once, each its own client with its own budget;
before each trial but its first, 30 calls succeed, so that a retry budget
(R12) that refills on success never blocks the retries.
Each trial fails its own item (the read role, e.g. GET /v1/products/{id}), so the
trials of all instances are told apart in one journal.

R12 fails every call until the retries per call fall, then lets 100 calls
succeed: a failing call must then be retried again (the budget refills).
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness.conformance import binding
from harness.conformance.adapter import Adapter
from harness.conformance.backoff_stats import Finding, Plan, Wait, judge_waits, ms
from harness.conformance.scenarios.base import (
    LOGIN,
    Context,
    NoSession,
    Op,
    call_timeout,
    evidence_of,
    sibling,
)
from harness.conformance.verdicts import Evidence, Outcome, Rule, Verdict, judged
from harness.control import ControlClient

# The calls this module makes.
PRODUCT = Op("read")
REFILL = Op("list", {"page_size": 1})
PROFILE = Op("current_user")
LOGIN_OP = Op("login", LOGIN)

# --- R10 ---------------------------------------------------------------------------

R10 = Rule(
    "R10",
    "Capped exponential backoff with jitter",
    'AWS Architecture Blog "Exponential Backoff and Jitter"; gRPC A6 (jittered backoff)',
)
BACKOFF = Plan(base_s=0.25, cap_s=1.0)
CAPPED = Plan(base_s=0.4, cap_s=0.4, bounds_only=True)
# Per part: (how many instances at once, trials each).
SHAPE = {BACKOFF: (3, 10), CAPPED: (3, 14)}
# A retry level seen in fewer than this share of a part's trials is not judged.
MIN_SHARE = 2 / 3
FAILURES = 3
REFILL_CALLS = 30
# One item per trial, listed in one call before the trials start.
R10_ITEMS = sum(n * trials for n, trials in SHAPE.values())
REFILL_BATCH = 3


def _env(plan: Plan) -> dict[str, Any]:
    return {"retry_base_ms": round(plan.base_s * 1000), "retry_cap_ms": round(plan.cap_s * 1000)}


R10_ENV = _env(BACKOFF)


@dataclass(eq=False)
class _Instance:
    name: str
    plan: Plan
    ids: list[str]
    adapter: Adapter | None = None
    retries: list[int] | None = None  # per trial, once run
    refilled: list[bool] | None = None  # per trial: did every call before it succeed


def backoff_with_jitter(ctx: Context) -> Verdict:
    ctx.start_session()
    ids = iter(ctx.product_ids(R10_ITEMS))
    names = {BACKOFF: "A", CAPPED: "C"}
    instances = [
        _Instance(f"{names[plan]}{n}", plan, [next(ids) for _ in range(trials)])
        for plan, (count, trials) in SHAPE.items()
        for n in range(1, count + 1)
    ]
    instances[0].adapter = ctx.adapter  # the rule's own adapter is told the backoff plan
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(len(instances)) as pool:
        # The other instances start at once; each one started is closed whatever happens.
        # Each task runs in a copy of this context: the API binding goes with it.
        starting = [
            pool.submit(contextvars.copy_context().run, _start, ctx.adapter, i.plan)
            for i in instances[1:]
        ]
        failures = []
        for instance, future in zip(instances[1:], starting, strict=True):
            try:
                instance.adapter = stack.enter_context(future.result())
            except Exception as e:
                failures.append(e)
        if failures:
            raise failures[0]
        ctx.control.clear_journal()
        if binding.current().demo:
            for instance in instances:
                for product in instance.ids:
                    ctx.control.add_fault(_failing(product))
        trials = [
            pool.submit(contextvars.copy_context().run, _run_trials, i, ctx.control)
            for i in instances
        ]
        for done in trials:
            done.result()
    return _judge(instances, ctx.journal())


def _start(template: Adapter, plan: Plan) -> Adapter:
    """Another instance of the adapter, told the part's base and cap, logged in."""
    adapter = template.relaunch(**_env(plan))
    try:
        login = LOGIN_OP.call(adapter)
        if not login.ok:
            raise NoSession(login, [])
    except BaseException:
        adapter.close()
        raise
    return adapter


def _failing(product: str) -> dict[str, Any]:
    rule = PRODUCT.fault({"type": "status", "status": 503}, select={"times": FAILURES})
    rule["match"]["path"] = binding.current().item_path(product)
    return rule


def _failing_for(adapter: Adapter) -> dict[str, Any]:
    """Another API's mock takes no concrete path of a templated operation in a rule:
    each trial's failures are then matched by the instance's own token, one trial's
    rule at a time (its trials run one after another)."""
    tokens = adapter.call("get_tokens").result or {}
    rule = PRODUCT.fault({"type": "status", "status": 503}, select={"times": FAILURES})
    rule["match"]["headers"] = {
        "Authorization": binding.current().bearer(tokens.get("access_token"))
    }
    return rule


def _run_trials(instance: _Instance, control_api: ControlClient) -> None:
    timeout = call_timeout(*(instance.plan.bound(n) for n in range(1, FAILURES + 1)))
    adapter = instance.adapter
    assert adapter is not None
    instance.refilled = []
    per_trial = None if binding.current().demo else _failing_for(adapter)
    with sibling(control_api) as control:
        for trial, product in enumerate(instance.ids):
            # The first trial starts with a fresh client's full budget.
            instance.refilled.append(_refill(adapter) if trial else True)
            rule_id = control.add_fault(per_trial) if per_trial is not None else None
            PRODUCT.with_args(id=product).call(adapter, timeout=timeout)
            if rule_id is not None:
                control.clear_faults(rule_id)
            if trial == 1 and not any(_retried(control, p) for p in instance.ids[:2]):
                return  # a client that does not retry: no backoff to wait for


def _retried(control: ControlClient, product: str) -> bool:
    path = binding.current().item_path(product)
    attempts = [e for e in PRODUCT.of(control.entries()) if e["path"] == path]
    return len(attempts) > 1


def _refill(adapter: Adapter) -> bool:
    """REFILL_CALLS successful calls, a few at a time: a burst of them would keep the
    mock busy while the other instances' retries arrive, and make those look late.
    False when some did not succeed (a budget may then rightly stay empty)."""
    succeeded = 0
    for _ in range(0, REFILL_CALLS, REFILL_BATCH):
        replies = adapter.parallel([REFILL.request()] * REFILL_BATCH, timeout=call_timeout())
        succeeded += sum(r.ok for r in replies)
    return succeeded >= REFILL_CALLS


def _judge(instances: Sequence[_Instance], entries: list[dict[str, Any]]) -> Verdict:
    by_path: dict[str, list[dict[str, Any]]] = {}
    api = binding.current()
    for entry in PRODUCT.of(entries):
        by_path.setdefault(entry["path"], []).append(entry)
    problems: list[str] = []
    parts: list[Evidence] = []
    summaries: list[str] = []
    any_retry = False
    stopped: list[_Instance] = []
    for plan, title in ((BACKOFF, "backoff"), (CAPPED, "cap")):
        mine = [i for i in instances if i.plan is plan]
        trials: list[list[Wait]] = []
        lines: list[str] = []
        last: list[dict[str, Any]] = []
        for instance in mine:
            retries = []
            ran = instance.ids[: len(instance.refilled or [])]  # it may have stopped early
            for n, product in enumerate(ran, 1):
                attempts = sorted(by_path.get(api.item_path(product), []), key=_began)
                waits = _gaps(attempts)
                retries.append(len(waits))
                lines.append(f"{instance.name} trial {n:2}: waits " + _list(waits))
                if waits:
                    trials.append(waits)
                    last = attempts
            instance.retries = retries
            any_retry = any_retry or any(retries)
            if _stopped_retrying(instance):
                stopped.append(instance)
        count, per = SHAPE[plan]
        finding = judge_waits(trials, plan, min_trials=round(MIN_SHARE * count * per))
        problems += [f"{title} part: {p}" for p in finding.problems]
        heading = (
            f"{title}: base {ms(plan.base_s)}, cap {ms(plan.cap_s)} "
            f"({count} clients x {per} trials)"
        )
        parts.append(evidence_of(last, heading).with_lines([*finding.facts, *lines]))
        summaries.append(_summary(title, plan, finding))
    if stopped:
        problems.insert(0, _stopped_message(stopped))
    evidence = Evidence.of_parts(parts)
    if not any_retry:
        return Verdict(
            R10,
            Outcome.NOT_APPLICABLE,
            "Not applicable: the client never retried a GET answered 503, so it has no "
            "backoff to judge.",
            evidence,
        )
    return judged(R10, problems, " ".join(summaries), evidence)


def _stopped_retrying(instance: _Instance) -> bool:
    """Retried at first, then not at all in some later trial that every call before it
    had refilled (a refill that failed may rightly leave a budget empty)."""
    retries, refilled = instance.retries or [], instance.refilled or []
    later = [r for r, full in zip(retries[1:], refilled[1:], strict=False) if full]
    return bool(retries) and retries[0] > 0 and 0 in later


def _stopped_message(stopped: list[_Instance]) -> str:
    names = ", ".join(i.name for i in stopped)
    retries = stopped[0].retries or []
    never = all(not any((i.retries or [0])[1:]) for i in stopped)
    if never:
        return (
            f"Retries stopped after the first trial: each client ({names}) retried in its "
            f"first trial and never again, although {REFILL_CALLS} calls succeeded before "
            "each trial: its retry budget never refills (gRPC A6 earns tokens back with "
            "every success)"
        )
    return (
        f"Retries stopped in some trials ({names}), although {REFILL_CALLS} calls "
        f"succeeded before each (retries per trial of {stopped[0].name}: "
        + ", ".join(map(str, retries))
        + "): the retry budget does not refill on success"
    )


def _summary(title: str, plan: Plan, finding: Finding) -> str:
    facts = "; ".join(finding.facts)
    if plan.bounds_only:
        return f"With base and cap at {ms(plan.cap_s)}, every wait stayed within the cap ({facts})."
    return f"Jitter at every retry, growing within min(cap, base*2^(n-1)): {facts}."


def _began(entry: dict[str, Any]) -> float:
    started: float = entry["started_at"]
    return started


def _gaps(attempts: list[dict[str, Any]]) -> list[Wait]:
    """Wait between the end of each attempt and the start of the next."""
    return [
        Wait(
            max(0.0, nxt["started_at"] - (prev["started_at"] + prev["duration_ms"] / 1000)),
            nxt["started_at"],
        )
        for prev, nxt in itertools.pairwise(attempts)
    ]


def _list(waits: list[Wait]) -> str:
    return ", ".join(ms(w.seconds) for w in waits) if waits else "none (no retry)"


# --- R12 ---------------------------------------------------------------------------

R12 = Rule(
    "R12",
    "Retries are throttled when most calls fail (retry budget), and come back after calls succeed",
    "gRPC A6 retry throttling (tokens spent on failure, earned back on success); "
    "Finagle retry budgets",
)
CALLS = 20
WINDOW = 5  # calls compared at the start and the end
RECOVERY_CALLS = 100
AFTER_RECOVERY = 3  # calls failed once each after the recovery


def retry_budget(ctx: Context) -> Verdict:
    ctx.start_session()
    ctx.control.add_fault(PROFILE.fault({"type": "status", "status": 503}))
    per_call: list[int] = []
    mark = 0
    for _ in range(CALLS):
        PROFILE.call(ctx, timeout=call_timeout(5.0, 5.0, 5.0))
        entries = ctx.control.entries(since=mark)
        if entries:
            mark = entries[-1]["seq"]
        per_call.append(len(PROFILE.of(entries)))
    failing = evidence_of(PROFILE.of(ctx.journal()), "every call fails").with_lines(
        [f"attempts per call, in order: {', '.join(map(str, per_call))}"]
    )
    retries = [n - 1 for n in per_call]
    early = sum(retries[:WINDOW]) / WINDOW
    late = sum(retries[-WINDOW:]) / WINDOW
    recovered, again = _recovery(ctx)
    evidence = Evidence.of_parts([failing, recovered])
    if early == 0:
        return Verdict(
            R12,
            Outcome.NOT_APPLICABLE,
            "Not applicable: the client does not retry a GET answered 503, so it needs no budget.",
            evidence,
        )
    problems = []
    if late > early / 2:
        problems.append(
            f"Against a server failing every call, the client kept retrying: "
            f"{early:.1f} retries per call over the first {WINDOW} calls, {late:.1f} over "
            f"the last {WINDOW}. Each client multiplies the load on a struggling backend"
        )
    if not any(again):
        problems.append(
            f"Retries never came back: after {RECOVERY_CALLS} calls succeeded, "
            f"{AFTER_RECOVERY} calls that failed once each were not retried; a retry budget "
            "must refill on success"
        )
    return judged(
        R12,
        problems,
        f"Retries per call fell from {early:.1f} (first {WINDOW} calls) to {late:.1f} "
        f"(last {WINDOW}) while every call failed, and came back after {RECOVERY_CALLS} "
        f"calls succeeded ({sum(again)} of {AFTER_RECOVERY} calls failed once were retried).",
        evidence,
    )


def _recovery(ctx: Context) -> tuple[Evidence, list[bool]]:
    ctx.control.clear_faults()
    for _ in range(RECOVERY_CALLS // 25):
        ctx.adapter.parallel([REFILL.request()] * 25, timeout=call_timeout())
    ctx.control.clear_journal()
    again = []
    for _ in range(AFTER_RECOVERY):
        mark = max((e["seq"] for e in ctx.control.entries()), default=0)
        ctx.control.add_fault(PROFILE.fault({"type": "status", "status": 503}, select={"times": 1}))
        PROFILE.call(ctx, timeout=call_timeout(5.0))
        again.append(len(PROFILE.of(ctx.control.entries(since=mark))) > 1)
    title = f"after {RECOVERY_CALLS} calls succeeded, each call fails once"
    return evidence_of(PROFILE.of(ctx.journal()), title), again
