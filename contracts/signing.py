"""Request signing, as the contract defines it (client and server share this).

    X-App-Signature = hex(HMAC-SHA256(secret,
        "{X-App-Timestamp}:{X-App-Nonce}:{METHOD}:{path-with-query}:{sha256-hex(body)}"))

The timestamp is Unix time in seconds or milliseconds; the nonce is random and
never reused. The signature binds method, path, query and body, so a captured
one cannot be replayed against another request.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-App-Timestamp"
NONCE_HEADER = "X-App-Nonce"
SIGNATURE_HEADER = "X-App-Signature"
API_KEY_HEADER = "X-API-Key"


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def signing_string(timestamp: str, nonce: str, method: str, path: str, body: bytes) -> str:
    return f"{timestamp}:{nonce}:{method.upper()}:{path}:{body_digest(body)}"


def sign(secret: str, timestamp: str, nonce: str, method: str, path: str, body: bytes) -> str:
    message = signing_string(timestamp, nonce, method, path, body).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
