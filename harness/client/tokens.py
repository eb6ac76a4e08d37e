"""Where the client keeps its tokens: the counterpart of the seed's secure storage.

`InMemoryTokenStore` is the default. `KeyringTokenStore` keeps them in the OS
keyring (Keychain, Secret Service, Windows Credential Locker) for CLI use, as
the seed keeps them in flutter_secure_storage.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str

    def __repr__(self) -> str:  # never print secrets, even by accident
        return "TokenPair(access_token=***, refresh_token=***)"


class TokenStore(Protocol):
    def get(self) -> TokenPair | None: ...
    def set(self, pair: TokenPair) -> None: ...
    def clear(self) -> None: ...


class InMemoryTokenStore:
    def __init__(self, pair: TokenPair | None = None) -> None:
        self._pair = pair
        self._lock = threading.Lock()

    def get(self) -> TokenPair | None:
        return self._pair

    def set(self, pair: TokenPair) -> None:
        with self._lock:
            self._pair = pair

    def clear(self) -> None:
        with self._lock:
            self._pair = None


class KeyringTokenStore:
    """Tokens in the OS keyring under `service`/`account`, as one JSON secret."""

    def __init__(self, service: str = "api-contract-harness", account: str = "default") -> None:
        import keyring  # imported here: only CLI users need a keyring backend

        self._keyring = keyring
        self._service = service
        self._account = account

    def get(self) -> TokenPair | None:
        raw = self._keyring.get_password(self._service, self._account)
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return TokenPair(str(data["access_token"]), str(data["refresh_token"]))
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: treat as signed out

    def set(self, pair: TokenPair) -> None:
        secret = json.dumps(
            {"access_token": pair.access_token, "refresh_token": pair.refresh_token}
        )
        self._keyring.set_password(self._service, self._account, secret)

    def clear(self) -> None:
        with contextlib.suppress(self._keyring.errors.PasswordDeleteError):  # nothing stored
            self._keyring.delete_password(self._service, self._account)
