"""A small client for the mock's control API (`/__harness/`).

A mock that listens beyond loopback (or was asked to) wants its control token
in `X-Harness-Token`: give it as `token=`, or set HARNESS_CONTROL_TOKEN, which
every harness command reads.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

import httpx

CONTROL_PREFIX = "/__harness"
TOKEN_HEADER = "X-Harness-Token"
TOKEN_ENV = "HARNESS_CONTROL_TOKEN"
# Built once: each httpx client would otherwise load the CA bundle (~20 ms).
_TLS = ssl.create_default_context()


class ControlError(RuntimeError):
    pass


class ControlClient:
    def __init__(self, base_url: str, *, timeout: float = 10.0, token: str | None = None) -> None:
        """`token`: the mock's control token; HARNESS_CONTROL_TOKEN when not given."""
        self.base_url = base_url.rstrip("/")
        token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        self._http = httpx.Client(
            base_url=self.base_url + CONTROL_PREFIX,
            timeout=timeout,
            verify=_TLS,
            headers={TOKEN_HEADER: token} if token else None,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ControlError(f"{method} {CONTROL_PREFIX}{path}: {response.text}")
        return response.json() if response.content else None

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def reset(self) -> None:
        self._call("POST", "/reset")

    def journal(self, since: int = 0, limit: int | None = None) -> dict[str, Any]:
        params: dict[str, int] = {"since": since}
        if limit is not None:
            params["limit"] = limit
        result: dict[str, Any] = self._call("GET", "/journal", params=params)
        return result

    def entries(self, since: int = 0) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.journal(since)["entries"]
        return entries

    def clear_journal(self) -> None:
        self._call("DELETE", "/journal")

    def advance_clock(self, seconds: float) -> float:
        now: float = self._call("POST", "/clock", json={"advance_s": seconds})["now"]
        return now

    def expire_tokens(self) -> None:
        self._call("POST", "/tokens/expire")

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def configure(self, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", "/config", json=changes)
        return result

    # --- faults and scenarios ---------------------------------------------------

    def add_fault(self, rule: dict[str, Any]) -> str:
        """Install a fault rule (see mocks/fault_rules.py); returns its id."""
        rule_id: str = self._call("POST", "/faults", json=rule)["id"]
        return rule_id

    def faults(self) -> list[dict[str, Any]]:
        """The installed rules, in order, with their match and hit counts."""
        rules: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return rules

    def clear_faults(self, rule_id: str | None = None) -> None:
        self._call("DELETE", "/faults" if rule_id is None else f"/faults/{rule_id}")

    def load_scenario(
        self, name: str | None = None, inline: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Replace the fault rules and config with a built-in or inline scenario."""
        body: dict[str, Any] = {"name": name} if name is not None else {"inline": inline}
        result: dict[str, Any] = self._call("POST", "/scenario", json=body)
        return result

    def mint_session(self, user: str | None = None) -> dict[str, Any]:
        """A session of a document-served mock (`harness mock --spec`), minted without a
        login: {access_token, refresh_token, expires_in, session}."""
        body = {"user": user} if user else {}
        result: dict[str, Any] = self._call("POST", "/tokens", json=body)
        return result
