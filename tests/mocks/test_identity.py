"""Who an account is: e-mails compared after NFKC and case folding, so one address in
several Unicode spellings is one account; passwords kept as salted argon2id hashes."""

from __future__ import annotations

import unicodedata

import pytest
from mock_testkit import ApiClient, assert_problem

from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD, EmailTaken, Store, identity_key
from mocks import store as store_module
from mocks.passwords import PARAMETERS, hash_password, verify_password

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


def test_the_store_indexes_by_identity() -> None:
    store = Store(seed=3, product_count=1)
    now = store.users["usr_demo"].created_at
    store.create_user(NFC, PASSWORD, "R", now)
    with pytest.raises(EmailTaken):
        store.create_user(NFD, PASSWORD, "R2", now)
    assert store.authenticate(NFD, PASSWORD) is not None


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


def test_seeded_users_are_stored_as_argon2id() -> None:
    store = Store(seed=3, product_count=1)
    for user in store.users.values():
        assert user.password_hash.startswith("$argon2id$")
        assert DEMO_PASSWORD not in user.password_hash


def test_an_unknown_email_costs_a_hash_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # No shortcut for unknown accounts: a login's time does not say whether the email exists.
    store = Store(seed=3, product_count=1)
    verified: list[str | None] = []

    def recording(hashed: str | None, password: str) -> bool:
        verified.append(hashed)
        return verify_password(hashed, password)

    monkeypatch.setattr(store_module, "verify_password", recording)
    assert store.authenticate("nobody@example.com", "wrong-password") is None
    assert store.authenticate(DEMO_EMAIL, "wrong-password") is None
    assert verified == [None, store.users["usr_demo"].password_hash]
