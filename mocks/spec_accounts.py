"""The accounts a document-served mock knows: the configured identities and
accounts, and those registered since, by login name.

A login name is compared by its identity key (Unicode NFKC_Casefold): one
address in several spellings (composed or decomposed accents, fullwidth
letters, `ß` and `ss`, the Kelvin sign and `K`, any case) is one account.
Passwords and other secrets are kept only as salted argon2id hashes
(`passwords.py`), and a login for an unknown name costs a hash too, so that its
timing does not tell which accounts exist.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from mocks.passwords import hash_password, verify_password

SECRET_FIELDS = ("password", "secret", "client_secret")
HASHES = "_hashes"  # an account's secrets, by field, as argon2id hashes
# Where a request carries the login name, best first.
LOGIN_FIELDS = ("email", "username", "login", "user", "name", "client_id")


def identity_key(name: str) -> str:
    """NFKC, case folding, NFKC again: Unicode's NFKC_Casefold, stable when repeated."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


@dataclass
class Accounts:
    """The configured identities plus registered accounts, by identity key."""

    identities: tuple[dict[str, str], ...]
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.accounts = {}
        self.deleted: set[str] = set()  # ids of closed accounts: their tokens are refused
        self._serial = 0
        for identity in self.identities:
            self.add(dict(identity))

    @staticmethod
    def login_field(fields: dict[str, Any]) -> str | None:
        """The field that names the account (`email`, `username`...)."""
        return next((k for k in LOGIN_FIELDS if isinstance(fields.get(k), str)), None)

    @classmethod
    def login_name(cls, fields: dict[str, Any]) -> str | None:
        key = cls.login_field(fields)
        return identity_key(str(fields[key])) if key is not None else None

    def get(self, name: str) -> dict[str, Any] | None:
        return self.accounts.get(identity_key(name))

    def add(self, fields: dict[str, Any]) -> str | None:
        """A new account's id; None when its login name is missing or taken."""
        name = self.login_name(fields)
        if name is None or name in self.accounts:
            return None
        self._serial += 1
        given = fields.get("id")  # a configured account may name its own id
        fields["_id"] = given if isinstance(given, str) and given else f"u-{self._serial}"
        fields.setdefault("id", fields["_id"])  # what the current user's answer shows
        fields[HASHES] = {}
        _keep_hashed(fields, fields)
        self.accounts[name] = fields
        return str(fields["_id"])

    def check(self, fields: dict[str, Any]) -> dict[str, Any] | None:
        name = self.login_name(fields)
        account = self.accounts.get(name or "")
        given = [(secret, str(fields[secret])) for secret in SECRET_FIELDS if secret in fields]
        if account is None:
            for _, value in given[:1]:
                verify_password(None, value)  # an unknown name costs what a wrong secret does
            return None
        hashes = account[HASHES]
        if all(verify_password(hashes.get(secret), value) for secret, value in given):
            return account
        return None

    def by_id(self, user_id: str | None) -> dict[str, Any] | None:
        return next((a for a in self.accounts.values() if a["_id"] == user_id), None)

    def update(self, account: dict[str, Any], changes: dict[str, Any]) -> str | None:
        """Apply `changes` (a profile update) to `account`, moving its login name if
        that changes; returns the login field that clashes with another account, if
        any (then nothing changes)."""
        changes = {k: v for k, v in changes.items() if k != "id" and not k.startswith("_")}
        before = self.login_name(account)
        after = self.login_name(account | changes)
        if after is not None and after != before and after in self.accounts:
            return self.login_field(account | changes)
        _keep_hashed(account, changes)
        account.update(changes)
        if after != before:
            self.accounts.pop(before or "", None)
            if after is not None:
                self.accounts[after] = account
        return None

    def delete(self, account: dict[str, Any]) -> None:
        """Close the account: its login name is free again, its tokens are refused."""
        self.accounts.pop(self.login_name(account) or "", None)
        self.deleted.add(str(account["_id"]))

    def first_id(self) -> str | None:
        """The first configured account's id (whom the broken profile's
        `anonymous_access` lets a request without credentials act as)."""
        first = next(iter(self.accounts.values()), None)
        return str(first["_id"]) if first is not None else None


def _keep_hashed(account: dict[str, Any], fields: dict[str, Any]) -> None:
    """Move the secrets among `fields` into the account's hashes: never kept in clear."""
    for secret in SECRET_FIELDS:
        if secret in fields:
            account[HASHES][secret] = hash_password(str(fields.pop(secret)))
