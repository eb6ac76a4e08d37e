"""Password hashes of the demo backend's users: argon2id, salted per hash.

The parameters are deliberately cheap: m = 2 MiB, t = 1, p = 1 cost about
1 ms a hash on a laptop core (OWASP's floor for real services is m = 19 MiB,
t = 2, some 20 ms). The mock's users are fake and live in memory; what
matters is that the mock does what a real backend should (a memory-hard,
salted hash with its parameters in the encoded string), while a login, which
runs on the mock's event loop, stays fast enough for load runs. The encoded
hash carries its parameters, so raising them later needs no migration.
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=1, memory_cost=2048, parallelism=1, type=Type.ID)
PARAMETERS = _HASHER  # time_cost, memory_cost (KiB) and parallelism, for docs and tests
# Verified against when the account does not exist, so an unknown email costs the
# same hash as a wrong password and login timing does not reveal which accounts exist.
_NO_ACCOUNT = _HASHER.hash("no account has this password")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(hashed: str | None, password: str) -> bool:
    """True if `password` matches `hashed`; None (no such account) never matches,
    but is verified against a stand-in hash all the same."""
    try:
        matches = _HASHER.verify(hashed or _NO_ACCOUNT, password)
    except (VerificationError, InvalidHashError):
        return False
    return matches and hashed is not None
