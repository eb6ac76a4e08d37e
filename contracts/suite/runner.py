"""Run the contract suite against any server: schemathesis's engine with this
API's auth, checks and settings, then the lifecycle chain.

`run_suite(options, on_progress)` returns a `SuiteReport`: per operation the
cases sent and the failures found (check, message, curl to reproduce), run
errors, the lifecycle steps, and the session's logins and refreshes.

What the suite adds to schemathesis (`st run`):
- auth inside the run (`_SuiteAuthProvider`): one session shared by the
  workers, refreshed ahead of expiry, renewed on a 401 (refresh, else log in
  again), the API key and signature added to the exact bytes sent;
- each generated `Idempotency-Key` made unique, so a positive case never
  collides with another case's key (that would be a legitimate 422);
- the checks of `contracts/suite/checks.py` beside every built-in check;
- the lifecycle chain (`lifecycle.py`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.engine import events, from_schema

from contracts.openapi import DOCUMENT_PATH
from contracts.suite import checks as suite_checks
from contracts.suite.active import activate, active
from contracts.suite.lifecycle import Step, run_lifecycle
from contracts.suite.session import (
    Credentials,
    Gateway,
    SessionKeeper,
    SessionStats,
    SuiteAuth,
    bearer_of,
)

DEFAULT_MAX_EXAMPLES = 25
DEFAULT_WORKERS = 2
REQUEST_TIMEOUT_S = 10.0
PHASES = ("examples", "coverage", "fuzzing", "stateful")


@dataclass(frozen=True)
class SuiteOptions:
    base_url: str
    spec: Path = DOCUMENT_PATH
    max_examples: int = DEFAULT_MAX_EXAMPLES
    workers: int = DEFAULT_WORKERS
    seed: int | None = None
    deterministic: bool = False
    credentials: Credentials | None = None
    gateway: Gateway = field(default_factory=Gateway)
    phases: tuple[str, ...] = PHASES
    lifecycle: bool = True


@dataclass(frozen=True)
class Finding:
    operation: str
    check: str
    message: str
    reproduce: str = ""


@dataclass
class OperationTally:
    label: str
    operation_id: str
    cases: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings


@dataclass
class SuiteReport:
    operations: dict[str, OperationTally] = field(default_factory=dict)
    errors: list[Finding] = field(default_factory=list)
    lifecycle: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    stop_reason: str = ""
    session: SessionStats | None = None
    seed: int | None = None

    @property
    def cases(self) -> int:
        return sum(op.cases for op in self.operations.values())

    @property
    def findings(self) -> list[Finding]:
        found = [f for op in self.operations.values() for f in op.findings]
        found += [
            Finding(s.operation, f"lifecycle: {s.what}", s.detail)
            for s in self.lifecycle
            if not s.passed
        ]
        return found

    @property
    def passed(self) -> bool:
        return not self.findings and not self.errors


@dataclass(frozen=True)
class Progress:
    """What happened, for a progress line: a phase began or ended, or a scenario ran."""

    kind: str  # "phase-started", "phase-finished", "scenario", "lifecycle"
    phase: str
    label: str = ""
    cases: int = 0
    failed: bool = False


ProgressCallback = Callable[[Progress], None]


# --- auth and hooks, wired to the active session ----------------------------------------


def _keeper() -> SessionKeeper:
    keeper = active()
    if keeper is None:
        raise RuntimeError("the contract suite's auth was used outside a suite run")
    return keeper


def _secured(case: Any) -> bool:
    raw = getattr(case.operation.definition, "raw", None)
    return bool(raw.get("security")) if isinstance(raw, dict) else False


class _SuiteAuthProvider:
    """schemathesis calls `get` for the first case and after a 401, `set` for every case."""

    def get(self, case: Any, ctx: Any) -> str:
        keeper = _keeper()
        rejected = bearer_of(case.headers)
        return keeper.renew(rejected) if rejected else keeper.access_token()

    def set(self, case: Any, data: str, ctx: Any) -> None:
        keeper = _keeper()
        case.headers = case.headers or {}
        if _secured(case):
            case.headers["Authorization"] = f"Bearer {keeper.access_token()}"
        key = case.headers.get(suite_checks.IDEMPOTENCY_HEADER)
        if isinstance(key, str) and 0 < len(key) <= 255:  # a valid key: make it unique
            case.headers[suite_checks.IDEMPOTENCY_HEADER] = f"{key[:160]}-{uuid.uuid4().hex}"
        gateway = keeper.gateway
        if gateway.api_key is not None or gateway.signing_secret is not None:
            # What `schema.auth.set_from_requests` does: a requests auth sees the final body.
            case._auth = SuiteAuth(gateway)


def _follow_profile(context: Any, case: Any, response: Any) -> None:
    """after_call: the suite's account changed its email; log in with the new one later."""
    keeper = active()
    if keeper is None or response.status_code != 200:
        return
    if suite_checks.operation_id(case) != "updateProfile":
        return
    token = bearer_of(response.request.headers)
    if token is not None:
        keeper.follow_profile(token, response.json())


