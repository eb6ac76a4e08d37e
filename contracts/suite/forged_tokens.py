"""Tokens no server may accept, made from a real one: the signature altered, the token
cut short, `alg: none`, the claims changed under the old signature. Pure functions.

A JWT is `header.payload.signature` in base64url (RFC 7519); an opaque token is
anything else, and only the variants that need no structure apply to it.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class Jwt:
    header: dict[str, Any]
    claims: dict[str, Any]
    parts: tuple[str, str, str]


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _encode(value: dict[str, Any]) -> str:
    return _b64encode(json.dumps(value, separators=(",", ":")).encode())


def parse_jwt(token: str) -> Jwt | None:
    """The token's header and claims, unverified (None: not a JWT)."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        return None
    try:
        header, claims = (json.loads(_b64decode(p)) for p in parts[:2])
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict) or "alg" not in header:
        return None
    return Jwt(header, claims, (parts[0], parts[1], parts[2]))


def subject(token: str | None) -> str | None:
    """The `sub` claim of a JWT, unverified."""
    found = parse_jwt(token) if token else None
    value = found.claims.get("sub") if found else None
    return str(value) if value is not None else None


def seconds_left(token: str) -> float | None:
    """Seconds until a JWT's `exp` (None: no JWT or no exp)."""
    found = parse_jwt(token)
    exp = found.claims.get("exp") if found else None
    return float(exp) - time.time() if isinstance(exp, int | float) else None


def _altered(text: str) -> str:
    """`text` with its middle character changed (never the last one: base64url's last
    character may carry unused bits, so changing it can decode to the same bytes)."""
    if len(text) < 2:
        return text + "A"
    middle = len(text) // 2
    replacement = next(c for c in _ALPHABET if c != text[middle])
    return text[:middle] + replacement + text[middle + 1 :]


def forged_variants(token: str) -> list[tuple[str, str]]:
    """(what was done, the forged token) for a real session token."""
    found = parse_jwt(token)
    if found is None:
        return [
            ("the token with one character changed", _altered(token)),
            ("the token cut short", token[: max(1, len(token) // 2)]),
        ]
    head, body, signature = found.parts
    variants: list[tuple[str, str | dict[str, Any]]] = [
        ("the JWT with its signature altered", f"{head}.{body}.{_altered(signature)}"),
        ("the JWT without its signature", f"{head}.{body}."),
        ("the JWT cut short", f"{head}.{body}.{signature[: len(signature) // 2]}"),
        (
            'the JWT re-headed with "alg": "none" and no signature',
            f"{_encode(found.header | {'alg': 'none'})}.{body}.",
        ),
    ]
    claims = dict(found.claims)
    if isinstance(claims.get("exp"), int | float):
        claims["exp"] = int(claims["exp"]) + 365 * 24 * 3600
        variants.append(("the JWT's exp moved a year on under the old signature", claims))
    elif "sub" in claims:
        claims["sub"] = f"{claims['sub']}0"
        variants.append(("the JWT's sub changed under the old signature", claims))
    out: list[tuple[str, str]] = []
    for what, value in variants:
        if isinstance(value, dict):
            value = f"{head}.{_encode(value)}.{signature}"
        out.append((what, value))
    return out
