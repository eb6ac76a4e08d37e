"""Transport rules: refused connections, the last attempt's error, cancellation
(R7, R14, R20)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from harness.conformance import front
from harness.conformance.scenarios.base import LOGIN, Context, evidence_of, of_operation
from harness.conformance.verdicts import Evidence, Outcome, Rule, Verdict

# --- R7 ----------------------------------------------------------------------------

R7 = Rule(
    "R7",
    "Failures before the request was sent (connection refused) are retried for any method",
    'RFC 9110 s9.2.2 (a request that was never sent was "never applied")',
)


def refused_connection_retried(ctx: Context) -> Verdict:
    if not front.supported():
        return Verdict(
            R7,
            Outcome.NOT_APPLICABLE,
            "Seeing a client's connection attempt needs Linux (/proc/net/tcp).",
        )
    env = ctx.adapter.env
    if env is None:
        raise RuntimeError("R7 needs an adapter started by Adapter.start")
    mock = urlsplit(env.base_url)
    upstream = (mock.hostname or "127.0.0.1", mock.port or 80)
    # A fresh client behind a front that refuses its first connection: the login
    # (a POST without an Idempotency-Key) certainly never left the client.
    with (
        front.RefusingFront(upstream) as gate,
        ctx.adapter.relaunch(base_url=gate.base_url) as client,
    ):
        started = time.time()
        request = client.send("login", LOGIN)
        if not gate.refuse_first_connection():
            return Verdict(R7, Outcome.FAIL, "The client never tried to connect for a login.")
        reply = client.receive(request, timeout=60)
    logins = of_operation(ctx.journal(), "login")
    judged = evidence_of(logins)
    refused = f"connection refused by the front at +{(gate.refused_at or started) - started:.3f}s"
    evidence = Evidence((refused, *judged.lines), judged.timeline)
    if not reply.ok:
        return Verdict(
            R7,
            Outcome.FAIL,
            f"The first connection was refused, so the login never left the client, yet it "
            f"reported {reply.error_kind}: no retry reached the server (none, or only "
            f"immediate ones while the port was still closed; retry after a backoff).",
            evidence,
        )
    if len(logins) != 1:
        return Verdict(
            R7, Outcome.FAIL, f"{len(logins)} logins reached the server for one call.", evidence
        )
    return Verdict(
        R7,
        Outcome.PASS,
        "The first connection was refused; the client connected again and logged in once.",
        evidence,
    )


# --- R14 ---------------------------------------------------------------------------

R14 = Rule(
    "R14",
    "The reported error is the last attempt's, mapped to the right kind",
    "tenacity (RetryError keeps the last attempt); urllib3 Retry history",
)
TIMEOUT_KINDS = frozenset({"connectionTimeout", "sendTimeout", "receiveTimeout"})
SERVER_KINDS = frozenset({"serverError", "internalServerError"})
R14_TIMEOUT_S = 0.5


def last_attempt_reported(ctx: Context) -> Verdict:
    ctx.start_session()
    # The first attempt outlives the read timeout; every later one is answered 503.
    ctx.control.add_fault(
        {
            "action": {"type": "hang", "seconds": R14_TIMEOUT_S * 2},
            "match": {"operation": "getProfile"},
            "select": {"times": 1},
        }
    )
    ctx.control.add_fault(
        {"action": {"type": "status", "status": 503}, "match": {"operation": "getProfile"}}
    )
    reply = ctx.adapter.call("get_profile", timeout=90)
    attempts = _settled(ctx, "getProfile", within_s=R14_TIMEOUT_S * 4)
    evidence = evidence_of(attempts)
    if len(attempts) < 2:
        if reply.error_kind in TIMEOUT_KINDS:
            return Verdict(
                R14,
                Outcome.NOT_APPLICABLE,
                "The client does not retry a GET that timed out; its one attempt's error "
                "was reported.",
                evidence,
            )
        return Verdict(
            R14, Outcome.FAIL, f"One attempt timed out; the client reported {reply.error_kind}."
        )
    if reply.ok or reply.error_kind not in SERVER_KINDS:
        return Verdict(
            R14,
            Outcome.FAIL,
            f"The first of {len(attempts)} attempts timed out and the last was answered 503, "
            f"but the client reported {reply.error_kind or 'success'}; expected serverError.",
            evidence,
        )
    return Verdict(
        R14,
        Outcome.PASS,
        f"After a timeout and 503s, the client reported {reply.error_kind} "
        f"(status {reply.status}), the last attempt's error.",
        evidence,
    )


def _settled(ctx: Context, operation: str, within_s: float) -> list[dict[str, object]]:
    """The journal's entries for `operation` once a hung attempt has been recorded
    (the mock journals it when the hang ends)."""
    deadline = time.monotonic() + within_s
    while True:
        attempts = of_operation(ctx.journal(), operation)
        if any(e["status"] is None for e in attempts) or time.monotonic() > deadline:
            return attempts
        time.sleep(0.05)


# --- R20 ---------------------------------------------------------------------------

R20 = Rule("R20", "Cancelled calls are not retried", "The seed's requestCancelled kind")
CANCEL_AFTER_MS = 150
# An attempt starting this long after the cancel was due is a retry of a cancelled call.
CANCEL_GRACE_S = 0.05
SLOW_503 = {
    "action": {"type": "status", "status": 503},
    "delay": {"type": "fixed", "ms": 400},
    "match": {"operation": "getProfile"},
    "select": {"times": 1},
}
# Every attempt fails, so no client can finish before the cancel by retrying early.
RETRY_LATER = {
    "action": {"type": "status", "status": 503, "retry_after": 1},
    "match": {"operation": "getProfile"},
}


def cancelled_not_retried(ctx: Context) -> Verdict:
    ctx.start_session()
    judged = 0
    evidence = Evidence()
    # Cancelled while the first attempt is in flight, then while waiting to retry.
    for rule, when, watch_s in (
        (SLOW_503, "in flight", 1.0),
        (RETRY_LATER, "while waiting to retry", 1.5),
    ):
        ctx.only_fault(rule)
        sent = time.time()
        reply = ctx.adapter.call("get_profile", cancel_after_ms=CANCEL_AFTER_MS)
        answered = time.time()
        # Long enough for the retry an uncancelled call would make.
        time.sleep(max(0.0, sent + watch_s - time.time()))
        attempts = of_operation(ctx.journal(), "getProfile")
        evidence = evidence_of(attempts)
        due = sent + CANCEL_AFTER_MS / 1000
        if answered < due:
            continue  # the call ended before the cancel: nothing to judge here
        judged += 1
        late = [e for e in attempts if e["started_at"] > due + CANCEL_GRACE_S]
        if late:
            return Verdict(
                R20,
                Outcome.FAIL,
                f"Cancelled {when} after {CANCEL_AFTER_MS} ms, the call made {len(late)} "
                f"more attempt(s) after the cancel.",
                evidence,
            )
        if reply.error_kind != "requestCancelled":
            return Verdict(
                R20,
                Outcome.FAIL,
                f"Cancelled {when} after {CANCEL_AFTER_MS} ms, the call reported "
                f"{reply.error_kind or 'success'}, not requestCancelled.",
                evidence,
            )
    if judged == 0:
        return Verdict(
            R20, Outcome.NOT_APPLICABLE, "Every call ended before it could be cancelled.", evidence
        )
    return Verdict(
        R20,
        Outcome.PASS,
        "Cancelled in flight and while waiting to retry: no further attempt either time.",
        evidence,
    )
