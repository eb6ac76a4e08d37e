"""Scenarios: a YAML file bundling mock config and fault rules.

    name: flaky
    description: A few per cent of 503s with Retry-After.
    config: {access_ttl_s: 300}
    faults:
      - match: {path: "/v1/*"}
        action: {type: status, status: 503, retry_after: 1}
        select: {probability: 0.03, seed: 1}

Built-ins live in `mocks/scenarios/`. A bad file is rejected with the line
and the reason, and nothing of it is applied.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contracts.yaml_source import dotted as _dotted
from contracts.yaml_source import line_of as _line_of
from mocks.fault_rules import FaultRule
from mocks.settings import MockSettings


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message says where and why."""


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="MockSettings fields applied on top of the startup config.",
    )
    faults: list[FaultRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Scenario:
        ids = [rule.id for rule in self.faults if rule.id is not None]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"fault rule ids must be unique: {', '.join(duplicates)}")
        return self

    def settings(self, base: MockSettings) -> MockSettings:
        return base.merged(self.config)


def builtin_names() -> list[str]:
    folder = resources.files("mocks") / "scenarios"
    names = (p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
    return sorted(names)


def load_builtin(name: str) -> Scenario:
    if name not in builtin_names():
        raise ScenarioError(
            f"no built-in scenario {name!r}; built-ins: {', '.join(builtin_names())}"
        )
    text = (resources.files("mocks") / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8")
    return parse_scenario(text, source=f"built-in {name}")


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in by name, or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ScenarioError(f"{name_or_path}: {e.strerror}") from e
        return parse_scenario(text, source=str(path))
    return load_builtin(name_or_path)


def scenario_from_data(data: Any, source: str = "inline scenario") -> Scenario:
    """Validate already-parsed data (e.g. JSON sent to the control API)."""
    return _validate(data, lambda loc: f"{source}: {_dotted(loc)}")


def parse_scenario(text: str, source: str = "scenario") -> Scenario:
    """Parse YAML text; errors name the line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ScenarioError(f"{source}: {line}invalid YAML: {problem}") from None
    return _validate(data, lambda loc: f"{source}: line {_line_of(root, loc)}: {_dotted(loc)}")


def _validate(data: Any, where: Any) -> Scenario:
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        raise ScenarioError(f"{where(tuple(first['loc']))}: {first['msg']}") from None
    try:
        scenario.settings(MockSettings())
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        loc = ("config", *first["loc"])
        raise ScenarioError(f"{where(loc)}: {first['msg']}") from None
    return scenario
