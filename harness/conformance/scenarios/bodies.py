"""Bodies and signatures: malformed responses, nonces (R18, R19)."""

from __future__ import annotations

from harness.conformance.scenarios.base import (
    Context,
    evidence_of,
    of_operation,
)
from harness.conformance.verdicts import Outcome, Rule, Verdict

# --- R18 ---------------------------------------------------------------------------

R18 = Rule(
    "R18",
    "Malformed or truncated bodies are an error, not a crash or a retry storm",
    "The seed's error union (`unexpected`)",
)


def malformed_is_one_error(ctx: Context) -> Verdict:
    ctx.start_session()
    ctx.control.add_fault({"action": {"type": "malformed"}, "match": {"operation": "getProduct"}})
    reply = ctx.adapter.call("get_product", {"id": "prd_x"})
    attempts = of_operation(ctx.journal(), "getProduct")
    evidence = evidence_of(attempts)
    if len(attempts) > 1 or reply.ok:
        return Verdict(
            R18,
            Outcome.FAIL,
            f"{len(attempts)} attempts for a 200 with broken JSON; reply ok={reply.ok}.",
            evidence,
        )
    return Verdict(R18, Outcome.PASS, f"One attempt, reported as {reply.error_kind}.", evidence)


# --- R19 ---------------------------------------------------------------------------

R19 = Rule(
    "R19",
    "Signatures are verifiable and nonces never repeat",
    "RFC 5849 s3.3 (a nonce unique per request); RFC 9421 (cover method, path and body)",
)
SIGNED_CALLS = 100


def signatures_and_nonces(ctx: Context) -> Verdict:
    ctx.start_session()
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
