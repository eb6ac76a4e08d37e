"""Request signatures the server can verify, and replay protection.

    X-App-Signature = hex(HMAC-SHA256(secret,
        "{X-App-Timestamp}:{X-App-Nonce}:{METHOD}:{path-with-query}:{sha256-hex(body)}"))

The timestamp is Unix time in seconds or milliseconds (the seed sends
milliseconds) and must be within the allowed skew of the real clock; a nonce
is accepted once. The seed signs `timestamp:nonce:package:deviceId` instead,
which binds nothing about the request: a captured signature can be replayed
on any endpoint with any body, and a server cannot recompute it without
knowing every device id. Unlike the seed's clock-derived nonce, clients must
use a random one.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from enum import StrEnum

from contracts.signing import (  # re-exported: the mock verifies what the contract defines
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    body_digest,
    sign,
    signing_string,
)

__all__ = [
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "NonceCache",
    "SignatureState",
    "body_digest",
    "parse_timestamp",
    "sign",
    "signing_string",
    "verify",
]

MAX_NONCE_LENGTH = 128


class SignatureState(StrEnum):
    OFF = "off"
    VALID = "valid"
    MISSING = "missing"
    MALFORMED = "malformed"
    STALE = "stale"
    INVALID = "invalid"
    REPLAYED = "replayed"


def parse_timestamp(value: str) -> float | None:
    """Seconds since the epoch from seconds or milliseconds; None if not a number."""
    if not value.isascii() or not value.isdigit() or len(value) > 16:
        return None
    number = int(value)
    return number / 1000 if number > 100_000_000_000 else float(number)


class NonceCache:
    """Nonces seen within the skew window; older ones are forgotten because the
    timestamp check already rejects anything that old."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen_before(self, nonce: str, now: float, window: float) -> bool:
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if seen_at >= now - 2 * window:
                break
            del self._seen[oldest]
        if nonce in self._seen:
            return True
        self._seen[nonce] = now
        return False

    def clear(self) -> None:
        self._seen.clear()

    def __len__(self) -> int:
        return len(self._seen)


def verify(
    *,
    secret: str,
    skew_s: float,
    nonces: NonceCache,
    method: str,
    path: str,
    body: bytes,
    timestamp: str | None,
    nonce: str | None,
    signature: str | None,
    now: float | None = None,
) -> SignatureState:
    if not (timestamp and nonce and signature):
        return SignatureState.MISSING
    moment = parse_timestamp(timestamp)
    if moment is None or len(nonce) > MAX_NONCE_LENGTH:
        return SignatureState.MALFORMED
    now = time.time() if now is None else now
    if abs(now - moment) > skew_s:
        return SignatureState.STALE
    expected = sign(secret, timestamp, nonce, method, path, body)
    if not hmac.compare_digest(expected.encode(), signature.lower().encode(errors="replace")):
        return SignatureState.INVALID
    # Only a correctly signed request consumes its nonce: forgeries cannot burn them.
    if nonces.seen_before(nonce, now, skew_s):
        return SignatureState.REPLAYED
    return SignatureState.VALID
