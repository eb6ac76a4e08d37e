"""Bodies, logs and signatures: malformed responses, secrets, nonces (R16, R18, R19)."""

from __future__ import annotations

from typing import Any

from harness.conformance import binding
from harness.conformance.adapter import NoReply
from harness.conformance.scenarios.base import (
    API_KEY,
    SIGNING_SECRET,
    Context,
    NoSession,
    Op,
    call_timeout,
    evidence_of,
)
from harness.conformance.verdicts import Evidence, Outcome, Rule, Verdict, judged

# The calls this module makes.
PRODUCT = Op("read")
PROFILE = Op("current_user")
PRODUCTS = Op("list", {"page_size": 1})
TOKENS = "get_tokens"

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
    ({"type": "malformed"}, "a product answered 200 with broken JSON", 1),
    # The real product's body, cut short of its Content-Length.
    ({"type": "short_body"}, "a product whose body is shorter than its Content-Length", 5),
)


def malformed_is_one_error(ctx: Context) -> Verdict:
    ctx.start_session()
    [product] = ctx.product_ids(1)
    get = PRODUCT.with_args(id=product)
    problems, parts, outcomes = [], [], []
    for action, what, allowed in BROKEN_BODIES:
        ctx.only_fault(get.fault(action))
        timeout = call_timeout(*[R18_TIMEOUT_S] * MAX_TRUNCATED_ATTEMPTS)
        try:
            reply = get.call(ctx, timeout=timeout)
        except NoReply:  # still asking for it again: a storm, and this rule's failure
            attempts = get.of(ctx.journal())
            parts.append(evidence_of(attempts, what))
            problems.append(
                f"After {timeout:g} s the call for {what} had not ended: "
                f"{len(attempts)} attempts so far (at most {allowed})"
            )
            break
        attempts = get.of(ctx.journal())
        parts.append(evidence_of(attempts, what))
        if reply.ok:
            problems.append(f"It reported success for {what}")
        # A truncated body is a lost connection to a client: retrying a GET is fair.
        if len(attempts) > allowed:
            problems.append(f"{len(attempts)} attempts for {what} (at most {allowed})")
        outcomes.append(f"{what}: {len(attempts)} attempt(s), {reply.error_kind or 'success'}")
    return judged(R18, problems, "; ".join(outcomes) + ".", Evidence.of_parts(parts))


# --- R19 ---------------------------------------------------------------------------

R19 = Rule(
    "R19",
    "Signatures are verifiable and nonces never repeat",
    "RFC 5849 s3.3 (a nonce unique per request); RFC 9421 (cover method, path and body)",
)
SIGNED_CALLS = 1000
BATCH = 50


def signatures_and_nonces(ctx: Context) -> Verdict:
    try:
        ctx.start_session()
    except NoSession as e:
        entries = e.entries  # a login the server could not verify is this rule's failure
    else:
        for _ in range(SIGNED_CALLS // BATCH):
            ctx.adapter.parallel([PRODUCTS.request()] * BATCH, timeout=call_timeout())
        entries = ctx.journal()
    entries = sorted(entries, key=lambda e: e["started_at"])  # in the order sent
    bad = [e for e in entries if e["signature"] != "valid"]
    problems = []
    if bad:
        states = sorted({e["signature"] for e in bad})
        problems.append(
            f"{len(bad)} of {len(entries)} signed requests were rejected ({', '.join(states)})"
        )
    repeats = _repeats(entries)
    if repeats:
        first_seen, again = repeats[0]
        problems.append(
            f"{len(repeats)} nonces were sent again: the first repeat came at request "
            f"{again} of {len(entries)}, reusing the nonce of request {first_seen}"
        )
    repeated = {i - 1 for pair in repeats[:5] for i in pair}
    shown = bad[:10] + [e for n, e in enumerate(entries) if n in repeated]
    return judged(
        R19,
        problems,
        f"{len(entries)} signed requests, all signatures valid, no nonce repeated.",
        evidence_of(shown),
    )


def _repeats(entries: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(first, repeat) positions (from 1) of every reused nonce in `entries`."""
    seen: dict[str, int] = {}
    repeats = []
    for n, entry in enumerate(entries, 1):
        nonce = entry["nonce"]
        if nonce is None:
            continue
        if nonce in seen:
            repeats.append((seen[nonce], n))
        else:
            seen[nonce] = n
    return repeats


# --- R16 ---------------------------------------------------------------------------

R16 = Rule(
    "R16",
    "Secrets never reach logs",
    "OkHttp #3826 (the logging interceptor leaked Authorization); OWASP MASVS-STORAGE",
)


def secrets_stay_out_of_logs(ctx: Context) -> Verdict:
    ctx.start_session()
    first = ctx.adapter.call(TOKENS).result or {}  # the refresh request carries these
    ctx.control.expire_tokens()  # a refresh: both tokens pass through the client
    ctx.control.add_fault(PROFILE.fault({"type": "status", "status": 503}, select={"times": 1}))
    PROFILE.call(ctx, timeout=call_timeout(5.0))
    tokens = ctx.adapter.call(TOKENS).result or {}
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
        "password": binding.current().identity.get("password"),
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
