"""What every scenario shares: the context, the shapes, evidence helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.conformance.adapter import Adapter, Reply
from harness.conformance.verdicts import Evidence, Rule, Verdict
from harness.control import ControlClient
from mocks.store import DEMO_EMAIL, DEMO_PASSWORD

LOGIN = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
PRODUCT = {"name": "Conformance kettle", "price": 19.99, "category_id": "home"}
# Timing verdicts allow for a loaded machine: lateness is fine, earliness is not.
EARLY_TOLERANCE_S = 0.05


@dataclass
class Context:
    control: ControlClient
    adapter: Adapter
    log_file: Path | None = None  # where the client's own logging goes

    def journal(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.control.entries()
        return entries

    def start_session(self) -> None:
        reply = self.adapter.call("login", LOGIN)
        if not reply.ok:
            raise NoSession(reply, self.journal())
        self.control.clear_journal()

    def only_fault(self, rule: dict[str, Any]) -> None:
        """Start a new part of a scenario: this fault rule alone, an empty journal."""
        self.control.clear_faults()
        self.control.clear_journal()
        self.control.add_fault(rule)


class NoSession(RuntimeError):
    """The client could not log in, so the rule could not be provoked."""

    def __init__(self, reply: Reply, entries: list[dict[str, Any]]) -> None:
        super().__init__(
            f"the client could not log in ({reply.error_kind}: {reply.error.get('message')})"
        )
        self.entries = entries


def of_operation(entries: list[dict[str, Any]], operation: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["operation"] == operation]


def evidence_of(entries: list[dict[str, Any]]) -> Evidence:
    return Evidence.of_entries(entries)


SIGNING_SECRET = "conformance-signing-secret"
API_KEY = "conformance-api-key"


@dataclass(frozen=True)
class Scenario:
    rule: Rule
    run: Callable[[Context], Verdict]
    # The runner turns signing and the API key on, in the mock and the adapter.
    signing: bool = False
    # The read timeout the adapter is told to use, when the scenario needs a short one.
    timeout_s: float | None = None
