"""Running scenarios against one client: a fresh mock state and a fresh adapter
(one session) per scenario, so no scenario sees another's tokens or throttle.

Every rule ends with its adapter ended, and everything the adapter started.
The run as a whole is bounded by `max_time_s`: a rule still running when it
passes is cut short, and the rules after it are not run; both are "could not
be judged" with that reason. An adapter that stays silent at its first request
in `SILENT_STREAK` rules in a row is not started again for the others.

The API is a binding (binding.py): the demo's by default. A rule that needs a role
the API lacks, or that only the demo can provoke, is not applicable, and its adapter
is never started. A v2 run first asks the adapter which protocol it speaks
(`hello`): an adapter that does not answer 2 stops the run before any rule.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from harness.conformance.adapter import (
    FIRST_REPLY_S,
    Adapter,
    AdapterEnv,
    AdapterError,
    RunTimeUp,
    Silent,
    Watch,
)
from harness.conformance.binding import (
    PROTOCOL_V2,
    ApiBinding,
    MissingRole,
    bound,
    current,
    demo_binding,
)
from harness.conformance.scenarios import (
    API_KEY,
    SCENARIOS,
    SIGNING_SECRET,
    Context,
    Scenario,
)
from harness.conformance.scenarios.base import NoSession, sibling
from harness.conformance.verdicts import Evidence, Outcome, Verdict
from harness.control import ControlClient

DEFAULT_MAX_TIME_S = 900.0
SILENT_STREAK = 3
UNJUDGED = "could not be judged"


def unknown_scenarios(ids: Iterable[str]) -> list[str]:
    return [i for i in ids if i not in SCENARIOS]


class JournalProbe:
    """How far the mock's journal has got: a sign that the client reaches the server.
    Its own connection, safe to call from any thread."""

    def __init__(self, control: ControlClient) -> None:
        self._control = sibling(control)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            last: int = self._control.health()["journal"]["last_seq"]
        return last

    def close(self) -> None:
        self._control.close()


class ProtocolMismatch(AdapterError):
    """The adapter does not speak the protocol the run needs; no rule was run."""


def run_scenarios(
    base_url: str,
    command: str | Sequence[str],
    ids: Sequence[str],
    *,
    log_dir: Path,
    on_verdict: Callable[[Verdict, float], None] | None = None,
    max_time_s: float = DEFAULT_MAX_TIME_S,
    api: ApiBinding | None = None,
    api_url: str | None = None,
) -> list[Verdict]:
    """Judge the client on `ids`. `base_url`: the mock's origin (its control API);
    `api_url`: where the adapter sends the API's requests (default: `base_url`)."""
    binding = api or demo_binding()
    with bound(binding):
        return _run_all(
            base_url, api_url or base_url, command, ids, log_dir, on_verdict, max_time_s, binding
        )


def _run_all(
    base_url: str,
    api_url: str,
    command: str | Sequence[str],
    ids: Sequence[str],
    log_dir: Path,
    on_verdict: Callable[[Verdict, float], None] | None,
    max_time_s: float,
    binding: ApiBinding,
) -> list[Verdict]:
    verdicts: list[Verdict] = []
    deadline = time.monotonic() + max_time_s
    silent: list[str] = []  # the latest rules in a row whose adapter never answered
    with ControlClient(base_url) as control, contextlib.closing(JournalProbe(control)) as probe:
        watch = Watch(deadline=deadline, activity=probe)
        if binding.protocol == PROTOCOL_V2:
            check_protocol(command, _env(binding, api_url, log_dir / "hello.client.log"), watch)
        for rule_id in ids:
            scenario = SCENARIOS[rule_id]
            started = time.perf_counter()
            why_not = not_applicable(scenario, binding)
            if why_not is not None:
                verdict = Verdict(scenario.rule, Outcome.NOT_APPLICABLE, why_not)
            elif time.monotonic() >= deadline:
                verdict = _unjudged(
                    scenario,
                    f"not run: the run's time bound ({max_time_s:g} s, --max-time) was reached",
                )
            elif len(silent) >= SILENT_STREAK:
                verdict = _unjudged(
                    scenario,
                    f"not run: the adapter never answered its first request in {', '.join(silent)}",
                )
            else:
                verdict, was_silent = run_one(scenario, control, api_url, command, log_dir, watch)
                silent = [*silent, rule_id] if was_silent else []
            verdicts.append(verdict)
            if on_verdict is not None:
                on_verdict(verdict, time.perf_counter() - started)
    return verdicts


