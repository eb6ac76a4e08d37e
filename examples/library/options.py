"""The library server's options: from code, the environment or the command line."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from examples.library.defects import parse_defects

# The accounts every server starts with (examples/library/harness.yaml names them).
SEED_MEMBERS = (
    ("reader@example.org", "reader", "reader-password"),
    ("critic@example.org", "critic", "critic-password"),
)


@dataclass(frozen=True)
class LibraryOptions:
    token_ttl_s: int = 900
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    defects: frozenset[str] = frozenset()
    login_attempts: int = 5
    lockout_s: int = 10
    lending_paused: bool = False
    retry_after_s: int = 120
    members: tuple[tuple[str, str, str], ...] = SEED_MEMBERS
    seed_books: int = 3
    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "defects", parse_defects(",".join(self.defects)))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> LibraryOptions:
        """Options from LIBRARY_* variables, then `overrides`; a bad value is a ValueError
        that names its variable."""
        env = os.environ if env is None else env
        found: dict[str, Any] = {}
        for variable, name in _NUMBERS.items():
            if env.get(variable):
                try:
                    found[name] = int(env[variable])
                except ValueError:
                    raise ValueError(
                        f"{variable}={env[variable]!r} is not a whole number"
                    ) from None
        if env.get("LIBRARY_SECRET"):
            found["secret"] = env["LIBRARY_SECRET"]
        if env.get("LIBRARY_DEFECTS"):
            found["defects"] = parse_defects(env["LIBRARY_DEFECTS"])
        if env.get("LIBRARY_LENDING_PAUSED"):
            found["lending_paused"] = env["LIBRARY_LENDING_PAUSED"] not in ("0", "false", "")
        return cls(**(found | overrides))


_NUMBERS = {
    "LIBRARY_TOKEN_TTL": "token_ttl_s",
    "LIBRARY_LOGIN_ATTEMPTS": "login_attempts",
    "LIBRARY_LOCKOUT": "lockout_s",
}
