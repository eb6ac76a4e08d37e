"""Scenarios: provoke one client rule through the mock, judge it from the journal.

Each scenario sets the mock up through the control API (faults, clock,
config), drives the client through its adapter, and draws a verdict from
what reached the server and what the client reported, never from the
client's own say-so. The rules are those of shared client-behaviours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.conformance.adapter import Adapter, Reply
from harness.conformance.verdicts import Outcome, Rule, Verdict, describe
from harness.control import ControlClient
from mocks.store import DEMO_EMAIL, DEMO_PASSWORD

LOGIN = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
PRODUCT = {"name": "Conformance kettle", "price": 19.99, "category_id": "home"}
# Timing verdicts allow for a loaded machine: lateness is fine, earliness is not.
EARLY_TOLERANCE_S = 0.05


@dataclass
class Context:
    control: ControlClient
    adapter: Adapter

    def journal(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.control.entries()
        return entries

    def start_session(self) -> None:
        reply = self.adapter.call("login", LOGIN)
        if not reply.ok:
            raise RuntimeError(f"the client could not log in: {reply.error}")
        self.control.clear_journal()


def _of(entries: list[dict[str, Any]], operation: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["operation"] == operation]


def _evidence(entries: list[dict[str, Any]]) -> tuple[str, ...]:
    t0 = entries[0]["started_at"] if entries else 0.0
    return tuple(describe(e, t0) for e in entries)


@dataclass(frozen=True)
class Scenario:
    rule: Rule
    run: Callable[[Context], Verdict]


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
    refreshes = _of(entries, "refresh")
    profile = _of(entries, "getProfile")
    failed = [r for r in replies if not r.ok]
    evidence = _evidence(entries)
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


# --- R6 ----------------------------------------------------------------------------

R6 = Rule(
    "R6",
    "A non-idempotent call is not retried once it may have reached the server, "
    "unless it carries an Idempotency-Key",
    "RFC 9110 s9.2.2; IETF httpapi Idempotency-Key draft",
)


def no_duplicate_creation(ctx: Context) -> Verdict:
    ctx.start_session()
    ctx.control.add_fault(
        {
            "action": {"type": "apply_then_fail", "then": "status", "status": 502},
            "match": {"operation": "createProduct"},
            "select": {"times": 1},
        }
    )
    reply = ctx.adapter.call("create_product", {"product": PRODUCT})
    entries = ctx.journal()
    created = [e for e in entries if (e["effect"] or {}).get("kind") == "product_created"]
    attempts = _of(entries, "createProduct")
    evidence = _evidence(attempts)
    if len(created) > 1:
        keys = {e["idempotency_key"] for e in attempts}
        how = "without an Idempotency-Key" if keys == {None} else "with a new key each time"
        return Verdict(
            R6,
            Outcome.FAIL,
            f"The POST was applied, answered 502, and retried {how}: "
            f"{len(created)} products exist.",
            evidence,
        )
    outcome = (
        "retried safely (the key replayed the first result)"
        if reply.ok
        else (f"reported {reply.error_kind} without retrying")
    )
    return Verdict(R6, Outcome.PASS, f"One product was created; the client {outcome}.", evidence)


# --- R9 ----------------------------------------------------------------------------

R9 = Rule(
    "R9",
    "429 and 503 with Retry-After are honoured",
    "RFC 9110 s10.2.3; RFC 6585 s4",
)
RETRY_AFTER_S = 2


def retry_after_honoured(ctx: Context) -> Verdict:
    ctx.start_session()
    ctx.control.add_fault(
        {
            "action": {"type": "status", "status": 429, "retry_after": RETRY_AFTER_S},
            "match": {"operation": "getProfile"},
            "select": {"times": 1},
        }
    )
    reply: Reply = ctx.adapter.call("get_profile", timeout=30)
    attempts = _of(ctx.journal(), "getProfile")
    evidence = _evidence(attempts)
    if len(attempts) < 2:
        if reply.error_kind == "tooManyRequests":
            return Verdict(R9, Outcome.PASS, "The client gave up on the 429 and said so.", evidence)
        return Verdict(
            R9, Outcome.FAIL, f"No retry, and the client reported {reply.error_kind}.", evidence
        )
    waited = attempts[1]["started_at"] - attempts[0]["started_at"]
    if waited < RETRY_AFTER_S - EARLY_TOLERANCE_S:
        return Verdict(
            R9,
            Outcome.FAIL,
            f"Retried {waited:.3f} s after a 429 with Retry-After: {RETRY_AFTER_S}.",
            evidence,
        )
    return Verdict(
        R9, Outcome.PASS, f"Waited {waited:.3f} s for Retry-After: {RETRY_AFTER_S}.", evidence
    )


SCENARIOS: dict[str, Scenario] = {
    "R1": Scenario(R1, single_flight_refresh),
    "R6": Scenario(R6, no_duplicate_creation),
    "R9": Scenario(R9, retry_after_honoured),
}
