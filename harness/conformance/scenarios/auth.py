"""Auth rules: single-flight refresh, replaced tokens, rotation (R1-R3)."""

from __future__ import annotations

from harness.conformance.scenarios.base import (
    Context,
    evidence_of,
    of_operation,
)
from harness.conformance.verdicts import Outcome, Rule, Verdict

# --- R1 ----------------------------------------------------------------------------

R1 = Rule(
    "R1",
    "One refresh for many 401s (single-flight)",
    "RFC 9700 s4.14.2 (rotation with reuse detection logs out a racing client); "
    "Dio QueuedInterceptor; OkHttp Authenticator",
)
CONCURRENT_CALLS = 12


def single_flight_refresh(ctx: Context) -> Verdict:
    ctx.start_session()
    ctx.control.expire_tokens()
    # Hold the first refresh: every other call meets its 401 while it is in flight.
    ctx.control.add_fault(
        {
            "action": {"type": "delay"},
            "delay": {"type": "fixed", "ms": 300},
            "match": {"operation": "refresh"},
            "select": {"times": 1},
        }
    )
    replies = ctx.adapter.parallel([("get_profile", {})] * CONCURRENT_CALLS)
    entries = ctx.journal()
    refreshes = of_operation(entries, "refresh")
    profile = of_operation(entries, "getProfile")
    failed = [r for r in replies if not r.ok]
    evidence = evidence_of(entries)
    if len(refreshes) != 1:
        reused = [e for e in refreshes if (e["effect"] or {}).get("reason") == "reused"]
        why = (
            " One presented a refresh token already rotated, which revoked the session."
            if reused
            else ""
        )
        return Verdict(
            R1,
            Outcome.FAIL,
            f"{len(refreshes)} refreshes for {CONCURRENT_CALLS} concurrent 401s; expected 1.{why}",
            evidence,
        )
    if failed:
        kinds = sorted({r.error_kind or "" for r in failed})
        return Verdict(
            R1,
            Outcome.FAIL,
            f"{len(failed)} calls failed ({', '.join(kinds)}) after one refresh.",
            evidence,
        )
    replays = [e for e in profile if e["token_state"] == "valid"]
    if len(replays) != CONCURRENT_CALLS:
        return Verdict(
            R1,
            Outcome.FAIL,
            f"{len(replays)} replays with the new token for {CONCURRENT_CALLS} calls; "
            "expected one each.",
            evidence,
        )
    return Verdict(
        R1,
        Outcome.PASS,
        f"{CONCURRENT_CALLS} concurrent calls met 401, one refresh ran, "
        "each call was replayed once.",
        evidence,
    )


# --- R2 ----------------------------------------------------------------------------

R2 = Rule(
    "R2",
    "A 401 for a token that was already replaced does not refresh again",
    "Dio's own QueuedInterceptor example compares the sent token with the current one",
)


def no_refresh_for_a_replaced_token(ctx: Context) -> Verdict:
    ctx.start_session()
    stale = ctx.adapter.call("get_tokens").result or {}
    ctx.control.expire_tokens()
    # The first call is held; the second refreshes meanwhile; the first's 401 then
    # arrives for a token the client has already replaced.
    ctx.control.add_fault(
        {
            "action": {"type": "delay"},
            "delay": {"type": "fixed", "ms": 400},
            "match": {
                "operation": "getProfile",
                "headers": {"Authorization": f"Bearer {stale.get('access_token')}"},
            },
            "select": {"times": 1},
        }
    )
    replies = ctx.adapter.parallel([("get_profile", {}), ("list_products", {"page_size": 1})])
    entries = ctx.journal()
    refreshes = of_operation(entries, "refresh")
    evidence = evidence_of(entries)
    if len(refreshes) != 1 or not all(r.ok for r in replies):
        return Verdict(
            R2,
            Outcome.FAIL,
            f"{len(refreshes)} refreshes; a 401 that arrived after the refresh must be "
            "replayed with the new token, not refresh again.",
            evidence,
        )
    return Verdict(R2, Outcome.PASS, "The late 401 was replayed with the new token.", evidence)


# --- R3 ----------------------------------------------------------------------------

R3 = Rule("R3", "The rotated refresh token replaces the old one", "RFC 6749 s6; RFC 9700 s4.14")


def rotated_refresh_token_kept(ctx: Context) -> Verdict:
    ctx.start_session()
    replies = []
    for _ in range(2):
        ctx.control.expire_tokens()
        replies.append(ctx.adapter.call("get_profile"))
    refreshes = of_operation(ctx.journal(), "refresh")
    evidence = evidence_of(refreshes)
    effects = [e["effect"] or {} for e in refreshes]
    chained = len(effects) == 2 and effects[1].get("from_refresh_token") == effects[0].get(
        "refresh_token"
    )
    if chained and all(r.ok for r in replies):
        return Verdict(
            R3, Outcome.PASS, "The second refresh presented the rotated token.", evidence
        )
    return Verdict(
        R3,
        Outcome.FAIL,
        "The second refresh did not present the refresh token the first one issued.",
        evidence,
    )


# --- R4 ----------------------------------------------------------------------------

R4 = Rule(
    "R4",
    "One refresh and one replay per call, then give up",
    'OkHttp Authenticator ("give up if the request already tried to authenticate")',
)


def one_refresh_per_call(ctx: Context) -> Verdict:
    ctx.start_session()
    ctx.control.add_fault(
        {
            "action": {
                "type": "status",
                "status": 401,
                "headers": {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            },
            "match": {"operation": "getProfile"},
        }
    )
    reply = ctx.adapter.call("get_profile", timeout=30)
    entries = ctx.journal()
    refreshes = len(of_operation(entries, "refresh"))
    attempts = len(of_operation(entries, "getProfile"))
    evidence = evidence_of(entries)
    if refreshes > 1 or attempts > 2:
        return Verdict(
            R4,
            Outcome.FAIL,
            f"{refreshes} refreshes and {attempts} attempts for a resource that keeps "
            "answering 401; expected at most 1 and 2.",
            evidence,
        )
    if reply.error_kind != "unauthorized":
        return Verdict(R4, Outcome.FAIL, f"Gave up, but reported {reply.error_kind}.", evidence)
    return Verdict(
        R4, Outcome.PASS, f"{refreshes} refresh, {attempts} attempts, then unauthorized.", evidence
    )
