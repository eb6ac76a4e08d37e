"""Retry rules: duplicates, keys, Retry-After, bounds, 4xx (R6, R8, R9, R11, R15)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from harness.conformance import binding
from harness.conformance.adapter import NoReply
from harness.conformance.scenarios.base import (
    EARLY_TOLERANCE_S,
    PRODUCT,
    Context,
    Op,
    call_timeout,
    evidence_of,
)
from harness.conformance.verdicts import Evidence, Outcome, Rule, Verdict, judged

# The calls this module makes.
PROFILE = Op("current_user")
CREATE = Op("create", {"product": PRODUCT})
MISSING_PRODUCT = Op("read", {"id": "prd_x"})

# --- R6 ----------------------------------------------------------------------------

R6 = Rule(
    "R6",
    "A non-idempotent call is not retried once it may have reached the server, "
    "unless it carries an Idempotency-Key",
    "RFC 9110 s9.2.2; IETF httpapi Idempotency-Key draft",
)


def no_duplicate_creation(ctx: Context) -> Verdict:
    ctx.start_session()
    ctx.control.add_fault(
        CREATE.fault(
            {"type": "apply_then_fail", "then": "status", "status": 502}, select={"times": 1}
        )
    )
    reply = CREATE.call(ctx, timeout=call_timeout())
    entries = ctx.journal()
    attempts = CREATE.of(entries)
    created = [e for e in attempts if _took_effect(e)]
    problems = []
    if len(created) > 1:
        keys = {e["idempotency_key"] for e in attempts}
        how = "without an Idempotency-Key" if keys == {None} else "with a new key each time"
        problems.append(
            f"The POST was applied, answered 502, and retried {how}: "
            f"{len(created)} {_created_items()} exist"
        )
    outcome = (
        "retried safely (the key replayed the first result)"
        if reply.ok
        else (f"reported {reply.error_kind} without retrying")
    )
    return judged(
        R6, problems, f"One {_created_items()[:-1]} was created; the client {outcome}.",
        evidence_of(attempts),
    )  # fmt: skip


def _took_effect(entry: dict[str, Any]) -> bool:
    """Whether a create attempt created something: the one the fault applied before
    failing, and every other that succeeded without replaying an earlier result."""
    fault = entry.get("fault") or {}
    if fault.get("action") == "apply_then_fail":
        return True
    status = entry.get("status")
    return status is not None and 200 <= status < 300 and entry.get("idempotency") != "replayed"


def _created_items() -> str:
    return "products" if binding.current().demo else "items"


# --- R9 ----------------------------------------------------------------------------

R9 = Rule(
    "R9",
    "429 and 503 with Retry-After are honoured (seconds and HTTP-date)",
    "RFC 9110 s10.2.3; RFC 6585 s4",
)
RETRY_AFTER_S = 2
# How far ahead the HTTP-date asks, past the next whole second (so 2-3 s): a client
# that drops the date retries on its own backoff (at most 50 ms in a verify run), and
# only a stall of seconds on a loaded machine could pass that off as honouring it.
RETRY_AFTER_DATE_AHEAD_S = 3
GAVE_UP_KIND = {429: "tooManyRequests", 503: "serverError"}


def retry_after_honoured(ctx: Context) -> Verdict:
    ctx.start_session()
    # A 429 asking for whole seconds, then a 503 asking for an HTTP-date: both parts are
    # always judged, so a client that honours one but not the other is told which.
    seconds = _honours(ctx, 429, RETRY_AFTER_S)
    # HTTP-dates have whole seconds: ask for a second boundary well ahead.
    until = math.ceil(time.time()) + RETRY_AFTER_DATE_AHEAD_S
    date = _honours(
        ctx, 503, format_datetime(datetime.fromtimestamp(until, UTC), usegmt=True), until
    )
    parts = (seconds, date)
    evidence = Evidence.of_parts(p.evidence for p in parts)
    problems = [p.problem for p in parts if p.problem]
    if problems:
        return judged(R9, problems, "", evidence)
    if not any(p.retried for p in parts):
        return Verdict(
            R9,
            Outcome.NOT_APPLICABLE,
            "Not applicable: the client never retries 429/503 (it gave up at once and "
            f"reported {seconds.kind} and {date.kind}), so it never has to wait for "
            "Retry-After.",
            evidence,
        )
    return Verdict(R9, Outcome.PASS, " ".join(p.summary for p in parts), evidence)


class _Part:
    def __init__(self, title: str, evidence: Evidence) -> None:
        self.title = title
        self.evidence = evidence.titled(title)
        self.problem: str | None = None
        self.summary = ""
        self.retried = False
        self.kind: str | None = None


def _honours(
    ctx: Context, status: int, retry_after: int | str, until: float | None = None
) -> _Part:
    ctx.only_fault(
        PROFILE.fault(
            {"type": "status", "status": status, "retry_after": retry_after}, select={"times": 1}
        )
    )
    wait = float(retry_after) if until is None else until - time.time()
    reply = PROFILE.call(ctx, timeout=call_timeout(wait))
    attempts = PROFILE.of(ctx.journal())
    asked = f"a {status} with Retry-After: {retry_after}"
    part = _Part(f"{status} with Retry-After: {retry_after}", evidence_of(attempts))
    part.kind = reply.error_kind or "success"
    if len(attempts) < 2:
        if reply.error_kind == GAVE_UP_KIND[status]:
            part.summary = f"After {asked} the client gave up and reported {reply.error_kind}."
        else:
            part.problem = (
                f"After {asked} the client did not retry and reported {part.kind}, "
                f"not {GAVE_UP_KIND[status]}"
            )
        return part
    part.retried = True
    first = attempts[0]["started_at"]
    wanted = (until - first) if until is not None else float(retry_after)
    waited = attempts[1]["started_at"] - first
    if waited < wanted - EARLY_TOLERANCE_S:
        part.problem = f"Retried {waited:.3f} s after {asked} (it asked for {wanted:.3f} s)"
    else:
        part.summary = f"Waited {waited:.2f} s after {asked} (asked: {wanted:.2f} s)."
    return part


# --- R8 ----------------------------------------------------------------------------

R8 = Rule(
    "R8",
    "An Idempotency-Key is the same on every attempt of one call and new for each call",
    "IETF httpapi Idempotency-Key draft",
)


def idempotency_keys(ctx: Context) -> Verdict:
    ctx.start_session()
    for _ in range(2):
        ctx.control.add_fault(CREATE.fault({"type": "status", "status": 503}, select={"times": 1}))
        CREATE.call(ctx, timeout=call_timeout(5.0))
    attempts = CREATE.of(ctx.journal())
    keys = [e["idempotency_key"] for e in attempts]
    evidence = evidence_of(attempts)
    if len(keys) < 4:
        return Verdict(
            R8,
            Outcome.NOT_APPLICABLE,
            "Not applicable: the client does not retry a POST answered 503, so its key is "
            "never sent twice.",
            evidence,
        )
    problems = []
    if None in keys:
        problems.append(f"{keys.count(None)} of the {len(keys)} attempts carried no key")
    if keys[0] != keys[1] or keys[2] != keys[3]:
        problems.append("a retried call changed its key between attempts")
    if keys[0] is not None and keys[0] == keys[2]:
        problems.append("two calls carried the same key")
    shown = ", ".join(str(k)[:8] for k in keys)
    return judged(
        R8,
        [f"{p} (keys per attempt: {shown}; want A, A, B, B)" for p in problems],
        "Each call kept one key across its attempts, and each call had its own.",
        evidence,
    )


# --- R15 ---------------------------------------------------------------------------

R15 = Rule(
    "R15",
    "4xx other than 401/408/429 are not retried and map to their kind",
    "RFC 9110 s15.5",
)
STATUS_KINDS = {
    400: "badRequest",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    422: "badRequest",  # the seed's union has no kind of its own for 422
}


def client_errors_not_retried(ctx: Context) -> Verdict:
    ctx.start_session()
    problems, parts = [], []
    for status, kind in STATUS_KINDS.items():
        ctx.only_fault(MISSING_PRODUCT.fault({"type": "status", "status": status}))
        reply = MISSING_PRODUCT.call(ctx, timeout=call_timeout(5.0))
        attempts = MISSING_PRODUCT.of(ctx.journal())
        if len(attempts) != 1:
            problems.append(f"{status}: {len(attempts)} attempts (a {status} is not retried)")
        if reply.error_kind != kind:
            problems.append(f"{status}: reported {reply.error_kind or 'success'}, expected {kind}")
        parts.append(evidence_of(attempts, f"{status} -> {reply.error_kind or 'success'}"))
    return judged(
        R15,
        problems,
        f"One attempt each for {', '.join(map(str, STATUS_KINDS))}, mapped to the right kind.",
        Evidence.of_parts(parts),
    )


# --- R11 ---------------------------------------------------------------------------

R11 = Rule(
    "R11",
    "Bounded attempts and an overall deadline",
    "urllib3 Retry (total); gRPC A6 (maxAttempts, capped at 5; the call's deadline)",
)
MAX_REASONABLE_ATTEMPTS = 10
# The overall deadline the adapter is given (HARNESS_DEADLINE_S), and how long each
# attempt then takes: longer than the deadline, shorter than the read timeout.
DEADLINE_S = 1.0
HELD_S = 1.5
# A client may notice its deadline only once an attempt is over: it must not start
# another, and the call must end within the deadline plus that attempt.
DEADLINE_GRACE_S = 0.6


def attempts_are_bounded(ctx: Context) -> Verdict:
    ctx.start_session()
    # The deadline first, while a retry budget (R12) is full and cannot stop the retries.
    deadline = _deadline_kept(ctx)
    with ctx.usable() as later:  # a call that never ended leaves its adapter busy
        bounded = _bounded_attempts(later)
    return judged(
        R11,
        [p for part in (deadline, bounded) for p in part[0]],
        f"{deadline[2]} {bounded[2]}",
        Evidence.of_parts([deadline[1], bounded[1]]),
    )


def _bounded_attempts(ctx: Context) -> tuple[list[str], Evidence, str]:
    ctx.only_fault(PROFILE.fault({"type": "status", "status": 503}))
    problems = []
    try:
        reply = PROFILE.call(ctx, timeout=call_timeout(5.0, 5.0, 5.0))
    except NoReply:
        attempts = PROFILE.of(ctx.journal())
        problems.append(
            f"Against an endless 503 the call had not ended after {len(attempts)} attempts"
        )
        return problems, evidence_of(attempts, "endless 503"), ""
    attempts = PROFILE.of(ctx.journal())
    if len(attempts) > MAX_REASONABLE_ATTEMPTS:
        problems.append(
            f"{len(attempts)} attempts of one call against an endless 503 "
            f"(more than {MAX_REASONABLE_ATTEMPTS}: unbounded or nested retries)"
        )
    if reply.ok:
        problems.append("It reported success against an endless 503")
    done = f"Against an endless 503 it gave up after {len(attempts)} attempts ({reply.error_kind})."
    return problems, evidence_of(attempts, "endless 503"), done


def _deadline_kept(ctx: Context) -> tuple[list[str], Evidence, str]:
    ctx.only_fault(
        PROFILE.fault(
            {"type": "status", "status": 503}, delay={"type": "fixed", "ms": HELD_S * 1000}
        )
    )
    title = f"every attempt answered 503 after {HELD_S:g} s; deadline {DEADLINE_S:g} s"
    limit = DEADLINE_S + HELD_S + DEADLINE_GRACE_S
    sent = time.time()
    problems = []
    try:
        reply = PROFILE.call(ctx, timeout=call_timeout(limit, attempts=2))
        took = time.time() - sent
    except NoReply:
        reply, took = None, time.time() - sent
    attempts = sorted(PROFILE.of(ctx.journal()), key=lambda e: e["started_at"])
    began = attempts[0]["started_at"] if attempts else sent
    late = [n for n, e in enumerate(attempts, 1) if e["started_at"] > began + DEADLINE_S]
    if late:
        problems.append(
            f"No overall deadline: given {DEADLINE_S:g} s for the call "
            f"(HARNESS_DEADLINE_S), it started attempt {', '.join(map(str, late))} after the "
            f"deadline had passed (attempt {late[0]} at "
            f"+{attempts[late[0] - 1]['started_at'] - began:.2f} s)"
        )
    if reply is None or took > limit:
        problems.append(
            f"The call was still running {took:.1f} s after it began, past its "
            f"{DEADLINE_S:g} s deadline (plus one {HELD_S:g} s attempt)"
        )
    elif reply.ok:
        problems.append("It reported success while every attempt answered 503")
    done = f"Given a {DEADLINE_S:g} s deadline, the call ended after {took:.2f} s."
    return problems, evidence_of(attempts, title), done
