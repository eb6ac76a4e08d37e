"""Run the contract suite against any server: schemathesis's engine with this
API's auth, checks and settings, then the lifecycle chain.

`run_suite(options, on_progress)` returns a `SuiteReport`: per operation the
cases sent, the statuses seen and the failures found (check, message, curl to
reproduce), run errors, the lifecycle steps, the checks the document gave
nothing to judge, and the session's logins and refreshes.

What the suite adds to schemathesis (`st run`):
- auth inside the run for any API (`_SuiteAuthProvider` over the session of
  `session.py`, configured in harness.yaml): one session shared by the
  workers, refreshed ahead of expiry, renewed on a 401 (refresh, else sign in
  again), the token only on operations whose security names its scheme; static
  credentials per security scheme through schemathesis's own OpenAPI auth;
- each generated `Idempotency-Key` made unique, so a positive case never
  collides with another case's key (that would be a legitimate 422);
- the checks of `contracts/suite/checks.py`, each where the document declares
  what it checks;
- the lifecycle chain (`lifecycle.py`), derived from the document.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.engine import events, from_schema

from contracts.config import HarnessConfig
from contracts.suite import checks as suite_checks
from contracts.suite.active import activate, active
from contracts.suite.lifecycle import Step, run_lifecycle
from contracts.suite.redact import redact
from contracts.suite.session import (
    Credentials,
    Gateway,
    SessionKeeper,
    SessionStats,
    SuiteAuth,
    token_in,
)
from contracts.suite.setup import Prepared, demo_config, prepare

DEFAULT_MAX_EXAMPLES = 25
DEFAULT_WORKERS = 2
REQUEST_TIMEOUT_S = 10.0
PHASES = ("examples", "coverage", "fuzzing", "stateful")


@dataclass(frozen=True)
class SuiteOptions:
    base_url: str
    config: HarnessConfig | None = None  # None: the demo API's configuration
    spec: Path | str | None = None  # None: the configuration's
    max_examples: int = DEFAULT_MAX_EXAMPLES
    workers: int = DEFAULT_WORKERS
    seed: int | None = None
    deterministic: bool = False
    credentials: Credentials | None = None
    gateway: Gateway = field(default_factory=Gateway)
    phases: tuple[str, ...] = PHASES
    lifecycle: bool = True
    checks: tuple[str, ...] | None = None  # only these (by name); None: all
    exclude_checks: tuple[str, ...] = ()
    show_secrets: bool = False
    request_timeout_s: float = REQUEST_TIMEOUT_S
    security: bool = True  # the security checks (security.py), after the lifecycle


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
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def only_denied(self) -> bool:
        """Every answer was 401 or 403: the operation's behaviour was never really tested."""
        return bool(self.statuses) and set(self.statuses) <= {401, 403}


@dataclass
class SuiteReport:
    operations: dict[str, OperationTally] = field(default_factory=dict)
    errors: list[Finding] = field(default_factory=list)
    lifecycle: list[Step] = field(default_factory=list)
    security: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    stop_reason: str = ""
    session: SessionStats | None = None
    seed: int | None = None
    base_url: str = ""
    skipped_checks: dict[str, str] = field(default_factory=dict)  # check -> why

    @property
    def cases(self) -> int:
        return sum(op.cases for op in self.operations.values())

    @property
    def findings(self) -> list[Finding]:
        found = [f for op in self.operations.values() for f in op.findings]
        found += [
            Finding(s.operation, f"lifecycle: {s.what}", s.detail, s.reproduce)
            for s in self.lifecycle
            if not s.passed
        ]
        found += [
            Finding(s.operation, f"security: {s.what}", s.detail, s.reproduce)
            for s in self.security
            if not s.passed
        ]
        return found

    @property
    def untested(self) -> list[OperationTally]:
        """Operations that only ever answered 401/403."""
        return [t for t in self.operations.values() if t.only_denied]

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


