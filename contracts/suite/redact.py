"""Secrets out of what the suite prints: tokens, passwords and keys in messages and curls."""

from __future__ import annotations

MASK = "***"


def redact(text: str, secrets: set[str]) -> str:
    """`text` with every secret replaced by `***` (longest first, so no secret leaks a part)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text
