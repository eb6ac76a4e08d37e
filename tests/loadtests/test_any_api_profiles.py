"""The load profiles for any API: fault rules by role and operationId, with fallbacks."""

from __future__ import annotations

from loadtests.profiles import any_api_scenario, get_profile


def _matches(name: str, roles: frozenset[str], named: bool = True) -> list[dict[str, object]]:
    scenario = any_api_scenario(get_profile(name), roles, named_operations=named)
    return [rule["match"] for rule in scenario["faults"]]


def test_rules_name_roles_and_operations_never_the_demo_paths() -> None:
    matches = _matches("fault-mix", frozenset({"create", "read", "list"}))
    assert {"role": "create"} in matches
    assert {"role": ["read", "list"]} in matches
    assert {"operation": "*"} in matches
    assert not any("path" in m for m in matches)


def test_a_role_the_api_lacks_falls_back_to_its_methods() -> None:
    assert _matches("duplicate-probe", frozenset()) == [{"methods": ["POST"]}]
    assert {"methods": ["GET"]} in _matches("fault-mix", frozenset({"create"}))


def test_behind_the_proxy_without_a_document_any_operation_is_any_path() -> None:
    assert {"path": "/*"} in _matches("fault-mix", frozenset(), named=False)


def test_profiles_without_faults_stay_without_faults() -> None:
    assert _matches("steady", frozenset({"create"})) == []


def test_every_rule_is_one_the_mock_accepts() -> None:
    from mocks.fault_rules import FaultRule

    for name in ("fault-mix", "duplicate-probe"):
        for roles in (frozenset(), frozenset({"create", "read", "list"})):
            for named in (True, False):
                scenario = any_api_scenario(get_profile(name), roles, named_operations=named)
                for rule in scenario["faults"]:
                    FaultRule.model_validate(rule)
