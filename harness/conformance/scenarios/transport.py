"""Transport rules: refused connections, the last attempt's error, cancellation
(R7, R14, R20)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from harness.conformance import front
from harness.conformance.scenarios.base import LOGIN, Context, Op, call_timeout, evidence_of
from harness.conformance.verdicts import Evidence, Outcome, Rule, Verdict, judged

# The calls this module makes.
PROFILE = Op("current_user")
LOGIN_OP = Op("login", LOGIN)

# --- R7 ----------------------------------------------------------------------------

R7 = Rule(
    "R7",
    "Failures before the request was sent (connection refused) are retried for any method",
    'RFC 9110 s9.2.2 (a request that was never sent was "never applied")',
)
# The front opens its port again as soon as it sees the refused socket give up; on a
# loaded machine that may take a few hundred ms, so the client backs off from 500 ms.
R7_ENV = {"retry_base_ms": 500}


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
        ctx.adapter.relaunch(base_url=gate.base_url + mock.path.rstrip("/")) as client,
    ):
        started = time.time()
        request = client.send(*LOGIN_OP.request())
        if not gate.refuse_first_connection():
            return Verdict(R7, Outcome.FAIL, "The client never tried to connect for a login.")
        # Refused, the client may wait a while before it connects again: no silence watch.
        reply = client.receive(request, timeout=call_timeout(5.0), watch_silence=False)
    logins = LOGIN_OP.of(ctx.journal())
    refused = f"connection refused by the front at +{(gate.refused_at or started) - started:.3f}s"
    evidence = evidence_of(logins).with_lines([refused])
    problems = []
    if not reply.ok:
        problems.append(
            f"The first connection was refused, so the login never left the client, yet it "
            f"reported {reply.error_kind}: no retry reached the server (none, or only "
            f"immediate ones while the port was still closed; retry after a backoff)"
        )
    if len(logins) > 1:
        problems.append(f"{len(logins)} logins reached the server for one call")
    return judged(
        R7,
        problems,
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
        PROFILE.fault({"type": "hang", "seconds": R14_TIMEOUT_S * 2}, select={"times": 1})
    )
    ctx.control.add_fault(PROFILE.fault({"type": "status", "status": 503}))
    reply = PROFILE.call(ctx, timeout=call_timeout(R14_TIMEOUT_S, 5.0, 5.0, 5.0))
    attempts = _settled(ctx, PROFILE, within_s=R14_TIMEOUT_S * 4)
    evidence = evidence_of(attempts)
    if len(attempts) < 2:
        if reply.error_kind in TIMEOUT_KINDS:
            return Verdict(
                R14,
                Outcome.NOT_APPLICABLE,
                "Not applicable: the client does not retry a GET that timed out; its one "
                "attempt's error was reported.",
                evidence,
            )
        return Verdict(
            R14,
            Outcome.FAIL,
            f"One attempt timed out; the client reported {reply.error_kind or 'success'}, "
            "not a timeout.",
            evidence,
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


def _settled(ctx: Context, op: Op, within_s: float) -> list[dict[str, Any]]:
    """The journal's entries for `op` once a hung attempt has been recorded
    (the mock journals it when the hang ends)."""
    deadline = time.monotonic() + within_s
    while True:
        attempts = op.of(ctx.journal())
        if any(e["status"] is None for e in attempts) or time.monotonic() > deadline:
            return attempts
        time.sleep(0.05)


# --- R20 ---------------------------------------------------------------------------

R20 = Rule("R20", "Cancelled calls are not retried", "The seed's requestCancelled kind")
CANCEL_AFTER_MS = 150
# An attempt starting this long after the cancel was due is a retry of a cancelled call.
CANCEL_GRACE_S = 0.05


def _slow_503() -> dict[str, Any]:
    return PROFILE.fault(
        {"type": "status", "status": 503}, delay={"type": "fixed", "ms": 400}, select={"times": 1}
    )


def _retry_later() -> dict[str, Any]:
    """Every attempt fails, so no client can finish before the cancel by retrying early."""
    return PROFILE.fault({"type": "status", "status": 503, "retry_after": 1})


def cancelled_not_retried(ctx: Context) -> Verdict:
    ctx.start_session()
    judged_parts = 0
    problems: list[str] = []
    parts: list[Evidence] = []
    # Cancelled while the first attempt is in flight, then while waiting to retry.
    for rule, when, watch_s in (
        (_slow_503(), "in flight", 1.0),
        (_retry_later(), "while waiting to retry", 1.5),
    ):
        ctx.only_fault(rule)
        sent = time.time()
        reply = PROFILE.call(ctx, timeout=call_timeout(1.0), cancel_after_ms=CANCEL_AFTER_MS)
        answered = time.time()
        # Long enough for the retry an uncancelled call would make.
        time.sleep(max(0.0, sent + watch_s - time.time()))
        attempts = PROFILE.of(ctx.journal())
        parts.append(evidence_of(attempts, f"cancelled {when}"))
        due = sent + CANCEL_AFTER_MS / 1000
        if answered < due:
            continue  # the call ended before the cancel: nothing to judge here
        judged_parts += 1
        late = [e for e in attempts if e["started_at"] > due + CANCEL_GRACE_S]
        if late:
            problems.append(
                f"Cancelled {when} after {CANCEL_AFTER_MS} ms, the call made {len(late)} "
                f"more attempt(s) after the cancel"
            )
        if reply.error_kind != "requestCancelled":
            problems.append(
                f"Cancelled {when} after {CANCEL_AFTER_MS} ms, the call reported "
                f"{reply.error_kind or 'success'}, not requestCancelled"
            )
    evidence = Evidence.of_parts(parts)
    if judged_parts == 0:
        return Verdict(
            R20,
            Outcome.NOT_APPLICABLE,
            "Not applicable: every call ended before it could be cancelled.",
            evidence,
        )
    return judged(
        R20,
        problems,
        "Cancelled in flight and while waiting to retry: no further attempt either time.",
        evidence,
    )
