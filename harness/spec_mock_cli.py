"""`harness mock --spec FILE [--config FILE]`: serve (or proxy) any OpenAPI document.

Kept apart from cli.py so the mock command only gains three flags there.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from contracts.config import ConfigError, load_config
from contracts.demo import DEFAULT_SEED
from contracts.document import DocumentError


def add_arguments(mock: argparse.ArgumentParser) -> None:
    mock.add_argument(
        "--spec",
        metavar="FILE",
        help="serve this OpenAPI 3.0/3.1 document (file or URL) instead of the demo API; "
        "with --upstream, name its operations and judge its answers",
    )
    mock.add_argument(
        "--config",
        metavar="FILE",
        help="the harness configuration (harness.yaml): roles, auth, mock settings",
    )
    mock.add_argument(
        "--validate-responses",
        action="store_true",
        help="with --upstream and a document: record answers that break it in the journal",
    )


class SpecSetupError(ValueError):
    """A document or configuration that cannot be served; the message says why."""


def compile_from(args: argparse.Namespace) -> Any:
    """The compiled document the arguments name, or None for the demo API."""
    if args.spec is None and args.config is None:
        return None
    from mocks.spec_chain import compile_spec

    spec = args.spec
    if spec is not None and "://" not in spec:
        spec = str(Path(spec).absolute())  # a flag is relative to here, not to the config
    overrides: dict[str, Any] = {"spec": spec}
    if args.seed != DEFAULT_SEED:
        overrides["mock.seed"] = args.seed
    try:
        config = load_config(args.config, overrides=overrides, default=None)
        if config.spec_location is None:
            raise SpecSetupError("no document: give --spec FILE or `spec:` in the configuration")
        return compile_spec(config.spec_location, config)
    except (ConfigError, DocumentError) as e:
        raise SpecSetupError(str(e)) from None


def scenario_warnings(spec: Any, scenario: Any) -> list[str]:
    """The scenario's rules that can match no operation of the API served."""
    from mocks.rule_checks import rule_problem, spec_operations

    operations = spec_operations(spec)
    found = [
        (rule.id or f"rule {n + 1}", rule_problem(operations, rule))
        for n, rule in enumerate(scenario.faults)
    ]
    return [f"scenario {scenario.name}: {name}: {problem}" for name, problem in found if problem]


def banner_lines(api: Any, base_url: str) -> list[str]:
    doc = api.document
    title = (doc.raw.get("info") or {}).get("title", doc.source)
    lines = [
        f"Mock API      {base_url}{api.base_path} ({title}: {len(api.plans)} operations, "
        f"{len(getattr(api, 'resources', []))} resources)",
        f"Started in    {getattr(api, 'startup_s', 0.0):.2f} s",
    ]
    roles = ", ".join(f"{role}={op}" for role, op in sorted(api.roles_by_name.items()))
    lines.append(f"Roles         {roles or 'none configured (security checked for presence)'}")
    for identity in api.config.auth.identities[:1]:
        shown = {k: v for k, v in identity.items() if "password" not in k and "secret" not in k}
        lines.append(f"Identity      {shown}")
    return lines
