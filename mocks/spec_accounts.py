"""The accounts a document-served mock knows: the configured identities and
accounts, and those registered since, by login name.

A login name is compared by its identity key (Unicode NFKC_Casefold): one
address in several spellings (composed or decomposed accents, fullwidth
letters, `ß` and `ss`, the Kelvin sign and `K`, any case) is one account.
Passwords and other secrets are kept only as salted argon2id hashes
(`passwords.py`), and a login for an unknown name costs a hash too, so that its
timing does not tell which accounts exist.

`Accounts` holds the rules; where the accounts live is an `AccountRows`:
`MemoryAccountRows` in this process, or the workers' shared store
(mocks/shared_accounts.py), so that an account registered on one worker signs in
on every other. Each change is one call to the rows, which a shared store makes
one transaction (a login name is checked free and taken at once).
"""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from mocks.passwords import hash_password, verify_password

SECRET_FIELDS = ("password", "secret", "client_secret")
HASHES = "_hashes"  # an account's secrets, by field, as argon2id hashes
# Where a request carries the login name, best first.
LOGIN_FIELDS = ("email", "username", "login", "user", "name", "client_id")
Account = dict[str, Any]


def identity_key(name: str) -> str:
    """NFKC, case folding, NFKC again: Unicode's NFKC_Casefold, stable when repeated."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


class AccountRows(Protocol):
    """Where accounts live, by identity key. Accounts go in and come out as copies."""

    def get(self, name: str) -> Account | None: ...
    def by_id(self, account_id: str) -> Account | None: ...
    def first(self) -> Account | None: ...
    def all(self) -> Iterator[Account]: ...
    def insert(self, name: str, account: Account) -> str | None:
        """Add `account` under `name` unless it is taken; its id (`_id`, given or the
        next `u-N`), or None."""

    def replace(self, before: str | None, after: str | None, account: Account) -> bool:
        """Store `account` (same `_id`) under `after` instead of `before`; False (and
        nothing changes) when another account has `after`."""

    def keep(self, account_id: str, fields: Account) -> Account | None:
        """Add to the account the `fields` it lacks; the account as stored after."""

    def close(self, name: str | None, account_id: str) -> None: ...
    def is_closed(self, account_id: str | None) -> bool: ...
    def reseed(self, seeded: list[tuple[str, Account]]) -> None:
        """Only the `seeded` accounts, by name (a reset)."""


class MemoryAccountRows:
    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._names: dict[str, str] = {}  # account id -> its name: by_id on every signed call
        self._closed: set[str] = set()  # ids of closed accounts: their tokens are refused
        self._serial = 0

    def get(self, name: str) -> Account | None:
        found = self._accounts.get(name)
        return copy.deepcopy(found) if found is not None else None

    def by_id(self, account_id: str) -> Account | None:
        return self.get(self._names.get(account_id, ""))

    def first(self) -> Account | None:
        return copy.deepcopy(next(iter(self._accounts.values()), None))

    def all(self) -> Iterator[Account]:
        return (copy.deepcopy(a) for a in list(self._accounts.values()))

    def insert(self, name: str, account: Account) -> str | None:
        if name in self._accounts:
            return None
        self._serial += 1
        _name_id(account, self._serial)
        self._put(name, account)
        return str(account["_id"])

    def replace(self, before: str | None, after: str | None, account: Account) -> bool:
        if after is not None and after != before and after in self._accounts:
            return False
        self._names.pop(str(account["_id"]), None)
        if after is None:
            self._accounts.pop(before or "", None)
            return True
        if before != after and before in self._accounts:  # a rename keeps its place
            self._accounts = {after if k == before else k: v for k, v in self._accounts.items()}
        self._put(after, account)
        return True

    def keep(self, account_id: str, fields: Account) -> Account | None:
        stored = self._accounts.get(self._names.get(account_id, ""))
        if stored is None:
            return None
        for key, value in fields.items():
            stored.setdefault(key, copy.deepcopy(value))
        return copy.deepcopy(stored)

    def close(self, name: str | None, account_id: str) -> None:
        self._accounts.pop(name or "", None)
        self._names.pop(account_id, None)
        self._closed.add(account_id)

    def is_closed(self, account_id: str | None) -> bool:
        return account_id in self._closed

    def reseed(self, seeded: list[tuple[str, Account]]) -> None:
        self._accounts, self._names, self._closed = {}, {}, set()
        for name, account in seeded:
            self._put(name, account)
        self._serial = len(seeded)

    def _put(self, name: str, account: Account) -> None:
        self._accounts[name] = copy.deepcopy(account)
        self._names[str(account["_id"])] = name


def memory_rows(seeded: list[tuple[str, Account]]) -> AccountRows:
    rows = MemoryAccountRows()
    rows.reseed(seeded)
    return rows


def _name_id(account: Account, serial: int) -> None:
    """A configured account may name its own id; a registered one gets `u-<serial>`."""
    given = account.get("id")
    account["_id"] = given if isinstance(given, str) and given else f"u-{serial}"
    account.setdefault("id", account["_id"])  # what the current user's answer shows


class Accounts:
    """The configured identities plus registered accounts, by identity key."""

    def __init__(
        self,
        identities: tuple[dict[str, str], ...],
        rows: Callable[[list[tuple[str, Account]]], AccountRows] | None = None,
    ) -> None:
        """`rows`: where the accounts live, made from the seeded ones (by name, hashed);
        by default this process's memory."""
        # Hashed once: a reset reseeds these, not the clear secrets again (argon2id is slow).
        self.seeded: list[tuple[str, Account]] = []
        for identity in identities:
            fields: Account = dict(identity)
            name = self.login_name(fields)
            if name is None or any(name == taken for taken, _ in self.seeded):
                continue
            _name_id(fields, len(self.seeded) + 1)
            fields[HASHES] = {}
            _keep_hashed(fields, fields)
            self.seeded.append((name, fields))
        self.rows = (rows or memory_rows)(self.seeded)

    def reset(self) -> None:
        self.rows.reseed(self.seeded)

    @staticmethod
    def login_field(fields: dict[str, Any]) -> str | None:
        """The field that names the account (`email`, `username`...)."""
        return next((k for k in LOGIN_FIELDS if isinstance(fields.get(k), str)), None)

    @classmethod
    def login_name(cls, fields: dict[str, Any]) -> str | None:
        key = cls.login_field(fields)
        return identity_key(str(fields[key])) if key is not None else None

    def get(self, name: str) -> Account | None:
        return self.rows.get(identity_key(name))

    def all(self) -> list[Account]:
        return list(self.rows.all())

    def add(self, fields: dict[str, Any]) -> str | None:
        """A new account's id (also set as `fields["_id"]`, and its secrets hashed
        there); None when its login name is missing or taken."""
        name = self.login_name(fields)
        if name is None:
            return None
        fields[HASHES] = {}
        _keep_hashed(fields, fields)
        fields.pop("_id", None)
        return self.rows.insert(name, fields)

    def check(self, fields: dict[str, Any]) -> Account | None:
        name = self.login_name(fields)
        account = self.rows.get(name) if name is not None else None
        given = [(secret, str(fields[secret])) for secret in SECRET_FIELDS if secret in fields]
        if account is None:
            for _, value in given[:1]:
                verify_password(None, value)  # an unknown name costs what a wrong secret does
            return None
        hashes = account[HASHES]
        if all(verify_password(hashes.get(secret), value) for secret, value in given):
            return account
        return None

    def by_id(self, user_id: str | None) -> Account | None:
        return self.rows.by_id(user_id) if user_id is not None else None

    def is_closed(self, user_id: str | None) -> bool:
        return self.rows.is_closed(user_id)

    def update(self, account: Account, changes: dict[str, Any]) -> str | None:
        """Apply `changes` (a profile update) to `account`, moving its login name if
        that changes; returns the login field that clashes with another account, if
        any (then nothing changes)."""
        changes = {k: v for k, v in changes.items() if k != "id" and not k.startswith("_")}
        before = self.login_name(account)
        changed = copy.deepcopy(account)
        _keep_hashed(changed, changes)
        changed.update(changes)
        if not self.rows.replace(before, self.login_name(changed), changed):
            return self.login_field(account | changes)
        account.clear()
        account.update(changed)
        return None

    def keep(self, account: Account, fields: Account) -> None:
        """The account keeps the `fields` it lacks (generated once, shown ever after)."""
        stored = self.rows.keep(str(account["_id"]), fields)
        if stored is not None:
            account.clear()
            account.update(stored)

    def delete(self, account: Account) -> None:
        """Close the account: its login name is free again, its tokens are refused."""
        self.rows.close(self.login_name(account), str(account["_id"]))

    def first_id(self) -> str | None:
        """The first configured account's id (whom the broken profile's
        `anonymous_access` lets a request without credentials act as)."""
        first = self.rows.first()
        return str(first["_id"]) if first is not None else None


def _keep_hashed(account: Account, fields: dict[str, Any]) -> None:
    """Move the secrets among `fields` into the account's hashes: never kept in clear."""
    for secret in SECRET_FIELDS:
        if secret in fields:
            account[HASHES][secret] = hash_password(str(fields.pop(secret)))
