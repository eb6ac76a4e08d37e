"""Invariants judged from the mock's journal alone, for users that are not ours.

A team's own locust file reports nothing to the harness: what it did is only
in the journal (every request that reached the mock or the fault proxy). Pure
functions: journal entries (dicts, as `GET /__harness/journal` returns them)
and `Thresholds` in, `Verdict`s out.

Attempts are grouped into logical calls (`logical_calls`):
- with an `Idempotency-Key`, every attempt carrying the same key from the same
  caller is one logical call;
- without one, an attempt is a retry of the previous attempt when it comes
  from the same caller (session, else token, else client address) with the
  same method, path and body digest, starts within `RETRY_WINDOW_S` of that
  attempt's end, and that attempt failed (no response, 408, 429 or 5xx).
  Two identical requests after a success are two calls. A client that sends
  the very same body twice within the window after a failure, on purpose, is
  counted as retrying;
- a replay after renewal: an attempt answered 401, then the same request
  (method, path, query, body digest) from the same account (`user_id`, the
  401's token traced to its account by earlier requests) with another token
  within `RETRY_WINDOW_S`, is that call's replay. It is counted apart from
  retries (`LogicalCall.replays`): renewing an expired token and replaying
  once is what a careful client does (rule R4).

- status_mix (reported, never breached): statuses per operation.
- error_rate: the share of logical calls whose last attempt got no response
  or a status >= 400.
- p95_latency: per operation, the p95 of logical call durations (first
  attempt's start to last attempt's end); judged on the worst operation.
- retry_amplification: attempts per logical call, replays after renewal not
  counted (they are reported beside it).
- duplicate_creations: one logical create (the `create` role; every POST when
  no role is named) applied more than once. Applied: a 2xx answer, or an
  apply_then_fail fault (the API applied it, then the client saw a failure).
- refresh_storm: refreshes (the `refresh` role) per session and access-token
  lifetime; not applicable when no operation has that role.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from loadtests.invariants import Entry, Thresholds, Verdict, journal_complete, percentile

RETRY_WINDOW_S = 10.0
_RETRYABLE = frozenset({408, 429})


@dataclass
class LogicalCall:
    operation: str
    attempts: list[Entry] = field(default_factory=list)
    replays: int = 0  # attempts that replayed a 401 with a renewed token

    @property
    def last(self) -> Entry:
        return self.attempts[-1]

    @property
    def duration_ms(self) -> float:
        start = float(self.attempts[0]["started_at"])
        end = _ended_at(self.last)
        return max(0.0, (end - start) * 1000)

    @property
    def failed(self) -> bool:
        status = self.last.get("status")
        return status is None or int(status) >= 400


def _ended_at(entry: Entry) -> float:
    return float(entry["started_at"]) + float(entry.get("duration_ms") or 0.0) / 1000


def _operation(entry: Entry) -> str:
    return str(entry.get("operation") or f"{entry.get('method')} {entry.get('path')}")


def _caller(entry: Entry) -> str:
    for name in ("session_id", "token_id", "client"):
        if entry.get(name):
            return f"{name}:{entry[name]}"
    return ""


def _attempt_failed(entry: Entry) -> bool:
    status = entry.get("status")
    return status is None or int(status) >= 500 or int(status) in _RETRYABLE


def logical_calls(journal: Sequence[Entry], window_s: float = RETRY_WINDOW_S) -> list[LogicalCall]:
    """The journal's attempts grouped into logical calls (see the module's doc)."""
    calls: list[LogicalCall] = []
    keyed: dict[tuple[str, str], LogicalCall] = {}
    open_retry: dict[tuple[str, ...], LogicalCall] = {}
    open_replay: dict[tuple[str, ...], LogicalCall] = {}
    owners: dict[str, str] = {}  # token_id -> user_id, from requests the token passed
    for entry in sorted(journal, key=lambda e: (float(e["started_at"]), int(e.get("seq", 0)))):
        if entry.get("token_id") and entry.get("user_id"):
            owners[str(entry["token_id"])] = str(entry["user_id"])
        account = entry.get("user_id") or owners.get(str(entry.get("token_id")))
        request = tuple(
            str(entry.get(name) or "") for name in ("method", "path", "query", "body_sha256")
        )
        replayed = open_replay.pop((str(account), *request), None) if account else None
        if (
            replayed is not None
            and entry.get("token_id") != replayed.last.get("token_id")
            and float(entry["started_at"]) - _ended_at(replayed.last) <= window_s
        ):
            replayed.attempts.append(entry)
            replayed.replays += 1
            continue
        if replayed is not None:  # not a replay: put it back for a later attempt
            open_replay[(str(account), *request)] = replayed
        caller = _caller(entry)
        key = entry.get("idempotency_key")
        if key:
            call = keyed.get((caller, str(key)))
            if call is None:
                call = keyed[(caller, str(key))] = LogicalCall(_operation(entry))
                calls.append(call)
            call.attempts.append(entry)
            continue
        shape = (
            caller,
            str(entry.get("method")),
            str(entry.get("path")),
            str(entry.get("query") or ""),
            str(entry.get("body_sha256")),
        )
        previous = open_retry.get(shape)
        if (
            previous is not None
            and _attempt_failed(previous.last)
            and float(entry["started_at"]) - _ended_at(previous.last) <= window_s
        ):
            previous.attempts.append(entry)
            continue
        call = open_retry[shape] = LogicalCall(_operation(entry))
        calls.append(call)
        call.attempts.append(entry)
        if entry.get("status") == 401 and account:
            open_replay[(str(account), *request)] = call
    return calls


def _by_operation(calls: Sequence[LogicalCall]) -> dict[str, list[LogicalCall]]:
    grouped: dict[str, list[LogicalCall]] = {}
    for call in calls:
        grouped.setdefault(call.operation, []).append(call)
    return dict(sorted(grouped.items()))


def operations_table(calls: Sequence[LogicalCall]) -> dict[str, dict[str, Any]]:
    """Per operation: logical calls, attempts, failures, status mix, p50/p95 ms."""
    table = {}
    for operation, rows in _by_operation(calls).items():
        durations = [c.duration_ms for c in rows]
        statuses = Counter(str(a.get("status") or "none") for c in rows for a in c.attempts)
        table[operation] = {
            "calls": len(rows),
            "attempts": sum(len(c.attempts) for c in rows),
            "failed": sum(1 for c in rows if c.failed),
            "statuses": dict(sorted(statuses.items())),
            "p50_ms": round(percentile(durations, 50), 1),
            "p95_ms": round(percentile(durations, 95), 1),
        }
    return table


def status_mix(calls: Sequence[LogicalCall]) -> Verdict:
    table = operations_table(calls)
    shown = "; ".join(
        f"{op} " + " ".join(f"{s}x{n}" for s, n in row["statuses"].items())
        for op, row in list(table.items())[:6]
    )
    mix = {op: row["statuses"] for op, row in table.items()}
    return Verdict("status_mix", True, 0.0, 0.0, shown or "no requests journaled", {"by_op": mix})


def error_rate(calls: Sequence[LogicalCall], max_error_rate: float) -> Verdict:
    failed = [c for c in calls if c.failed]
    rate = len(failed) / len(calls) if calls else 0.0
    per_op = {
        op: round(sum(1 for c in rows if c.failed) / len(rows), 4)
        for op, rows in _by_operation(calls).items()
    }
    worst = sorted(per_op.items(), key=lambda item: -item[1])[:3]
    detail = f"{rate:.2%} of {len(calls)} logical calls failed (limit {max_error_rate:.2%})"
    if failed:
        detail += ": worst " + ", ".join(f"{op} {r:.1%}" for op, r in worst)
    if not calls:
        detail = "no requests were journaled"
    passed = bool(calls) and rate <= max_error_rate
    return Verdict(
        "error_rate",
        passed,
        rate,
        max_error_rate,
        detail,
        {"calls": len(calls), "failed": len(failed), "by_operation": per_op},
    )


def p95_latency(calls: Sequence[LogicalCall], max_p95_ms: float) -> Verdict:
    per_op = {
        op: percentile([c.duration_ms for c in rows], 95)
        for op, rows in _by_operation(calls).items()
    }
    if not per_op:
        return Verdict("p95_latency", False, 0.0, max_p95_ms, "no requests were journaled")
    worst_op, worst = max(per_op.items(), key=lambda item: item[1])
    detail = (
        f"worst p95 {worst:.0f} ms ({worst_op}) over {len(per_op)} operations "
        f"(limit {max_p95_ms:g} ms per operation)"
    )
    facts = {"p95_ms_by_operation": {op: round(v, 1) for op, v in per_op.items()}}
    return Verdict("p95_latency", worst <= max_p95_ms, worst, max_p95_ms, detail, facts)


def retry_amplification(calls: Sequence[LogicalCall], max_attempts_per_call: float) -> Verdict:
    replays = sum(c.replays for c in calls)
    attempts = sum(len(c.attempts) for c in calls) - replays
    ratio = attempts / len(calls) if calls else 1.0
    worst = max((len(c.attempts) - c.replays for c in calls), default=0)
    keyed = sum(1 for c in calls if c.attempts[0].get("idempotency_key"))
    detail = (
        f"{ratio:.3f} attempts per logical call ({attempts} for {len(calls)} calls, worst "
        f"{worst}; limit {max_attempts_per_call:g}; grouped by Idempotency-Key for {keyed}, "
        f"by caller+method+path+body within {RETRY_WINDOW_S:g} s of a failure otherwise)"
    )
    if replays:
        detail += f"; {replays} replays after renewal not counted"
    return Verdict(
        "retry_amplification",
        ratio <= max_attempts_per_call,
        ratio,
        max_attempts_per_call,
        detail,
        {
            "calls": len(calls),
            "attempts": attempts,
            "worst_call_attempts": worst,
            "keyed": keyed,
            "replays": replays,
        },
    )


def _applied(entry: Entry) -> bool:
    status = entry.get("status")
    fault = entry.get("fault")
    if isinstance(fault, dict) and fault.get("action") == "apply_then_fail":
        return True
    return status is not None and 200 <= int(status) < 300


def duplicate_creations(calls: Sequence[LogicalCall], max_duplicates: int) -> Verdict:
    roles_named = any(a.get("role") for c in calls for a in c.attempts)
    creates = [
        c
        for c in calls
        if (c.attempts[0].get("role") == "create")
        or (not roles_named and c.attempts[0].get("method") == "POST")
    ]
    applied = [sum(1 for a in c.attempts if _applied(a)) for c in creates]
    duplicates = sum(n - 1 for n in applied if n > 1)
    judged_by = "the create role" if roles_named else "every POST (no roles named)"
    detail = (
        f"{duplicates} duplicate creations among {sum(applied)} applied creates for "
        f"{len(creates)} logical creates, by {judged_by} (limit {max_duplicates})"
    )
    return Verdict(
        "duplicate_creations",
        duplicates <= max_duplicates,
        float(duplicates),
        float(max_duplicates),
        detail,
        {
            "logical_creates": len(creates),
            "applied": sum(applied),
            "duplicates": duplicates,
            "calls_with_duplicates": sum(1 for n in applied if n > 1),
        },
    )


def refresh_storm(
    journal: Sequence[Entry], access_ttl_s: float, max_refreshes_per_expiry: float
) -> Verdict:
    refreshes = [e for e in journal if e.get("role") == "refresh"]
    if not refreshes:
        return Verdict(
            "refresh_storm",
            True,
            0.0,
            max_refreshes_per_expiry,
            "not applicable: no request had the refresh role",
            {"refreshes": 0},
        )
    sessions = {e.get("session_id") for e in journal if e.get("session_id")}
    times = [float(e["started_at"]) for e in journal]
    span_s = max(times) - min(times)
    expiries = max(1.0, span_s / access_ttl_s) if access_ttl_s > 0 else 1.0
    allowed = max_refreshes_per_expiry * max(1, len(sessions)) * expiries
    detail = (
        f"{len(refreshes)} refreshes for {len(sessions)} sessions x {expiries:.1f} token "
        f"lifetimes (limit {allowed:.0f} = {max_refreshes_per_expiry:g} per session-expiry)"
    )
    return Verdict(
        "refresh_storm",
        len(refreshes) <= allowed,
        float(len(refreshes)),
        allowed,
        detail,
        {"refreshes": len(refreshes), "sessions": len(sessions), "span_s": round(span_s, 3)},
    )


def judge_journal(
    journal: Sequence[Entry],
    thresholds: Thresholds,
    *,
    missed: int = 0,
    access_ttl_s: float = 0.0,
) -> list[Verdict]:
    """Every journal-only verdict, with the thresholds each was judged against."""
    calls = logical_calls(journal)
    return [
        journal_complete(missed),
        status_mix(calls),
        error_rate(calls, thresholds.max_error_rate),
        p95_latency(calls, thresholds.max_p95_ms),
        retry_amplification(calls, thresholds.max_attempts_per_call),
        duplicate_creations(calls, thresholds.max_duplicates),
        refresh_storm(journal, access_ttl_s, thresholds.max_refreshes_per_expiry),
    ]
