"""Auth rules: single-flight refresh, replaced tokens, rotation, give up (R1-R4)."""

from __future__ import annotations

from harness.conformance import binding
from harness.conformance.scenarios.base import Context, Op, evidence_of
from harness.conformance.verdicts import Rule, Verdict, judged

# The calls this module makes.
PROFILE = Op("current_user")
PRODUCTS = Op("list", {"page_size": 1})
REFRESH = Op("refresh")  # never called directly: the client refreshes by itself
TOKENS = "get_tokens"

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
        REFRESH.fault({"type": "delay"}, delay={"type": "fixed", "ms": 300}, select={"times": 1})
    )
    replies = ctx.adapter.parallel([PROFILE.request()] * CONCURRENT_CALLS)
    entries = ctx.journal()
    refreshes = REFRESH.of(entries)
    replays = [e for e in PROFILE.of(entries) if e["token_state"] == "valid"]
    failed = [r for r in replies if not r.ok]
    problems = []
    if len(refreshes) != 1:
        reused = [e for e in refreshes if (e["effect"] or {}).get("reason") == "reused"]
        why = (
            " One presented a refresh token already rotated, which revoked the session."
            if reused
            else ""
        )
        problems.append(
            f"{len(refreshes)} refreshes for {CONCURRENT_CALLS} concurrent 401s; expected 1.{why}"
        )
    if failed:
        kinds = sorted({r.error_kind or "" for r in failed})
        problems.append(f"{len(failed)} of the calls failed ({', '.join(kinds)})")
    if len(replays) != CONCURRENT_CALLS:
        problems.append(
            f"{len(replays)} replays with the new token for {CONCURRENT_CALLS} calls; "
            "expected one each"
        )
    return judged(
        R1,
        problems,
        f"{CONCURRENT_CALLS} concurrent calls met 401, one refresh ran, "
        "each call was replayed once.",
        evidence_of(entries),
    )


# --- R2 ----------------------------------------------------------------------------

R2 = Rule(
    "R2",
    "A 401 for a token that was already replaced does not refresh again",
    "Dio's own QueuedInterceptor example compares the sent token with the current one",
)


def no_refresh_for_a_replaced_token(ctx: Context) -> Verdict:
    ctx.start_session()
    stale = ctx.adapter.call(TOKENS).result or {}
    ctx.control.expire_tokens()
    # The first call is held; the second refreshes meanwhile; the first's 401 then
    # arrives for a token the client has already replaced.
    held = PROFILE.fault({"type": "delay"}, delay={"type": "fixed", "ms": 400}, select={"times": 1})
    bearer = binding.current().bearer(stale.get("access_token"))
    held["match"]["headers"] = {"Authorization": bearer}
    ctx.control.add_fault(held)
    replies = ctx.adapter.parallel([PROFILE.request(), PRODUCTS.request()])
    entries = ctx.journal()
    refreshes = REFRESH.of(entries)
    problems = []
    if len(refreshes) != 1:
        problems.append(
            f"{len(refreshes)} refreshes; a 401 that arrived after the refresh must be "
            "replayed with the new token, not refresh again"
        )
    failed = sorted({r.error_kind or "" for r in replies if not r.ok})
    if failed:
        problems.append(f"calls failed ({', '.join(failed)}) after the refresh")
    return judged(
        R2, problems, "The late 401 was replayed with the new token.", evidence_of(entries)
    )


# --- R3 ----------------------------------------------------------------------------

R3 = Rule("R3", "The rotated refresh token replaces the old one", "RFC 6749 s6; RFC 9700 s4.14")


def rotated_refresh_token_kept(ctx: Context) -> Verdict:
    ctx.start_session()
    replies = []
    for _ in range(2):
        ctx.control.expire_tokens()
        replies.append(PROFILE.call(ctx))
    refreshes = REFRESH.of(ctx.journal())
    effects = [e["effect"] or {} for e in refreshes]
    problems = []
    if len(effects) != 2:
        problems.append(f"{len(effects)} refreshes for two expired sessions; expected 2")
    elif effects[1].get("from_refresh_token") != effects[0].get("refresh_token"):
        problems.append(
            "The second refresh did not present the refresh token the first one issued "
            f"(presented {effects[1].get('from_refresh_token')}, issued "
            f"{effects[0].get('refresh_token')})"
        )
    failed = sorted({r.error_kind or "" for r in replies if not r.ok})
    if failed:
        problems.append(f"calls after a refresh failed ({', '.join(failed)})")
    return judged(
        R3, problems, "The second refresh presented the rotated token.", evidence_of(refreshes)
    )


# --- R4 ----------------------------------------------------------------------------

R4 = Rule(
    "R4",
    "One renewal and one replay per call, then give up",
    'OkHttp Authenticator ("give up if the request already tried to authenticate")',
)
LOGIN_AGAIN = Op("login")  # the renewal of an API without a refresh role


def one_refresh_per_call(ctx: Context) -> Verdict:
    """A resource that keeps answering 401: the client renews its session once (the
    refresh role; an API without one, by logging in again) and replays once, then
    reports unauthorized. The harness's own login (start_session) is not counted."""
    refreshing = "refresh" in binding.current().roles
    renewal, (one, many) = (
        (REFRESH, ("refresh", "refreshes"))
        if refreshing
        else (LOGIN_AGAIN, ("login again", "logins again"))
    )
    ctx.start_session()
    ctx.control.add_fault(
        PROFILE.fault(
            {
                "type": "status",
                "status": 401,
                "headers": {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            }
        )
    )
    reply = PROFILE.call(ctx, timeout=30)
    entries = ctx.journal()
    renewals = len(renewal.of(entries))
    renewed = one if renewals == 1 else many
    attempts = len(PROFILE.of(entries))
    problems = []
    if renewals > 1 or attempts > 2:
        problems.append(
            f"{renewals} {renewed} and {attempts} attempts for a resource that keeps "
            "answering 401; expected at most 1 and 2"
        )
    if reply.error_kind != "unauthorized":
        problems.append(f"It reported {reply.error_kind or 'success'}, not unauthorized")
    return judged(
        R4,
        problems,
        f"{renewals} {renewed}, {attempts} attempts, then unauthorized.",
        evidence_of(entries),
    )
