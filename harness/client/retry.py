"""When to try a call again, and after how long. Pure: nothing here sleeps.

`RetryPolicy` is immutable configuration; `decide()` turns what happened on
one attempt into a `Retry(delay)` or a `GiveUp(reason)`. The delay is capped
exponential backoff with full jitter (AWS Architecture Blog, "Exponential
Backoff and Jitter"), or what the server's Retry-After asks (RFC 9110
s10.2.3) when that is within the cap. A Retry-After that cannot be parsed or
is absurd (see `parse_retry_after`) counts as absent.

What is retried (RFC 9110 s9.2.2):
- failures before the request was sent (connection refused, reset before
  the request was written) for any method: the server never saw it;
- 408, 429, 500, 502, 503, 504, timeouts and connection losses after
  sending, only for idempotent methods or requests carrying an
  Idempotency-Key: otherwise the server may already have acted;
- nothing else: other 4xx, malformed bodies, cancelled calls.

`RetryThrottle` is the one piece of shared state: gRPC's retry throttling
(A6). Each failed attempt costs a token, each success earns a fraction
back, and retries stop while fewer than half the tokens are left, so a
client stops multiplying the load of a backend that is down.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Phase(StrEnum):
    """How far an attempt got before it failed."""

    CONNECT = "connect"  # never reached the server: safe to retry for any method
    SEND = "send"  # may have reached the server
    RECEIVE = "receive"  # reached the server; the answer did not come back
    RESPONSE = "response"  # an HTTP response arrived


@dataclass(frozen=True)
class Attempt:
    """What one attempt of a call came to."""

    number: int  # 1 for the first attempt
    method: str
    phase: Phase
    status: int | None = None
    retry_after: float | None = None  # seconds, already parsed
    has_idempotency_key: bool = False
    malformed: bool = False


@dataclass(frozen=True)
class Retry:
    delay_s: float
    reason: str


@dataclass(frozen=True)
class GiveUp:
    reason: str


Decision = Retry | GiveUp


@dataclass(frozen=True)
class RetryPolicy:
    """max_attempts: attempts per call, the first included. base_delay_s and
    max_delay_s: the backoff's base and cap. deadline_s: the whole call's
    budget, attempts, sleeps and any refresh included: no sleep is planned past
    it and the engine cuts off an attempt still running when it falls.
    max_retry_after_s: the longest Retry-After honoured; a longer one gives up."""

    max_attempts: int = 4
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    deadline_s: float = 30.0
    max_retry_after_s: float = 30.0
    retry_statuses: frozenset[int] = RETRYABLE_STATUSES

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.base_delay_s <= self.max_delay_s:
            raise ValueError("need 0 <= base_delay_s <= max_delay_s")
        if self.deadline_s <= 0 or self.max_retry_after_s < 0:
            raise ValueError("deadline_s must be positive and max_retry_after_s not negative")

    def backoff_cap(self, retry_number: int) -> float:
        """The upper bound of the n-th retry's delay (n from 1): min(cap, base * 2^(n-1))."""
        return min(self.max_delay_s, self.base_delay_s * 2.0 ** min(retry_number - 1, 62))

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full jitter: uniform over [0, backoff_cap(n)]."""
        return rng.uniform(0.0, self.backoff_cap(retry_number))

    def is_retryable(self, attempt: Attempt) -> str | None:
        """Why this attempt may be retried, or None."""
        if attempt.malformed:
            return None
        if attempt.phase is Phase.CONNECT:
            return "the request never reached the server"
        safe = attempt.method.upper() in IDEMPOTENT_METHODS or attempt.has_idempotency_key
        if not safe:
            return None
        if attempt.phase is Phase.RESPONSE:
            if attempt.status in self.retry_statuses:
                return f"status {attempt.status}"
            return None
        return f"{attempt.phase.value} failed on an idempotent request"

    def decide(self, attempt: Attempt, *, elapsed_s: float, rng: random.Random) -> Decision:
        reason = self.is_retryable(attempt)
        if reason is None:
            return GiveUp("not retryable")
        if attempt.number >= self.max_attempts:
            return GiveUp(f"{self.max_attempts} attempts made")
        if attempt.retry_after is not None:
            if attempt.retry_after > self.max_retry_after_s:
                return GiveUp(
                    f"Retry-After {attempt.retry_after:g} s is over the cap "
                    f"of {self.max_retry_after_s:g} s"
                )
            delay = attempt.retry_after
            reason += f", Retry-After {delay:g} s"
        else:
            delay = self.backoff(attempt.number, rng)
        if elapsed_s + delay > self.deadline_s:
            return GiveUp(f"the {self.deadline_s:g} s deadline would pass")
        return Retry(delay, reason)


# No server means a wait longer than this; a longer one is noise or an attack.
PLAUSIBLE_RETRY_AFTER_S = 86_400.0
_MAX_DIGITS = len(str(int(PLAUSIBLE_RETRY_AFTER_S)))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (RFC 9110 s10.2.3: delay-seconds or
    an HTTP-date), or None when the value gives no usable delay.

    Never raises. None for anything unparsable (garbage, a sign, a fraction,
    non-ASCII digits) and for anything absurd: a delay over
    PLAUSIBLE_RETRY_AFTER_S (one day), however many digits it has, or a date
    further ahead than that. None means "no Retry-After": the policy falls
    back to its own backoff, within its attempts, deadline and budget. A
    plausible delay over the policy's `max_retry_after_s` is still honoured
    by giving up at once. A date in the past means now.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        digits = text.lstrip("0") or "0"
        if len(digits) > _MAX_DIGITS:  # before int(): 5,000 digits would raise
            return None
        seconds = float(digits)
        return seconds if seconds <= PLAUSIBLE_RETRY_AFTER_S else None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    try:
        seconds = (moment - now).total_seconds()
    except OverflowError:
        return None
    if seconds > PLAUSIBLE_RETRY_AFTER_S:
        return None
    return max(0.0, seconds)


@dataclass
class RetryThrottle:
    """gRPC A6 retry throttling, shared by all calls of one client."""

    max_tokens: float = 10.0
    token_ratio: float = 0.1
    _tokens: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.max_tokens <= 0 or self.token_ratio <= 0:
            raise ValueError("max_tokens and token_ratio must be positive")
        self._tokens = self.max_tokens

    @property
    def tokens(self) -> float:
        return self._tokens

    def record_failure(self) -> None:
        with self._lock:
            self._tokens = max(0.0, self._tokens - 1)

    def record_success(self) -> None:
        with self._lock:
            self._tokens = min(self.max_tokens, self._tokens + self.token_ratio)

    def allows_retry(self) -> bool:
        return self._tokens > self.max_tokens / 2