class _SuiteAuthProvider:
    """schemathesis calls `get` for the first case and after a 401, `set` for every case."""

    def get(self, case: Any, ctx: Any) -> str:
        keeper = _keeper()
        rejected = token_in(case.headers, keeper.plan)
        token = keeper.renew(rejected) if rejected else keeper.access_token()
        return token or ""

    def set(self, case: Any, data: str, ctx: Any) -> None:
        keeper = _keeper()
        case.headers = case.headers or {}
        operation = suite_checks.document_operation(case)
        placement = keeper.plan.placement
        if (
            operation is not None
            and placement is not None
            and keeper.plan.carries_session(operation)
        ):
            # Deleting the signed-in account would end the suite's session for good:
            # those cases run as a throwaway account of their own.
            token = keeper.throwaway_token() if keeper.deletes_account(operation) else None
            token = token or keeper.access_token()
            if token:
                value = placement.value(token)
                if placement.location == "header":
                    case.headers[placement.name] = value
                elif placement.location == "query":
                    case.query = {**(case.query or {}), placement.name: value}
                else:
                    case.cookies = {**(case.cookies or {}), placement.name: value}
        key = case.headers.get(suite_checks.IDEMPOTENCY_HEADER)
        if isinstance(key, str) and 0 < len(key) <= 255:  # a valid key: make it unique
            case.headers[suite_checks.IDEMPOTENCY_HEADER] = f"{key[:160]}-{uuid.uuid4().hex}"
        gateway = keeper.gateway
        if gateway.api_key is not None or gateway.signing_secret is not None:
            # What `schema.auth.set_from_requests` does: a requests auth sees the final body.
            case._auth = SuiteAuth(gateway)


def _follow_update(context: Any, case: Any, response: Any) -> None:
    """after_call: the suite's account changed its identity fields; sign in with them later."""
    keeper = active()
    if keeper is None or not 200 <= response.status_code < 300:
        return
    update = keeper.plan_update
    if update is None or suite_checks.operation_id(case) != update.operation_id:
        return
    token = token_in(response.request.headers, keeper.plan)
    if token is not None:
        keeper.follow_update(token, case.body)


def _schemathesis_checks(options: SuiteOptions) -> dict[str, Any]:
    checks: dict[str, Any] = {"enabled": options.checks is None}
    for name in options.checks or ():
        checks[name] = {"enabled": True}
    for name in options.exclude_checks:
        checks[name] = {"enabled": False}
    return checks


def _static_auth(prepared: Prepared) -> dict[str, Any]:
    """Static credentials by scheme, for schemathesis's own OpenAPI-aware auth."""
    schemes: dict[str, Any] = {}
    session_scheme = prepared.plan.placement.scheme if prepared.plan.placement else None
    for name, creds in prepared.plan.static.items():
        scheme = prepared.document.security_schemes[name]
        if name == session_scheme and creds.token is None:
            continue
        if scheme.type == "apiKey" and creds.token and name != session_scheme:
            schemes[name] = {"api_key": creds.token}
        elif scheme.type == "http" and (scheme.scheme or "").lower() == "basic" and creds.username:
            schemes[name] = {"username": creds.username, "password": creds.password or ""}
        elif creds.token and name != session_scheme:
            schemes[name] = {"bearer": creds.token}
    return {"openapi": schemes} if schemes else {}


def load_schema(options: SuiteOptions, prepared: Prepared) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "base-url": prepared.base_url,
            "workers": options.workers,
            "request-timeout": options.request_timeout_s,
            "generation": {
                "mode": "all",
                "max-examples": options.max_examples,
                "deterministic": options.deterministic,
            },
            "phases": {name: {"enabled": name in options.phases} for name in PHASES},
            "checks": _schemathesis_checks(options),
            # schemathesis's own masking ("[Filtered]"), off when the user asks for secrets.
            "output": {"sanitization": {"enabled": not options.show_secrets}},
            **(
                {"headers": dict(prepared.keeper.gateway.headers)}
                if prepared.keeper.gateway.headers
                else {}
            ),
            **({"auth": _static_auth(prepared)} if _static_auth(prepared) else {}),
            **({"seed": options.seed} if options.seed is not None else {}),
        }
    )
    schema = schemathesis.openapi.from_dict(prepared.document.raw, config=config)
    if prepared.plan.placement is not None:
        schema.auth(refresh_interval=24 * 3600, retry_on=[401])(_SuiteAuthProvider)
    elif prepared.keeper.gateway.api_key or prepared.keeper.gateway.signing_secret:
        schema.auth(refresh_interval=24 * 3600)(_SuiteAuthProvider)
    schema.hooks.register_hook_with_name(_follow_update, "after_call")
    return schema


# --- reading the event stream --------------------------------------------------------------


def _case_operation(case: Any) -> tuple[str, str]:
    return case.operation.label, suite_checks.operation_id(case) or case.operation.label


