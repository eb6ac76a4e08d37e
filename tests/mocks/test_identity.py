"""Who an account is: e-mails compared after NFKC and case folding, so one address in
several Unicode spellings is one account; passwords kept as salted argon2id hashes."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from mock_testkit import ApiClient, assert_problem

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD, demo_config
from mocks import spec_accounts
from mocks.passwords import PARAMETERS, hash_password, verify_password
from mocks.shared_accounts import SharedAccountRows
from mocks.spec_accounts import HASHES, Accounts, identity_key
from mocks.sqlite_store import SqliteStateStore

PASSWORD = "correct-horse-battery"
NFC = unicodedata.normalize("NFC", "ren\u00e9e@example.com")
NFD = unicodedata.normalize("NFD", NFC)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (NFC, NFD),  # composed and decomposed accents
        ("strasse@example.com", "stra\u00dfe@example.com"),  # sharp s folds to ss
        ("kelvin@example.com", "\u212aelvin@example.com"),  # the Kelvin sign is a K
        (DEMO_EMAIL, "\uff44\uff45\uff4d\uff4f@example.com"),  # fullwidth letters
        (DEMO_EMAIL, "DEMO@EXAMPLE.COM"),
    ],
)
def test_two_spellings_of_one_address_are_one_account(
    api: ApiClient, first: str, second: str
) -> None:
    if first != DEMO_EMAIL:
        api.register(first, PASSWORD)
    body = {"email": second, "password": PASSWORD, "name": "Lookalike"}
    assert_problem(api.post("/v1/auth/register", json=body), 409, "email_taken")


@pytest.mark.parametrize(
    ("registered", "typed"),
    [(NFC, NFD), (NFD, NFC), ("kelvin@example.com", "\u212aelvin@example.com")],
)
def test_login_with_another_spelling_reaches_the_same_account(
    api: ApiClient, registered: str, typed: str
) -> None:
    mine = api.register(registered, PASSWORD)
    profile = api.get("/v1/users/profile", mine).json()
    again = api.login(typed, PASSWORD)
    assert api.get("/v1/users/profile", again).json() == profile
    assert profile["email"] == registered  # shown as it was registered


def test_changing_to_another_spelling_of_a_taken_address_is_a_409(api: ApiClient) -> None:
    api.register(NFC, PASSWORD)
    other = api.register("someone@example.com", PASSWORD)
    response = api.put("/v1/users/update", other, json={"email": NFD})
    assert_problem(response, 409, "email_taken")


def test_identity_key_is_stable_under_repetition() -> None:
    for email in (NFC, NFD, "\u212aelvin@x", "stra\u00dfe@x", "\uff24emo@x", "\u01c5@x"):
        key = identity_key(email)
        assert identity_key(key) == key


@pytest.fixture(params=["memory", "shared"])
def accounts(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Accounts]:
    """The demo's accounts in this process, and in the store workers share."""
    if request.param == "memory":
        yield Accounts(demo_config().mock.accounts)
        return
    store = SqliteStateStore(tmp_path / "s.db", durable=False)
    yield Accounts(demo_config().mock.accounts, lambda seeded: SharedAccountRows(store, seeded))
    store.close()


def test_the_accounts_index_by_identity(accounts: Accounts) -> None:
    assert accounts.add({"email": NFC, "password": PASSWORD, "name": "R"}) is not None
    assert accounts.add({"email": NFD, "password": PASSWORD, "name": "R2"}) is None  # taken
    assert accounts.check({"email": NFD, "password": PASSWORD}) is not None


# --- passwords -------------------------------------------------------------------------


def test_passwords_are_salted_argon2id_hashes() -> None:
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$v=19$")
    assert f"m={PARAMETERS.memory_cost},t={PARAMETERS.time_cost},p={PARAMETERS.parallelism}" in (
        first
    )
    assert first != second  # a salt of its own each
    assert verify_password(first, PASSWORD)
    assert not verify_password(first, PASSWORD + "x")
    assert not verify_password("not a hash", PASSWORD)
    assert not verify_password(None, PASSWORD)


def test_seeded_and_registered_accounts_keep_only_argon2id_hashes(accounts: Accounts) -> None:
    accounts.add({"email": "new@example.com", "password": PASSWORD, "name": "N"})
    assert len(accounts.all()) == len(demo_config().mock.accounts) + 1
    for account in accounts.all():
        assert "password" not in account
        assert account[HASHES]["password"].startswith("$argon2id$")
        assert DEMO_PASSWORD not in repr(account)
        assert PASSWORD not in repr(account)


def test_a_changed_password_is_kept_hashed_and_the_old_one_stops_working(
    accounts: Accounts,
) -> None:
    demo = accounts.get(DEMO_EMAIL)
    assert demo is not None
    assert accounts.update(demo, {"password": PASSWORD}) is None
    assert "password" not in demo
    assert accounts.check({"email": DEMO_EMAIL, "password": PASSWORD}) == demo
    assert accounts.check({"email": DEMO_EMAIL, "password": DEMO_PASSWORD}) is None


def test_an_unknown_email_costs_a_hash_too(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No shortcut for unknown accounts: a login's time does not say whether the email exists.
    verified: list[str | None] = []

    def recording(hashed: str | None, password: str) -> bool:
        verified.append(hashed)
        return verify_password(hashed, password)

    monkeypatch.setattr(spec_accounts, "verify_password", recording)
    assert accounts.check({"email": "nobody@example.com", "password": "wrong-password"}) is None
    assert accounts.check({"email": DEMO_EMAIL, "password": "wrong-password"}) is None
    demo = accounts.get(DEMO_EMAIL)
    assert demo is not None
    assert verified == [None, demo[HASHES]["password"]]


def test_accounts_change_close_and_reset_alike_in_both_stores(accounts: Accounts) -> None:
    new = accounts.add({"email": NFC, "password": PASSWORD, "name": "R"})
    assert new is not None
    assert new.startswith("u-")
    other = accounts.add({"email": "other@example.com", "password": PASSWORD, "name": "O"})
    assert other is not None
    assert other != new
    account = accounts.by_id(new)
    assert account is not None
    assert accounts.update(account, {"email": "other@example.com"}) == "email"  # taken
    assert accounts.update(account, {"email": "moved@example.com", "name": "M"}) is None
    assert accounts.get(NFC) is None
    assert accounts.by_id(new) == account == accounts.get("MOVED@example.com")
    accounts.keep(account, {"created_at": "2026-01-01T00:00:00Z", "name": "not kept"})
    stored = accounts.by_id(new)
    assert stored is not None
    assert (stored["created_at"], stored["name"]) == ("2026-01-01T00:00:00Z", "M")
    first = accounts.first_id()
    assert first is not None
    assert first != new
    accounts.delete(stored)
    assert accounts.is_closed(new)
    assert not accounts.is_closed(other)
    assert accounts.by_id(new) is None
    assert accounts.get("moved@example.com") is None
    accounts.reset()
    if isinstance(accounts.rows, SharedAccountRows):  # there a reset is the store's
        accounts.rows._store.next_epoch()
    assert not accounts.is_closed(new)
    assert accounts.get("other@example.com") is None
    assert accounts.first_id() == first
    assert accounts.add({"email": "again@example.com", "password": PASSWORD}) == new
