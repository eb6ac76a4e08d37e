"""`harness fault ...` and `harness scenario ...`: program a running mock."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import httpx
import yaml
from pydantic import ValidationError

from harness.control import ControlClient, ControlError
from harness.fault_spec import build_rule
from mocks.fault_rules import ACTION_TYPES, FaultRule
from mocks.scenarios import ScenarioError, builtin_names, load_builtin, load_scenario

DEFAULT_URL = "http://127.0.0.1:8080"


def _add_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("HARNESS_URL", DEFAULT_URL),
        help="base URL of the running mock (env HARNESS_URL; default %(default)s)",
    )


def add_parsers(commands: Any) -> None:
    fault = commands.add_parser("fault", help="add, list or clear fault rules on a running mock")
    verbs = fault.add_subparsers(dest="verb", required=True, metavar="VERB")

    add = verbs.add_parser(
        "add",
        help="install a fault rule",
        description="Install a fault rule. ACTION uses the X-Harness-Fault syntax: "
        "TYPE[;key=value...], e.g. 'status;status=503;retry_after=2', 'delay;ms=250', "
        f"'reset'. Types: {', '.join(ACTION_TYPES)}. Or give a whole rule with --json.",
    )
    add.add_argument("action", nargs="?", help="the action, e.g. 'status;status=503'")
    add.add_argument("--json", dest="rule_json", help="a whole rule as JSON (or YAML)")
    add.add_argument("--id", help="a name for the rule")
    add.add_argument("--path", help="glob over the request path, e.g. '/v1/products/*'")
    add.add_argument("--method", action="append", help="HTTP method (repeatable)")
    add.add_argument("--operation", help="operation id, e.g. createProduct")
    add.add_argument("--times", type=int, help="apply to at most N requests")
    add.add_argument("--after", type=int, help="skip the first N matching requests")
    add.add_argument("--every", type=int, help="apply to every Nth matching request")
    add.add_argument("--probability", type=float, help="apply with this probability")
    add.add_argument("--seed", type=int, help="seed for --probability and random delays")
    add.add_argument("--expires", type=float, help="stop applying after this many seconds")
    _add_url(add)

    listing = verbs.add_parser("list", help="show the installed rules and their hit counts")
    _add_url(listing)
    clear = verbs.add_parser("clear", help="remove one rule, or all of them")
    clear.add_argument("id", nargs="?", help="the rule to remove (all when absent)")
    _add_url(clear)

    scenario = commands.add_parser("scenario", help="load or list scenarios")
    sverbs = scenario.add_subparsers(dest="verb", required=True, metavar="VERB")
    load = sverbs.add_parser("load", help="load a built-in scenario or a YAML file")
    load.add_argument("scenario", help=f"built-in name ({', '.join(builtin_names())}) or a file")
    _add_url(load)
    sverbs.add_parser("list", help="list the built-in scenarios")


def _rule_from(args: argparse.Namespace) -> FaultRule:
    if args.rule_json:
        action: str | dict[str, Any] = yaml.safe_load(args.rule_json)
        if not isinstance(action, dict):
            raise ValueError("--json must be an object")
    elif args.action:
        action = args.action
    else:
        raise ValueError("give an ACTION (e.g. 'status;status=503') or --json")
    return build_rule(
        action,
        path=args.path,
        methods=args.method,
        operation=args.operation,
        rule_id=args.id,
        times=args.times,
        after=args.after,
        every=args.every,
        probability=args.probability,
        seed=args.seed,
        expires_after_s=args.expires,
    )


def _describe(rule: dict[str, Any]) -> str:
    body = rule["rule"]
    action = {k: v for k, v in body["action"].items() if k != "type"}
    parts = [body["action"]["type"] + (f" {json.dumps(action)}" if action else "")]
    if body.get("delay"):
        parts.append(f"delay {json.dumps(body['delay'])}")
    match = body.get("match", {})
    parts.append(f"on {','.join(match.get('methods') or ['*'])} {match.get('path', '*')}")
    if body.get("select"):
        parts.append(f"select {json.dumps(body['select'])}")
    return "  ".join(parts)


def run_fault(args: argparse.Namespace) -> int:
    try:
        with ControlClient(args.url) as control:
            if args.verb == "add":
                rule = _rule_from(args)
                rule_id = control.add_fault(rule.model_dump(mode="json", exclude_none=True))
                print(f"added fault rule {rule_id}")
            elif args.verb == "list":
                rules = control.faults()
                if not rules:
                    print("no fault rules")
                for r in rules:
                    print(f"{r['id']:<16} hits {r['hits']:>6} of {r['matches']:>6}  {_describe(r)}")
            else:
                control.clear_faults(args.id)
                print(f"removed {args.id}" if args.id else "removed all fault rules")
    except (ValueError, ValidationError) as e:
        print(f"harness fault: {e}", file=sys.stderr)
        return 2
    except (ControlError, httpx.HTTPError) as e:
        print(f"harness fault: {args.url}: {e}", file=sys.stderr)
        return 1
    return 0


def run_scenario(args: argparse.Namespace) -> int:
    if args.verb == "list":
        for name in builtin_names():
            print(f"{name:<14} {load_builtin(name).description}")
        return 0
    try:
        scenario = load_scenario(args.scenario)
        with ControlClient(args.url) as control:
            result = control.load_scenario(inline=scenario.model_dump(mode="json"))
    except ScenarioError as e:
        print(f"harness scenario: {e}", file=sys.stderr)
        return 2
    except (ControlError, httpx.HTTPError) as e:
        print(f"harness scenario: {args.url}: {e}", file=sys.stderr)
        return 1
    print(f"loaded scenario {scenario.name}: {len(result['faults'])} fault rules")
    return 0
