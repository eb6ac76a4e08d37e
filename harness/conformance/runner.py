"""Running scenarios against one client: a fresh mock state and a fresh adapter
(one session) per scenario, so no scenario sees another's tokens or throttle."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

from harness.conformance.adapter import Adapter, AdapterEnv, AdapterError
from harness.conformance.scenarios import (
    API_KEY,
    SCENARIOS,
    SIGNING_SECRET,
    Context,
    Scenario,
)
from harness.conformance.scenarios.base import NoSession
from harness.conformance.verdicts import Evidence, Outcome, Verdict
from harness.control import ControlClient


def unknown_scenarios(ids: Iterable[str]) -> list[str]:
    return [i for i in ids if i not in SCENARIOS]


def run_scenarios(
    base_url: str,
    command: str | Sequence[str],
    ids: Sequence[str],
    *,
    log_dir: Path,
    on_verdict: Callable[[Verdict, float], None] | None = None,
) -> list[Verdict]:
    verdicts = []
    with ControlClient(base_url) as control:
        for rule_id in ids:
            scenario = SCENARIOS[rule_id]
            control.reset()
            env = scenario_env(scenario, control, base_url, log_dir / f"{rule_id}.client.log")
            started = time.perf_counter()
            try:
                with Adapter.start(command, env) as adapter:
                    verdict = scenario.run(Context(control, adapter, env.log_file))
            except NoSession as e:
                verdict = Verdict(
                    scenario.rule,
                    Outcome.FAIL,
                    f"could not be judged: {e}",
                    Evidence.of_entries(e.entries),
                )
            except (AdapterError, RuntimeError) as e:
                verdict = Verdict(scenario.rule, Outcome.FAIL, f"could not be judged: {e}")
            except Exception as e:  # a bug of ours must not hide the other verdicts
                verdict = Verdict(
                    scenario.rule,
                    Outcome.FAIL,
                    f"could not be judged: the scenario itself failed ({type(e).__name__}: "
                    f"{e}); please report this as a harness bug",
                )
            verdicts.append(verdict)
            if on_verdict is not None:
                on_verdict(verdict, time.perf_counter() - started)
    return verdicts


def scenario_env(
    scenario: Scenario, control: ControlClient, base_url: str, log_file: Path
) -> AdapterEnv:
    """Configure the mock for `scenario` and say how to start the adapter for it."""
    env = AdapterEnv(base_url=base_url, log_file=log_file)
    if scenario.timeout_s is not None:
        env = replace(env, timeout_s=scenario.timeout_s)
    if scenario.signing:
        control.configure(signing=True, signing_secret=SIGNING_SECRET, api_key=API_KEY)
        env = replace(env, signing_secret=SIGNING_SECRET, api_key=API_KEY)
    return env


def write_junit(verdicts: Sequence[Verdict], path: Path, suite: str = "conformance") -> None:
    failures = sum(v.outcome is Outcome.FAIL for v in verdicts)
    skipped = sum(v.outcome is Outcome.NOT_APPLICABLE for v in verdicts)
    root = ElementTree.Element(
        "testsuite",
        name=suite,
        tests=str(len(verdicts)),
        failures=str(failures),
        skipped=str(skipped),
    )
    for verdict in verdicts:
        case = ElementTree.SubElement(
            root, "testcase", classname=suite, name=f"{verdict.rule.id} {verdict.rule.title}"
        )
        if verdict.outcome is Outcome.FAIL:
            failure = ElementTree.SubElement(case, "failure", message=verdict.summary)
            failure.text = "\n".join(
                (f"Authority: {verdict.rule.authority}", *verdict.evidence.lines)
            )
        elif verdict.outcome is Outcome.NOT_APPLICABLE:
            ElementTree.SubElement(case, "skipped", message=verdict.summary)
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
