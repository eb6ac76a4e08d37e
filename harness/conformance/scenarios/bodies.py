"""Bodies and signatures: malformed responses, nonces (R18, R19)."""

from __future__ import annotations

from harness.conformance.scenarios.base import (
    API_KEY,
    LOGIN,
    SIGNING_SECRET,
    Context,
    NoSession,
    evidence_of,
    of_operation,
)
from harness.conformance.verdicts import Evidence, Outcome, Rule, Verdict

# --- R18 ---------------------------------------------------------------------------

# A truncated body looks like a dropped connection; a client may retry it like one,
# within its usual bound, but not storm.
MAX_TRUNCATED_ATTEMPTS = 5
# A truncated body keeps the client waiting for the rest: a short read timeout.
R18_TIMEOUT_S = 0.5
R18 = Rule(
    "R18",
    "Malformed or truncated bodies are an error, not a crash or a retry storm",
    "The seed's error union (`unexpected`)",
)


BROKEN_BODIES = (
    ({"type": "malformed"}, "a 200 with broken JSON"),
    ({"type": "short_body"}, "a response whose body is shorter than its Content-Length"),
)


def malformed_is_one_error(ctx: Context) -> Verdict:
    ctx.start_session()
    outcomes = []
    evidence = Evidence()
    for action, what in BROKEN_BODIES:
        ctx.only_fault({"action": action, "match": {"operation": "getProduct"}})
        reply = ctx.adapter.call("get_product", {"id": "prd_x"})
        attempts = of_operation(ctx.journal(), "getProduct")
        evidence = evidence_of(attempts)
        if reply.ok:
            return Verdict(R18, Outcome.FAIL, f"Reported success for {what}.", evidence)
        # A truncated body is a lost connection to a client: one retry of a GET is fair.
        allowed = 1 if action["type"] == "malformed" else MAX_TRUNCATED_ATTEMPTS
        if len(attempts) > allowed:
            return Verdict(R18, Outcome.FAIL, f"{len(attempts)} attempts for {what}.", evidence)
        outcomes.append(f"{what}: {len(attempts)} attempt(s), {reply.error_kind}")
    return Verdict(R18, Outcome.PASS, "; ".join(outcomes) + ".", evidence)


# --- R19 ---------------------------------------------------------------------------

R19 = Rule(
    "R19",
    "Signatures are verifiable and nonces never repeat",
    "RFC 5849 s3.3 (a nonce unique per request); RFC 9421 (cover method, path and body)",
)
SIGNED_CALLS = 100


def signatures_and_nonces(ctx: Context) -> Verdict:
    try:
        ctx.start_session()
    except NoSession as e:
        entries = e.entries  # a login the server could not verify is this rule's failure
    else:
        for _ in range(SIGNED_CALLS // 20):
            ctx.adapter.parallel([("list_products", {"page_size": 1})] * 20)
        entries = ctx.journal()
    bad = [e for e in entries if e["signature"] != "valid"]
    nonces = [e["nonce"] for e in entries]
    repeats = len(nonces) - len(set(nonces))
    if bad or repeats:
        states = sorted({e["signature"] for e in bad})
        return Verdict(
            R19,
            Outcome.FAIL,
            f"{len(bad)} of {len(entries)} signed requests rejected ({', '.join(states)}); "
            f"{repeats} repeated nonces.",
            evidence_of(bad[:10]),
        )
    return Verdict(
        R19, Outcome.PASS, f"{len(entries)} requests, all signatures valid, no nonce repeated."
    )


# --- R16 ---------------------------------------------------------------------------

R16 = Rule(
    "R16",
    "Secrets never reach logs",
    "OkHttp #3826 (the logging interceptor leaked Authorization); OWASP MASVS-STORAGE",
)


def secrets_stay_out_of_logs(ctx: Context) -> Verdict:
    ctx.start_session()
    first = ctx.adapter.call("get_tokens").result or {}  # the refresh request carries these
    ctx.control.expire_tokens()  # a refresh: both tokens pass through the client
    ctx.control.add_fault(
        {
            "action": {"type": "status", "status": 503},
            "match": {"operation": "getProfile"},
            "select": {"times": 1},
        }
    )
    ctx.adapter.call("get_profile")
    tokens = ctx.adapter.call("get_tokens").result or {}
    if ctx.log_file is None or not ctx.log_file.exists():
        return Verdict(R16, Outcome.PASS, "The client wrote no log at all.")
    text = ctx.log_file.read_text(encoding="utf-8", errors="replace")
    candidates = {
        "access token": tokens.get("access_token"),
        "refresh token": tokens.get("refresh_token"),
        "first access token": first.get("access_token"),
        "first refresh token": first.get("refresh_token"),
        "API key": API_KEY,
        "signing secret": SIGNING_SECRET,
        "password": LOGIN["password"],
    }
    secrets = {name: str(value) for name, value in candidates.items() if value}
    leaked = [name for name, value in secrets.items() if value in text]
    if leaked:
        lines = [line for line in text.splitlines() if any(secrets[n] in line for n in leaked)]
        return Verdict(
            R16,
            Outcome.FAIL,
            f"The client's log contains the {', '.join(leaked)}.",
            Evidence(tuple(line[:160] for line in lines[:5])),
        )
    return Verdict(
        R16, Outcome.PASS, f"{len(text.splitlines())} log lines, no token, key or secret."
    )
