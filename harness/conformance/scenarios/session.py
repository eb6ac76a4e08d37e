"""What a failed refresh does to the session (R5)."""

from __future__ import annotations

from harness.conformance.scenarios.base import Context, evidence_of, of_operation
from harness.conformance.verdicts import Evidence, Outcome, Rule, Verdict

R5 = Rule(
    "R5",
    "A failed refresh logs out and releases waiters; a transient refresh failure keeps the session",
    "RFC 6749 s5.2 (invalid_grant: the refresh token is dead); common client libraries",
)
WAITERS = 3
DEAD_REFRESH = {
    "action": {
        "type": "status",
        "status": 401,
        "headers": {"Content-Type": "application/problem+json"},
        "body": {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "code": "refresh_token_invalid",
            "detail": "The refresh token is not valid.",
        },
    },
    "match": {"operation": "refresh"},
}
SERVER_DOWN = {"action": {"type": "status", "status": 503}, "match": {"operation": "refresh"}}


def failed_refresh(ctx: Context) -> Verdict:
    problem, evidence = _refresh_rejected(ctx)
    if problem is None:
        problem, evidence = _refresh_unavailable(ctx)
    if problem is not None:
        return Verdict(R5, Outcome.FAIL, problem, evidence)
    return Verdict(
        R5,
        Outcome.PASS,
        f"A rejected refresh released all {WAITERS} waiting calls as unauthorized and "
        "cleared the session (the next call sent no bearer); a refresh answered 503 "
        "kept the session, which worked again once the server recovered.",
        evidence,
    )


def _refresh_rejected(ctx: Context) -> tuple[str | None, Evidence]:
    """Refresh answers 401: every waiter is released, the session is gone for good."""
    ctx.start_session()
    ctx.control.expire_tokens()
    ctx.control.add_fault(DEAD_REFRESH)
    # The adapter call's own timeout is the hang detector: waiters must be released.
    replies = ctx.adapter.parallel([("get_profile", {})] * WAITERS, timeout=30)
    entries = ctx.journal()
    evidence = evidence_of(entries)
    refreshes = of_operation(entries, "refresh")
    if len(refreshes) > WAITERS:
        return (
            f"{len(refreshes)} refresh attempts for {WAITERS} calls after the refresh "
            "token was rejected: the client refreshes its refresh (recursion).",
            evidence,
        )
    kinds = sorted({r.error_kind or "ok" for r in replies})
    if kinds != ["unauthorized"]:
        return (
            f"The refresh was rejected with 401, but the waiting calls reported "
            f"{', '.join(kinds)}; expected unauthorized.",
            evidence,
        )
    tokens = ctx.adapter.call("get_tokens").result
    if tokens:
        return (
            "The refresh token was rejected, but the client still holds the dead session's tokens.",
            evidence,
        )
    mark = entries[-1]["seq"] if entries else 0
    ctx.adapter.call("get_profile")
    later = ctx.control.entries(since=mark)
    stale = [e for e in later if e["token_state"] not in (None, "missing")]
    if stale or of_operation(later, "refresh"):
        return (
            "After the session ended, the next call "
            + ("sent the dead session's bearer token" if stale else "tried to refresh again")
            + ".",
            evidence_of(entries + later),
        )
    return None, evidence


def _refresh_unavailable(ctx: Context) -> tuple[str | None, Evidence]:
    """Refresh answers 503: the session survives for a later try."""
    ctx.control.clear_faults()
    ctx.start_session()
    before = ctx.adapter.call("get_tokens").result
    ctx.control.expire_tokens()
    ctx.control.add_fault(SERVER_DOWN)
    reply = ctx.adapter.call("get_profile", timeout=60)
    after = ctx.adapter.call("get_tokens").result
    ctx.control.clear_faults()
    recovered = ctx.adapter.call("get_profile")
    evidence = evidence_of(ctx.journal())
    if reply.ok:
        return "Reported success while every refresh answered 503.", evidence
    if not after or after != before:
        return (
            f"A refresh answered 503 (a transient failure), and the client "
            f"{'dropped' if not after else 'replaced'} its session; it should keep it.",
            evidence,
        )
    if not recovered.ok:
        return (
            f"The session was kept, but once the server recovered the next call failed "
            f"with {recovered.error_kind}.",
            evidence,
        )
    return None, evidence
