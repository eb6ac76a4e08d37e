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


SIGNING_SECRET = "conformance-signing-secret"


@dataclass(frozen=True)
class Scenario:
    rule: Rule
    run: Callable[[Context], Verdict]
    signing: bool = False  # the runner turns signing on in the mock and the adapter


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
    refreshes = _of(entries, "refresh")
    evidence = _evidence(entries)
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
    refreshes = _of(ctx.journal(), "refresh")
    evidence = _evidence(refreshes)
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


# --- R8 ----------------------------------------------------------------------------

R8 = Rule(
    "R8",
    "An Idempotency-Key is the same on every attempt of one call and new for each call",
    "IETF httpapi Idempotency-Key draft",
)


def idempotency_keys(ctx: Context) -> Verdict:
    ctx.start_session()
    for _ in range(2):
        ctx.control.add_fault(
            {
                "action": {"type": "status", "status": 503},
                "match": {"operation": "createProduct"},
                "select": {"times": 1},
            }
        )
        ctx.adapter.call("create_product", {"product": PRODUCT})
    attempts = _of(ctx.journal(), "createProduct")
    keys = [e["idempotency_key"] for e in attempts]
    evidence = _evidence(attempts)
    if len(keys) < 4:
        return Verdict(
            R8, Outcome.NOT_APPLICABLE, "The client does not retry POSTs after a 503.", evidence
        )
    if None in keys or keys[0] != keys[1] or keys[2] != keys[3] or keys[0] == keys[2]:
        return Verdict(
            R8,
            Outcome.FAIL,
            "Keys per attempt: " + ", ".join(str(k)[:8] for k in keys) + " (want A, A, B, B).",
            evidence,
        )
    return Verdict(R8, Outcome.PASS, "Each call kept one key across its attempts.", evidence)


# --- R15 ---------------------------------------------------------------------------

R15 = Rule(
    "R15",
    "4xx other than 401/408/429 are not retried and map to their kind",
    "RFC 9110 s15.5",
)
STATUS_KINDS = {400: "badRequest", 403: "forbidden", 404: "notFound", 409: "conflict"}


def client_errors_not_retried(ctx: Context) -> Verdict:
    ctx.start_session()
    problems = []
    for status, kind in STATUS_KINDS.items():
        ctx.control.clear_faults()
        ctx.control.clear_journal()
        ctx.control.add_fault(
            {"action": {"type": "status", "status": status}, "match": {"operation": "getProduct"}}
        )
        reply = ctx.adapter.call("get_product", {"id": "prd_x"})
        attempts = len(_of(ctx.journal(), "getProduct"))
        if attempts != 1:
            problems.append(f"{status}: {attempts} attempts")
        if reply.error_kind != kind:
            problems.append(f"{status}: reported {reply.error_kind}, expected {kind}")
    if problems:
        return Verdict(R15, Outcome.FAIL, "; ".join(problems) + ".", tuple(problems))
    return Verdict(R15, Outcome.PASS, "One attempt each, mapped to the right kind.")


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
    attempts = _of(ctx.journal(), "getProduct")
    evidence = _evidence(attempts)
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
            _evidence(bad[:10]),
        )
    return Verdict(
        R19, Outcome.PASS, f"{len(entries)} requests, all signatures valid, no nonce repeated."
    )


SCENARIOS: dict[str, Scenario] = {
    "R1": Scenario(R1, single_flight_refresh),
    "R2": Scenario(R2, no_refresh_for_a_replaced_token),
    "R3": Scenario(R3, rotated_refresh_token_kept),
    "R6": Scenario(R6, no_duplicate_creation),
    "R8": Scenario(R8, idempotency_keys),
    "R9": Scenario(R9, retry_after_honoured),
    "R15": Scenario(R15, client_errors_not_retried),
    "R18": Scenario(R18, malformed_is_one_error),
    "R19": Scenario(R19, signatures_and_nonces, signing=True),
}
