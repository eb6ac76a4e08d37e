"""What every scenario shares: the context, the shapes, evidence helpers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.conformance import binding
from harness.conformance.adapter import Adapter, Reply
from harness.conformance.binding import DEMO_LOGIN, V1_OPS
from harness.conformance.verdicts import Evidence, Rule, Verdict
from harness.control import ControlClient

LOGIN = DEMO_LOGIN  # the demo's seeded account; any other API logs in as its identity
PRODUCT = {"name": "Conformance kettle", "price": 19.99, "category_id": "home"}
# Timing verdicts allow for a loaded machine: lateness is fine, earliness is not.
EARLY_TOLERANCE_S = 0.05
# How long a call that the scenario did not slow down may take on a loaded machine.
CALL_S = 10.0


@dataclass
class Context:
    control: ControlClient
    adapter: Adapter
    log_file: Path | None = None  # where the client's own logging goes

    def journal(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.control.entries()
        return entries

    def start_session(self) -> None:
        reply = LOGIN_OP.call(self)
        if not reply.ok:
            raise NoSession(reply, self.journal())
        self.control.clear_journal()

    def only_fault(self, rule: dict[str, Any]) -> None:
        """Start a new part of a scenario: this fault rule alone, an empty journal."""
        self.control.clear_faults()
        self.control.clear_journal()
        self.control.add_fault(rule)

    @contextlib.contextmanager
    def usable(self, *, session: bool = True) -> Iterator[Context]:
        """This context, or, when its adapter is stuck in a call it never answered, one
        on a fresh instance of the adapter (logged in unless `session` is False)."""
        if not self.adapter.pending:
            yield self
            return
        with self.adapter.relaunch() as fresh:
            other = Context(self.control, fresh, self.log_file)
            if session:
                other.start_session()
            yield other

    def product_ids(self, count: int) -> list[str]:
        """Ids of `count` items that exist (products of the demo), listed through the
        client, as the read role takes them."""
        reply = Op("list", {"page_size": count}).call(self)
        ids = binding.current().item_ids(reply.result) if reply.ok else []
        if not reply.ok or len(ids) < count:
            raise NoSession(reply, self.journal(), what=f"list {count} items")
        return ids[:count]


class NoSession(RuntimeError):
    """The client could not log in (or do another plain call a scenario needs first),
    so the rule could not be provoked."""

    def __init__(self, reply: Reply, entries: list[dict[str, Any]], what: str = "log in") -> None:
        super().__init__(
            f"the client could not {what} ({reply.error_kind}: {reply.error.get('message')})"
        )
        self.entries = entries


def sibling(control: ControlClient) -> ControlClient:
    """Another client of the same control API, for another thread: the one place that
    says how to reach it again."""
    return ControlClient(control.base_url)


def of_operation(entries: list[dict[str, Any]], operation: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["operation"] == operation]


def evidence_of(entries: list[dict[str, Any]], title: str = "") -> Evidence:
    return Evidence.of_entries(entries, title)


def call_timeout(*delays_s: float, attempts: int = 4, per_attempt_s: float = 1.0) -> float:
    """A call's timeout from what the scenario provoked: its waits, its attempts and a
    margin for a loaded machine (a silent adapter is caught within this)."""
    return sum(delays_s) + attempts * per_attempt_s + CALL_S


SIGNING_SECRET = "conformance-signing-secret"
API_KEY = "conformance-api-key"


@dataclass(frozen=True)
class Scenario:
    rule: Rule
    run: Callable[[Context], Verdict]
    # The runner turns signing and the API key on, in the mock and the adapter.
    signing: bool = False
    # What the adapter is told differently for this rule (AdapterEnv fields), e.g. a
    # short read timeout, a backoff base or an overall deadline.
    adapter_env: Mapping[str, Any] = field(default_factory=dict)
    # The roles the rule provokes: an API without one of them makes it not applicable.
    roles: tuple[str, ...] = ()
    # Set when the rule can be judged on the demo API only, and why.
    demo_only: str | None = None
    # Items the rule lists in one call: a list operation whose page size cannot reach
    # it makes the rule not applicable.
    lists_at_once: int = 0


@dataclass(frozen=True)
class Op:
    """One call a scenario makes, by the role it plays. The binding in force
    (binding.py) turns it into the adapter's request (v1: the demo's named op; v2: a
    generic `call`) and names the operation the mock journals it as. Each scenario
    module names its calls once, at its top."""

    role: str
    args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def operation(self) -> str:
        return binding.current().operation(self.role)

    def call(self, ctx: Context | Adapter, *, timeout: float = CALL_S, **extra: Any) -> Reply:
        adapter = ctx if isinstance(ctx, Adapter) else ctx.adapter
        op, args = self.request()
        return adapter.call(op, args, timeout=timeout, **extra)

    def request(self) -> tuple[str, dict[str, Any]]:
        """The adapter op and its args; also one of the ops of a `parallel` request."""
        return binding.current().request(self.role, V1_OPS.get(self.role, ""), self.args)

    def of(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return of_operation(entries, self.operation)

    def fault(self, action: dict[str, Any], **rule: Any) -> dict[str, Any]:
        """A fault rule for this operation's requests."""
        return {"action": action, "match": {"operation": self.operation}, **rule}

    def with_args(self, **args: Any) -> Op:
        return Op(self.role, {**self.args, **args})


LOGIN_OP = Op("login", LOGIN)