def run_one(
    scenario: Scenario,
    control: ControlClient,
    base_url: str,
    command: str | Sequence[str],
    log_dir: Path,
    watch: Watch,
) -> tuple[Verdict, bool]:
    """One rule against a fresh adapter, which is ended (with its children) after;
    and whether the adapter stayed silent at its first request."""
    control.reset()
    env = scenario_env(scenario, control, base_url, log_dir / f"{scenario.rule.id}.client.log")
    try:
        with Adapter.start(command, env, watch) as adapter:
            return scenario.run(Context(control, adapter, env.log_file)), False
    except NoSession as e:
        return _unjudged(scenario, str(e), Evidence.of_entries(e.entries)), False
    except MissingRole as e:
        why = f"Not applicable: {e} (the rule needs it; map it in the configuration's roles:)."
        return Verdict(scenario.rule, Outcome.NOT_APPLICABLE, why), False
    except RunTimeUp as e:
        return _unjudged(scenario, f"cut short: {e}"), False
    except Silent as e:
        return _unjudged(scenario, str(e)), True
    except (AdapterError, RuntimeError) as e:
        return _unjudged(scenario, str(e)), False
    except Exception as e:  # a bug of ours must not hide the other verdicts
        why = f"the scenario itself failed ({type(e).__name__}: {e}); please report this"
        return _unjudged(scenario, why + " as a harness bug"), False


def _unjudged(scenario: Scenario, why: str, evidence: Evidence | None = None) -> Verdict:
    return Verdict(scenario.rule, Outcome.UNJUDGED, f"{UNJUDGED}: {why}", evidence or Evidence())


def not_applicable(scenario: Scenario, binding: ApiBinding) -> str | None:
    """Why the rule cannot be judged on this API, or None when it can."""
    missing = binding.missing(scenario.roles)
    if missing:
        names = ", ".join(missing)
        return (
            f"Not applicable: the API has no {names} role{'s' if len(missing) > 1 else ''} "
            f"(this rule provokes {', '.join(scenario.roles)}; the configuration's roles: "
            "maps each to an operationId)."
        )
    if scenario.demo_only and not binding.demo:
        return f"Not applicable to {binding.title}: {scenario.demo_only}."
    limit = binding.page_size_limit() if scenario.lists_at_once else None
    if limit is not None and limit[1] < scenario.lists_at_once:
        name, top = limit
        return (
            f"Not applicable: this rule lists {scenario.lists_at_once} items in one call, and "
            f"{binding.operation('list')}'s `{name}` allows at most {top} (its maximum)."
        )
    return None


def _env(binding: ApiBinding, api_url: str, log_file: Path) -> AdapterEnv:
    return AdapterEnv(base_url=api_url, log_file=log_file, api=tuple(binding.environment().items()))


def check_protocol(command: str | Sequence[str], env: AdapterEnv, watch: Watch) -> None:
    """Ask a fresh adapter which protocol it speaks; ProtocolMismatch unless it is v2."""
    with Adapter.start(command, env, watch) as adapter:
        try:
            reply = adapter.call("hello", timeout=FIRST_REPLY_S)
        except AdapterError as e:
            raise ProtocolMismatch(f"the adapter did not answer `hello`: {e}") from None
    spoken = reply.result.get("protocol") if isinstance(reply.result, dict) else None
    if reply.ok and spoken == PROTOCOL_V2:
        return
    said = (
        f"answered {reply.error_kind}: {reply.error.get('message')}"
        if not reply.ok
        else f"answered protocol {spoken!r}"
    )
    raise ProtocolMismatch(
        f"this run needs an adapter of protocol v2 (HARNESS_PROTOCOL=2: the generic `call` "
        f"op, by operationId), but asked `hello` the adapter {said}. A v1 adapter speaks "
        "only the demo API's ops (get_profile, create_product, ...); see "
        "docs/adapter-protocol.md, 'Protocol v2'."
    )


def scenario_env(
    scenario: Scenario, control: ControlClient, base_url: str, log_file: Path
) -> AdapterEnv:
    """Configure the mock for `scenario` and say how to start the adapter for it."""
    binding = current()
    env = replace(_env(binding, base_url, log_file), **scenario.adapter_env)
    if scenario.signing and binding.demo:  # only the demo's mock verifies signatures
        control.configure(signing=True, signing_secret=SIGNING_SECRET, api_key=API_KEY)
        env = replace(env, signing_secret=SIGNING_SECRET, api_key=API_KEY)
    return env
