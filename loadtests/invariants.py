"""What a load run must show, judged after it from the journal and the client's records.

Pure functions: journal entries (dicts, as `GET /__harness/journal` returns
them) and `CallRecord`s in, a `Verdict` out. Each has a threshold in
`Thresholds`; a profile sets its own, the command line can override them.

- refresh_storm: refreshes are bounded by sessions x token expiries, not by
  requests. Many users whose tokens expire together must each refresh once,
  not once per waiting request.
- duplicate_creations: one logical createProduct call creates at most one
  product, however many times it was sent (judged from the journal's
  `product_created` effects grouped by user and request body; every logical
  create sends a body of its own).
- retry_amplification: attempts per logical call (1 + retries reported by the
  client's on_retry hook), averaged over the run.
- error_rate: the share of logical calls that ended in an error the user sees.
- p95_latency: the 95th percentile of logical call durations, retries included.
- journal_complete: the journal lost nothing (`missed` is 0); otherwise the
  journal-based verdicts are unreliable and the run says so.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from loadtests.records import CallRecord

Entry = dict[str, Any]


@dataclass(frozen=True)
class Thresholds:
    # refreshes allowed per session and per access-token lifetime the run spanned
    max_refreshes_per_expiry: float = 1.5
    max_duplicates: int = 0
    max_attempts_per_call: float = 1.1
    max_error_rate: float = 0.01
    max_p95_ms: float = 500.0

    def with_overrides(self, **changes: float | None) -> Thresholds:
        given = {name: value for name, value in changes.items() if value is not None}
        return replace(self, **given)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    name: str
    passed: bool
    observed: float
    limit: float
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        return f"{mark}  {self.name:<20} {self.detail}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


# --- from the journal ------------------------------------------------------------


def _effect_kind(entry: Entry) -> str | None:
    effect = entry.get("effect")
    return effect.get("kind") if isinstance(effect, dict) else None


def refresh_storm(
    journal: Sequence[Entry], access_ttl_s: float, max_refreshes_per_expiry: float
) -> Verdict:
    """Refresh attempts against sessions x expiries over the journal's time span."""
    refreshes = [e for e in journal if e.get("operation") == "refresh"]
    sessions = sum(1 for e in journal if _effect_kind(e) == "session_started")
    times = [float(e["started_at"]) for e in journal if e.get("started_at") is not None]
    span_s = max(times) - min(times) if times else 0.0
    expiries = max(1.0, span_s / access_ttl_s) if access_ttl_s > 0 else 1.0
    allowed = max_refreshes_per_expiry * max(1, sessions) * expiries
    reused = sum(
        1
        for e in refreshes
        if _effect_kind(e) == "refresh_rejected" and (e["effect"].get("reason") == "reused")
    )
    passed = len(refreshes) <= allowed
    detail = (
        f"{len(refreshes)} refreshes for {sessions} sessions x {expiries:.1f} token lifetimes "
        f"(limit {allowed:.0f} = {max_refreshes_per_expiry:g} per session-expiry)"
    )
    if reused:
        detail += f"; {reused} rejected as reuse"
    return Verdict(
        "refresh_storm",
        passed,
        float(len(refreshes)),
        allowed,
        detail,
        {
            "refreshes": len(refreshes),
            "sessions": sessions,
            "span_s": round(span_s, 3),
            "access_ttl_s": access_ttl_s,
            "reuse_rejections": reused,
            "requests": len(journal),
        },
    )


def duplicate_creations(
    journal: Sequence[Entry], creates: Iterable[CallRecord], max_duplicates: int
) -> Verdict:
    """Products created more than once by one logical call (same user, same body)."""
    created: Counter[tuple[str | None, str]] = Counter()
    by_key: Counter[str] = Counter()
    for e in journal:
        if _effect_kind(e) == "product_created":
            created[(e.get("user_id"), str(e.get("body_sha256")))] += 1
            if e.get("idempotency_key"):
                by_key[str(e["idempotency_key"])] += 1
    duplicates = sum(n - 1 for n in created.values() if n > 1)
    known = {r.body_sha256 for r in creates if r.body_sha256}
    unknown = sum(n for (_, body), n in created.items() if body not in known)
    keyed_duplicates = sum(n - 1 for n in by_key.values() if n > 1)
    passed = duplicates <= max_duplicates
    detail = (
        f"{duplicates} duplicate creations among {sum(created.values())} products created "
        f"(limit {max_duplicates})"
    )
    return Verdict(
        "duplicate_creations",
        passed,
        float(duplicates),
        float(max_duplicates),
        detail,
        {
            "products_created": sum(created.values()),
            "logical_creates": len(known),
            "duplicates": duplicates,
            "duplicates_with_same_idempotency_key": keyed_duplicates,
            "created_without_a_client_record": unknown,
        },
    )