def _record(report: SuiteReport, recorder: Any, secrets: set[str]) -> tuple[int, bool]:
    cases, failed = 0, False
    for case_id, node in recorder.cases.items():
        label, op_id = _case_operation(node.value)
        tally = report.operations.setdefault(label, OperationTally(label, op_id))
        tally.cases += 1
        cases += 1
        interaction = recorder.interactions.get(case_id)
        if interaction is not None and interaction.response is not None:
            tally.statuses[interaction.response.status_code] += 1
        for check in recorder.checks.get(case_id, []):
            info = check.failure_info
            if info is None:
                continue
            failed = True
            failure = info.failure
            where = failure.operation or label
            target = report.operations.setdefault(where, OperationTally(where, where))
            finding = Finding(
                where,
                check.name,
                redact(str(failure).strip(), secrets),
                redact(info.code_sample, secrets),
            )
            if not any(
                (f.check, f.message.splitlines()[0])
                == (check.name, finding.message.splitlines()[0])
                for f in target.findings
            ):
                target.findings.append(finding)
    return cases, failed


def run_suite(options: SuiteOptions, on_progress: ProgressCallback | None = None) -> SuiteReport:
    """Run every phase and the lifecycle chain against `options.base_url`.

    Raises `SetupError` (before any case) when the document, the configuration,
    the server or the sign-in is not usable."""
    notify = on_progress or (lambda _: None)
    config = options.config if options.config is not None else demo_config()
    prepared = prepare(
        config,
        options.base_url,
        spec=options.spec,
        credentials=options.credentials,
        gateway=options.gateway,
        security=options.security and config.contract.security.enabled,
    )
    return run_prepared(options, prepared, notify)


def run_prepared(
    options: SuiteOptions, prepared: Prepared, notify: ProgressCallback
) -> SuiteReport:
    report = SuiteReport(seed=options.seed, base_url=prepared.base_url)
    start = time.perf_counter()
    keeper = prepared.keeper
    mask: Callable[[], set[str]] = (lambda: set()) if options.show_secrets else keeper.secrets
    enabled = suite_checks.enabled_checks(options.checks, options.exclude_checks)
    report.skipped_checks = suite_checks.undeclared(prepared.document, enabled)
    with activate(keeper), suite_checks.registered(enabled, prepared.document, prepared.plan):
        try:
            schema = load_schema(options, prepared)
            for operation in schema.get_all_operations():
                op = operation.ok()
                raw = op.definition.raw
                op_id = raw.get("operationId", op.label) if isinstance(raw, dict) else op.label
                report.operations[op.label] = OperationTally(op.label, op_id)
            _consume(
                from_schema(schema).execute(),
                report,
                notify,
                mask,
            )
            if options.lifecycle:
                notify(Progress("phase-started", "lifecycle"))
                report.lifecycle = run_lifecycle(
                    keeper, prepared.document, schema=schema, show_secrets=options.show_secrets
                )
                for step in report.lifecycle:
                    notify(Progress("lifecycle", "lifecycle", step.what, 1, not step.passed))
                notify(Progress("phase-finished", "lifecycle"))
            settings = (options.config or demo_config()).contract.security
            if options.security and settings.enabled:
                report.security = run_security_phase(options, prepared, schema, settings, notify)
            keeper.restore_profile(keeper.plan_update)
        finally:
            report.session = keeper.stats
            keeper.close()
    report.seconds = time.perf_counter() - start
    return report


def run_security_phase(
    options: SuiteOptions, prepared: Prepared, schema: Any, settings: Any, notify: ProgressCallback
) -> list[Step]:
    from contracts.suite.security import run_security

    notify(Progress("phase-started", "security"))
    steps = run_security(
        prepared.keeper,
        prepared.document,
        settings,
        schema=schema,
        show_secrets=options.show_secrets,
        on_step=lambda s: notify(Progress("lifecycle", "security", s.what, 1, not s.passed)),
    )
    notify(Progress("phase-finished", "security"))
    return steps


def _consume(
    stream: Any, report: SuiteReport, notify: ProgressCallback, secrets: Callable[[], set[str]]
) -> None:
    for event in stream:
        if isinstance(event, events.PhaseStarted):
            notify(Progress("phase-started", event.phase.name.value))
        elif isinstance(event, events.PhaseFinished):
            notify(Progress("phase-finished", event.phase.name.value))
        elif isinstance(event, events.ScenarioFinished):
            cases, failed = _record(report, event.recorder, secrets())
            notify(Progress("scenario", event.phase.value, event.recorder.label, cases, failed))
        elif isinstance(event, events.NonFatalError):
            report.errors.append(
                Finding(event.label, "error", redact(event.info.format(), secrets()))
            )
        elif isinstance(event, events.FatalError):
            report.errors.append(Finding("run", "fatal error", repr(event.exception)))
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = event.stop_reason.value
            for failure in event.failures:
                where = failure.operation or "run"
                report.errors.append(Finding(where, "after run", redact(str(failure), secrets())))
