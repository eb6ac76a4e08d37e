"""Token stores: in memory, and the OS keyring (a memory backend stands in for it)."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from harness.client import InMemoryTokenStore, KeyringTokenStore, TokenPair

PAIR = TokenPair("access-secret", "refresh-secret")


class MemoryKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError("not stored")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def test_in_memory_store_round_trip() -> None:
    store = InMemoryTokenStore()
    assert store.get() is None
    store.set(PAIR)
    assert store.get() == PAIR
    store.clear()
    assert store.get() is None


def test_keyring_store_round_trip(memory_keyring: MemoryKeyring) -> None:
    store = KeyringTokenStore(service="svc", account="me")
    assert store.get() is None
    store.set(PAIR)
    assert store.get() == PAIR
    assert ("svc", "me") in memory_keyring.secrets
    store.clear()
    assert store.get() is None
    store.clear()  # clearing twice is fine


def test_an_unreadable_keyring_entry_means_signed_out(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.secrets[("svc", "me")] = "not json"
    assert KeyringTokenStore(service="svc", account="me").get() is None


def test_token_pairs_never_print_their_secrets() -> None:
    assert "secret" not in repr(PAIR)
    assert "secret" not in str(PAIR)
