"""What a failed refresh does to the session (R5), judged in two parts, each on a
fresh session: a refresh rejected with 401 (the session is dead) and a refresh
answered 503 (the session must survive). Every problem of both parts is told."""

from __future__ import annotations

from harness.conformance.adapter import NoReply
from harness.conformance.scenarios.base import Context, Op, call_timeout, evidence_of
from harness.conformance.verdicts import Evidence, Rule, Verdict, judged

# The calls this module makes.
PROFILE = Op("current_user")
REFRESH = Op("refresh")  # the client refreshes by itself
TOKENS = "get_tokens"

R5 = Rule(
    "R5",
    "A failed refresh logs out and releases waiters; a transient refresh failure keeps the session",
    "RFC 6749 s5.2 (invalid_grant: the refresh token is dead); common client libraries",
)
WAITERS = 3
DEAD_REFRESH_ACTION = {
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
}
SERVER_DOWN_ACTION = {"type": "status", "status": 503}
REJECTED, UNAVAILABLE = "refresh rejected (401)", "refresh unavailable (503)"


def failed_refresh(ctx: Context) -> Verdict:
    problems, rejected = _refresh_rejected(ctx)
    with ctx.usable(session=False) as later:  # waiters never released: a fresh client
        more, unavailable = _refresh_unavailable(later)
    return judged(
        R5,
        [f"{REJECTED}: {p}" for p in problems] + [f"{UNAVAILABLE}: {p}" for p in more],
        f"A rejected refresh released all {WAITERS} waiting calls as unauthorized and "
        "cleared the session (the next call sent no bearer); a refresh answered 503 "
        "kept the session, which worked again once the server recovered.",
        Evidence.of_parts([rejected.titled(REJECTED), unavailable.titled(UNAVAILABLE)]),
    )


def _refresh_rejected(ctx: Context) -> tuple[list[str], Evidence]:
    """Refresh answers 401: every waiter is released, the session is gone for good."""
    ctx.start_session()
    ctx.control.expire_tokens()
    ctx.control.add_fault(REFRESH.fault(DEAD_REFRESH_ACTION))
    problems: list[str] = []
    try:
        replies = ctx.adapter.parallel([PROFILE.request()] * WAITERS, timeout=call_timeout())
    except NoReply:
        entries = ctx.journal()
        problems.append(
            f"the {WAITERS} calls waiting for the refresh were never released "
            f"(no reply within {call_timeout():g} s)"
        )
        return problems, evidence_of(entries)
    entries = ctx.journal()
    refreshes = REFRESH.of(entries)
    if len(refreshes) > WAITERS:
        problems.append(
            f"{len(refreshes)} refresh attempts for {WAITERS} calls after the refresh "
            "token was rejected: the client refreshes its refresh (recursion)"
        )
    kinds = sorted({r.error_kind or "ok" for r in replies})
    if kinds != ["unauthorized"]:
        problems.append(f"the waiting calls reported {', '.join(kinds)}; expected unauthorized")
    if ctx.adapter.call(TOKENS).result:
        problems.append("the client still holds the dead session's tokens")
    mark = max((e["seq"] for e in entries), default=0)
    PROFILE.call(ctx)
    later = ctx.control.entries(since=mark)
    if any(e["token_state"] not in (None, "missing") for e in PROFILE.of(later)):
        problems.append("after the session ended, the next call sent the dead session's bearer")
    if REFRESH.of(later):
        problems.append("after the session ended, the next call tried to refresh again")
    return problems, evidence_of(entries + later)


def _refresh_unavailable(ctx: Context) -> tuple[list[str], Evidence]:
    """Refresh answers 503: the session survives for a later try."""
    ctx.control.clear_faults()
    ctx.start_session()
    before = ctx.adapter.call(TOKENS).result
    ctx.control.expire_tokens()
    ctx.control.add_fault(REFRESH.fault(SERVER_DOWN_ACTION))
    problems: list[str] = []
    reply = PROFILE.call(ctx, timeout=call_timeout(5.0, 5.0, 5.0))
    after = ctx.adapter.call(TOKENS).result
    ctx.control.clear_faults()
    recovered = PROFILE.call(ctx)
    evidence = evidence_of(ctx.journal())
    if reply.ok:
        problems.append("the call reported success while every refresh answered 503")
    if not after or after != before:
        problems.append(
            f"a refresh answered 503 is a transient failure, yet the client "
            f"{'dropped' if not after else 'replaced'} its session; it should keep it"
        )
    elif not recovered.ok:
        problems.append(
            f"the session was kept, but once the server recovered the next call failed "
            f"with {recovered.error_kind}"
        )
    return problems, evidence
