"""Retry rules: duplicates, keys, Retry-After, 4xx (R6, R8, R9, R15)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from email.utils import format_datetime

from harness.conformance.adapter import Reply
from harness.conformance.scenarios.base import (
    EARLY_TOLERANCE_S,
    PRODUCT,
    Context,
    evidence_of,
    of_operation,
)
from harness.conformance.verdicts import Evidence, Outcome, Rule, Verdict

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
        {
            "action": {"type": "apply_then_fail", "then": "status", "status": 502},
            "match": {"operation": "createProduct"},
            "select": {"times": 1},
        }
    )
    reply = ctx.adapter.call("create_product", {"product": PRODUCT})
    entries = ctx.journal()
    created = [e for e in entries if (e["effect"] or {}).get("kind") == "product_created"]
    attempts = of_operation(entries, "createProduct")
    evidence = evidence_of(attempts)
    if len(created) > 1:
        keys = {e["idempotency_key"] for e in attempts}
        how = "without an Idempotency-Key" if keys == {None} else "with a new key each time"
        return Verdict(
            R6,
            Outcome.FAIL,
            f"The POST was applied, answered 502, and retried {how}: "
            f"{len(created)} products exist.",
            evidence,
        )
    outcome = (
        "retried safely (the key replayed the first result)"
        if reply.ok
        else (f"reported {reply.error_kind} without retrying")
    )
    return Verdict(R6, Outcome.PASS, f"One product was created; the client {outcome}.", evidence)


# --- R9 ----------------------------------------------------------------------------

R9 = Rule(
    "R9",
    "429 and 503 with Retry-After are honoured (seconds and HTTP-date)",
    "RFC 9110 s10.2.3; RFC 6585 s4",
)
RETRY_AFTER_S = 2


def retry_after_honoured(ctx: Context) -> Verdict:
    ctx.start_session()
    # A 429 asking for whole seconds, then a 503 asking for an HTTP-date.
    problem, evidence = _honours(ctx, 429, RETRY_AFTER_S)
    if problem is None:
        # HTTP-dates have whole seconds: ask for the next second boundary plus one.
        until = math.ceil(time.time()) + 1
        problem, evidence = _honours(ctx, 503, format_datetime(_utc(until), usegmt=True), until)
    if problem is not None:
        return Verdict(R9, Outcome.FAIL, problem, evidence)
    return Verdict(
        R9,
        Outcome.PASS,
        f"Waited as asked: {RETRY_AFTER_S} s after a 429, and until the HTTP-date of a 503 "
        "(or gave up and said so).",
        evidence,
    )


def _honours(
    ctx: Context, status: int, retry_after: int | str, until: float | None = None
) -> tuple[str | None, Evidence]:
    ctx.only_fault(
        {
            "action": {"type": "status", "status": status, "retry_after": retry_after},
            "match": {"operation": "getProfile"},
            "select": {"times": 1},
        }
    )
    reply: Reply = ctx.adapter.call("get_profile", timeout=30)
    attempts = of_operation(ctx.journal(), "getProfile")
    evidence = evidence_of(attempts)
    asked = f"{status} with Retry-After: {retry_after}"
    if len(attempts) < 2:
        gave_up = {429: "tooManyRequests", 503: "serverError"}[status]
        if reply.error_kind == gave_up:
            return None, evidence  # gave up and said so: allowed
        return f"No retry after a {asked}, and the client reported {reply.error_kind}.", evidence
    first = attempts[0]["started_at"]
    wanted = (until - first) if until is not None else float(retry_after)
    waited = attempts[1]["started_at"] - first
    if waited < wanted - EARLY_TOLERANCE_S:
        return f"Retried {waited:.3f} s after a {asked} (asked for {wanted:.3f} s).", evidence
    return None, evidence


def _utc(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


# --- R8 ----------------------------------------------------------------------------

R8 = Rule(
    "R8",
    "An Idempotency-Key is the same on every attempt of one call and new for each call",
    "IETF httpapi Idempotency-Key draft",
)


def idempotency_keys(ctx: Context) -> Verdict:
    ctx.start_session()
    for _ in range(2):
        ctx.control.add_fault(
            {
                "action": {"type": "status", "status": 503},
                "match": {"operation": "createProduct"},
                "select": {"times": 1},
            }
        )
        ctx.adapter.call("create_product", {"product": PRODUCT})
    attempts = of_operation(ctx.journal(), "createProduct")
    keys = [e["idempotency_key"] for e in attempts]
    evidence = evidence_of(attempts)
    if len(keys) < 4:
        return Verdict(
            R8, Outcome.NOT_APPLICABLE, "The client does not retry POSTs after a 503.", evidence
        )
    if None in keys or keys[0] != keys[1] or keys[2] != keys[3] or keys[0] == keys[2]:
        return Verdict(
            R8,
            Outcome.FAIL,
            "Keys per attempt: " + ", ".join(str(k)[:8] for k in keys) + " (want A, A, B, B).",
            evidence,
        )
    return Verdict(R8, Outcome.PASS, "Each call kept one key across its attempts.", evidence)


# --- R15 ---------------------------------------------------------------------------

R15 = Rule(
    "R15",
    "4xx other than 401/408/429 are not retried and map to their kind",
    "RFC 9110 s15.5",
)
STATUS_KINDS = {400: "badRequest", 403: "forbidden", 404: "notFound", 409: "conflict"}


def client_errors_not_retried(ctx: Context) -> Verdict:
    ctx.start_session()
    problems = []
    for status, kind in STATUS_KINDS.items():
        ctx.only_fault(
            {"action": {"type": "status", "status": status}, "match": {"operation": "getProduct"}}
        )
        reply = ctx.adapter.call("get_product", {"id": "prd_x"})
        attempts = len(of_operation(ctx.journal(), "getProduct"))
        if attempts != 1:
            problems.append(f"{status}: {attempts} attempts")
        if reply.error_kind != kind:
            problems.append(f"{status}: reported {reply.error_kind}, expected {kind}")
    if problems:
        return Verdict(R15, Outcome.FAIL, "; ".join(problems) + ".", Evidence(tuple(problems)))
    return Verdict(R15, Outcome.PASS, "One attempt each, mapped to the right kind.")


# --- R11 ---------------------------------------------------------------------------

R11 = Rule(
    "R11",
    "Bounded attempts and an overall deadline",
    "urllib3 Retry (total); gRPC A6 (maxAttempts, capped at 5)",
)
MAX_REASONABLE_ATTEMPTS = 10


def attempts_are_bounded(ctx: Context) -> Verdict:
    ctx.start_session()
    ctx.control.add_fault(
        {"action": {"type": "status", "status": 503}, "match": {"operation": "getProfile"}}
    )
    reply = ctx.adapter.call("get_profile", timeout=90)
    attempts = of_operation(ctx.journal(), "getProfile")
    evidence = evidence_of(attempts)
    if len(attempts) > MAX_REASONABLE_ATTEMPTS:
        return Verdict(
            R11,
            Outcome.FAIL,
            f"{len(attempts)} attempts of one call against an endless 503 "
            f"(more than {MAX_REASONABLE_ATTEMPTS}: unbounded or nested retries).",
            evidence,
        )
    if reply.ok:
        return Verdict(R11, Outcome.FAIL, "Reported success against an endless 503.", evidence)
    return Verdict(
        R11,
        Outcome.PASS,
        f"Gave up after {len(attempts)} attempts and reported {reply.error_kind}.",
        evidence,
    )