def journal_complete(missed: int) -> Verdict:
    detail = (
        "no journal entries lost"
        if missed == 0
        else f"{missed} journal entries fell out of the ring: raise --journal-size"
    )
    return Verdict("journal_complete", missed == 0, float(missed), 0.0, detail, {"missed": missed})


# --- from the client's records ---------------------------------------------------


def retry_amplification(records: Sequence[CallRecord], max_attempts_per_call: float) -> Verdict:
    calls = len(records)
    attempts = sum(r.attempts for r in records)
    ratio = attempts / calls if calls else 1.0
    worst = max((r.attempts for r in records), default=0)
    delays = [d for r in records for d in r.retry_delays_s]
    passed = ratio <= max_attempts_per_call
    detail = (
        f"{ratio:.3f} attempts per logical call ({attempts} for {calls} calls, worst {worst}; "
        f"limit {max_attempts_per_call:g})"
    )
    return Verdict(
        "retry_amplification",
        passed,
        ratio,
        max_attempts_per_call,
        detail,
        {
            "calls": calls,
            "attempts": attempts,
            "worst_call_attempts": worst,
            "retries": len(delays),
            "distinct_retry_delays": len({round(d, 3) for d in delays}),
        },
    )


def error_rate(records: Sequence[CallRecord], max_error_rate: float) -> Verdict:
    calls = len(records)
    failed = [r for r in records if not r.ok]
    rate = len(failed) / calls if calls else 0.0
    kinds = Counter(r.kind or "unknown" for r in failed)
    passed = calls > 0 and rate <= max_error_rate
    shown = ", ".join(f"{k} {n}" for k, n in kinds.most_common(5))
    detail = f"{rate:.2%} of {calls} calls failed (limit {max_error_rate:.2%})"
    if shown:
        detail += f": {shown}"
    if not calls:
        detail = "no calls were recorded"
    return Verdict(
        "error_rate",
        passed,
        rate,
        max_error_rate,
        detail,
        {"calls": calls, "failed": len(failed), "by_kind": dict(kinds)},
    )


def p95_latency(records: Sequence[CallRecord], max_p95_ms: float) -> Verdict:
    durations = [r.duration_ms for r in records]
    p95 = percentile(durations, 95)
    passed = bool(durations) and p95 <= max_p95_ms
    detail = (
        f"p95 {p95:.0f} ms over {len(durations)} calls (limit {max_p95_ms:g} ms)"
        if durations
        else "no calls were recorded"
    )
    return Verdict(
        "p95_latency",
        passed,
        p95 if durations else 0.0,
        max_p95_ms,
        detail,
        {"p50_ms": percentile(durations, 50), "p99_ms": percentile(durations, 99)}
        if durations
        else {},
    )


# --- all of them -----------------------------------------------------------------


def judge(
    records: Sequence[CallRecord],
    thresholds: Thresholds,
    *,
    journal: Sequence[Entry] | None,
    missed: int = 0,
    access_ttl_s: float | None = None,
) -> list[Verdict]:
    """Every verdict; the journal-based ones only when there is a journal."""
    verdicts = [
        retry_amplification(records, thresholds.max_attempts_per_call),
        error_rate(records, thresholds.max_error_rate),
        p95_latency(records, thresholds.max_p95_ms),
    ]
    if journal is not None:
        creates = [r for r in records if r.operation == "createProduct"]
        verdicts[:0] = [
            journal_complete(missed),
            refresh_storm(journal, access_ttl_s or 0.0, thresholds.max_refreshes_per_expiry),
            duplicate_creations(journal, creates, thresholds.max_duplicates),
        ]
    return verdicts


def breaches(verdicts: Iterable[Verdict]) -> list[str]:
    return [v.name for v in verdicts if not v.passed]