def load_schema(options: SuiteOptions) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "base-url": options.base_url,
            "workers": options.workers,
            "request-timeout": REQUEST_TIMEOUT_S,
            "generation": {
                "mode": "all",
                "max-examples": options.max_examples,
                "deterministic": options.deterministic,
            },
            "phases": {name: {"enabled": name in options.phases} for name in PHASES},
            "checks": {"enabled": True},
            **({"seed": options.seed} if options.seed is not None else {}),
        }
    )
    schema = schemathesis.openapi.from_path(options.spec, config=config)
    schema.auth(refresh_interval=24 * 3600, retry_on=[401])(_SuiteAuthProvider)
    schema.hooks.register_hook_with_name(_follow_profile, "after_call")
    return schema


# --- reading the event stream --------------------------------------------------------------


def _case_operation(case: Any) -> tuple[str, str]:
    return case.operation.label, suite_checks.operation_id(case) or case.operation.label


def _record(report: SuiteReport, recorder: Any) -> tuple[int, bool]:
    cases, failed = 0, False
    for case_id, node in recorder.cases.items():
        label, op_id = _case_operation(node.value)
        tally = report.operations.setdefault(label, OperationTally(label, op_id))
        tally.cases += 1
        cases += 1
        for check in recorder.checks.get(case_id, []):
            info = check.failure_info
            if info is None:
                continue
            failed = True
            failure = info.failure
            where = failure.operation or label
            target = report.operations.setdefault(where, OperationTally(where, where))
            finding = Finding(where, check.name, str(failure).strip(), info.code_sample)
            if not any(
                (f.check, f.message.splitlines()[0])
                == (check.name, finding.message.splitlines()[0])
                for f in target.findings
            ):
                target.findings.append(finding)
    return cases, failed


def run_suite(options: SuiteOptions, on_progress: ProgressCallback | None = None) -> SuiteReport:
    """Run every phase and the lifecycle chain against `options.base_url`."""
    notify = on_progress or (lambda _: None)
    report = SuiteReport(seed=options.seed)
    start = time.perf_counter()
    keeper = SessionKeeper(options.base_url, options.credentials, options.gateway)
    with activate(keeper), suite_checks.registered():
        try:
            schema = load_schema(options)
            for operation in schema.get_all_operations():
                op = operation.ok()
                raw = op.definition.raw
                op_id = raw.get("operationId", op.label) if isinstance(raw, dict) else op.label
                report.operations[op.label] = OperationTally(op.label, op_id)
            _consume(from_schema(schema).execute(), report, notify)
            if options.lifecycle:
                notify(Progress("phase-started", "lifecycle"))
                report.lifecycle = run_lifecycle(keeper)
                for step in report.lifecycle:
                    notify(Progress("lifecycle", "lifecycle", step.what, 1, not step.passed))
                notify(Progress("phase-finished", "lifecycle"))
            if options.credentials is not None:
                keeper.restore_profile()
        finally:
            report.session = keeper.stats
            keeper.close()
    report.seconds = time.perf_counter() - start
    return report


def _consume(stream: Any, report: SuiteReport, notify: ProgressCallback) -> None:
    for event in stream:
        if isinstance(event, events.PhaseStarted):
            notify(Progress("phase-started", event.phase.name.value))
        elif isinstance(event, events.PhaseFinished):
            notify(Progress("phase-finished", event.phase.name.value))
        elif isinstance(event, events.ScenarioFinished):
            cases, failed = _record(report, event.recorder)
            notify(Progress("scenario", event.phase.value, event.recorder.label, cases, failed))
        elif isinstance(event, events.NonFatalError):
            report.errors.append(Finding(event.label, "error", event.info.format()))
        elif isinstance(event, events.FatalError):
            report.errors.append(Finding("run", "fatal error", repr(event.exception)))
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = event.stop_reason.value
            for failure in event.failures:
                where = failure.operation or "run"
                report.errors.append(Finding(where, "after run", str(failure)))
