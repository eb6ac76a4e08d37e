"""Every attempt goes through the whole header pipeline (R13)."""

from __future__ import annotations

from typing import Any

from harness.conformance.scenarios.base import Context, Op, call_timeout, evidence_of
from harness.conformance.verdicts import Outcome, Rule, Verdict, judged

# The calls this module makes.
PROFILE = Op("current_user")

R13 = Rule(
    "R13",
    "Every attempt passes through the whole header pipeline",
    "The seed's own interceptor order; RFC 5849 s3.3 (fresh timestamp and nonce per request)",
)
HELD_MS = 1500  # the faulted attempt's answer comes this late
# A reused timestamp is at least HELD_MS old; a fresh one at most a second (clients
# may sign in whole seconds) plus scheduling.
FRESH_S = 1.2


def whole_pipeline_per_attempt(ctx: Context) -> Verdict:
    ctx.start_session()
    ctx.control.expire_tokens()
    # Attempt 1 meets the expired token (401, refresh, replay); the replay is held and
    # answered 503; the retry must be signed anew with the current token.
    ctx.control.add_fault(
        PROFILE.fault(
            {"type": "status", "status": 503},
            delay={"type": "fixed", "ms": HELD_MS},
            select={"after": 1, "times": 1},
        )
    )
    reply = PROFILE.call(ctx, timeout=call_timeout(HELD_MS / 1000, 5.0))
    entries = ctx.journal()
    attempts = PROFILE.of(entries)
    evidence = evidence_of(entries)
    if len(attempts) < 3:
        applicable = reply.error_kind != "serverError"
        return Verdict(
            R13,
            Outcome.FAIL if applicable else Outcome.NOT_APPLICABLE,
            ("" if applicable else "Not applicable: ")
            + f"{len(attempts)} attempts: the client did not both refresh-and-replay and "
            f"retry the 503 (reported {reply.error_kind or 'success'}).",
            evidence,
        )
    problems = [p for e in entries for p in _pipeline_problems(e, first=e is attempts[0])]
    nonces = [e["nonce"] for e in entries]
    if len(set(nonces)) != len(nonces):
        problems.append("a nonce was sent twice")
    return judged(
        R13,
        ["Not every attempt went through the whole pipeline: " + "; ".join(dict.fromkeys(problems))]
        if problems
        else [],
        f"All {len(entries)} requests (attempts, refresh, replay, retry) carried the API "
        "key, a valid fresh signature with a new nonce, and the current token.",
        evidence,
    )


def _pipeline_problems(entry: dict[str, Any], *, first: bool) -> list[str]:
    what = f"#{entry['seq']} {entry['operation']}"
    problems = []
    if entry["api_key"] != "valid":
        problems.append(f"{what} had API key state {entry['api_key']}")
    if entry["signature"] != "valid":
        problems.append(f"{what} had signature state {entry['signature']}")
    signed_at = entry["signed_at"]
    if signed_at is not None and entry["started_at"] - signed_at > FRESH_S:
        age = entry["started_at"] - signed_at
        problems.append(f"{what} was signed {age:.1f} s before it was sent (timestamp reused)")
    token = entry["token_state"]
    if entry["operation"] == PROFILE.operation and not first and token != "valid":
        problems.append(f"{what} carried a token in state {token}, not the current one")
    return problems
