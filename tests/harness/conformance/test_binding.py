"""Rules bound to roles: the demo through its own configuration (v1, unchanged ops),
any other API through its document (v2 calls), and the errors that stop a run
before any rule: a v1 adapter in a v2 run, a role naming a missing operationId."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from contracts.config import load_config
from harness.cli import main
from harness.conformance.binding import (
    PROTOCOL_V2,
    ApiBinding,
    bound,
    current,
    demo_binding,
    spec_binding,
)
from harness.conformance.runner import not_applicable
from harness.conformance.scenarios import SCENARIOS
from harness.conformance.scenarios.base import LOGIN_OP, Op
from mocks.spec_chain import compile_spec

LIBRARY = Path(__file__).resolve().parents[3] / "examples" / "library"
REFERENCE = f"{sys.executable} -m harness.conformance.reference_adapter"


@pytest.fixture(scope="module")
def library() -> ApiBinding:
    config = load_config(LIBRARY / "harness.yaml", env={})
    return spec_binding(compile_spec(str(config.spec_location), config), config)


def test_the_demo_speaks_v1_with_the_roles_of_its_configuration() -> None:
    demo = demo_binding()
    assert current() is demo  # outside a run
    assert demo.roles == load_config(Path("contracts/harness.yaml"), env={}).roles
    assert Op("current_user").request() == ("get_profile", {})
    assert Op("read", {"id": "prd_1"}).request() == ("get_product", {"id": "prd_1"})
    assert Op("current_user").operation == "getProfile"
    assert Op("refresh").fault({"type": "status", "status": 503})["match"] == {
        "operation": "refresh"
    }
    assert demo.environment()["HARNESS_PROTOCOL"] == "1"


def test_another_api_gets_v2_calls_built_from_its_document(library: ApiBinding) -> None:
    assert library.protocol == PROTOCOL_V2
    with bound(library):
        assert Op("current_user").request() == (
            "call",
            {"operation": "GetCurrentUser", "path": {}, "query": {}},
        )
        assert Op("read", {"id": "a-slug"}).request()[1] == {
            "operation": "GetBook",
            "path": {"slug": "a-slug"},
            "query": {},
        }
        _, listing = Op("list", {"page_size": 500}).request()
        assert listing["query"] == {"limit": 100}  # the document's maximum
        _, create = Op("create", {"product": {"ignored": True}}).request()
        book = create["body"]["book"]
        assert {"isbn", "title", "authors", "copies"} <= set(book)  # a valid NewBookRequest
        assert LOGIN_OP.request() == (
            "login",
            {"email": "reader@example.org", "password": "reader-password", "username": "reader"},
        )
        assert library.item_path("a-slug") == "/api/books/a-slug"
        assert library.item_ids({"books": [{"slug": "x"}, {"slug": "y"}]}) == ["x", "y"]
        assert library.bearer("jwt") == "Token jwt"


def test_a_rule_whose_roles_the_api_lacks_names_them(library: ApiBinding) -> None:
    why = not_applicable(SCENARIOS["R1"], library)
    assert why is not None
    assert why.startswith("Not applicable: the API has no refresh role")
    assert not_applicable(SCENARIOS["R6"], library) is None
    none = ApiBinding(roles={}, protocol=PROTOCOL_V2, demo=False)
    assert "no login, create roles" in (not_applicable(SCENARIOS["R6"], none) or "")
    assert not_applicable(SCENARIOS["R13"], demo_binding()) is None


def test_a_v1_adapter_in_a_v2_run_stops_it_before_any_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["verify", "--config", str(LIBRARY / "harness.yaml"), "--adapter", REFERENCE]
    assert main(argv) == 2
    out = capsys.readouterr().out
    assert "no rule was run" in out
    assert "needs an adapter of protocol v2" in out
    assert "unknown op 'hello'" in out
    assert "PASS" not in out
    assert "FAIL" not in out


def test_a_role_naming_a_missing_operation_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "harness.yaml"
    spec = (LIBRARY / "openapi.yaml").as_posix()
    config.write_text(f"spec: {spec}\nroles:\n  login: Login\n  read: GetArticle\n")
    assert main(["verify", "--config", str(config), "--adapter", REFERENCE]) == 2
    out = capsys.readouterr().out
    assert "read -> GetArticle" in out
    assert "GetBook" in out  # the operationIds it has


def test_the_reference_client_is_the_demos(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--spec", str(LIBRARY / "openapi.yaml")]) == 2
    assert "with --adapter" in capsys.readouterr().out


def test_the_demos_own_configuration_judges_the_demo_through_v1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "c.json"
    argv = ["verify", "--config", "contracts/harness.yaml", "--scenario", "R15"]
    assert main([*argv, "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "the demo API (adapter protocol v1)" in out
    assert "PASS  R15" in out
    assert "--config contracts/harness.yaml" in report.read_text(encoding="utf-8")


def test_r10_is_not_applicable_when_the_list_cannot_return_its_items_at_once(
    library: ApiBinding, tmp_path: Path
) -> None:
    assert library.page_size_limit() == ("limit", 100)
    assert not_applicable(SCENARIOS["R10"], library) is None  # 100 >= 72
    # The same document with a page of at most 50: R10 needs 72 items in one listing.
    text = (LIBRARY / "openapi.yaml").read_text(encoding="utf-8")
    anchor = "minimum: 1\n        maximum: 100\n        default: 20"
    assert anchor in text
    small = tmp_path / "openapi.yaml"
    small.write_text(text.replace(anchor, anchor.replace("100", "50")), encoding="utf-8")
    config = load_config(LIBRARY / "harness.yaml", env={}, overrides={"spec": str(small)})
    narrow = spec_binding(compile_spec(str(small), config), config)
    why = not_applicable(SCENARIOS["R10"], narrow)
    assert why == (
        "Not applicable: this rule lists 72 items in one call, and ListBooks's `limit` "
        "allows at most 50 (its maximum)."
    )
    assert not_applicable(SCENARIOS["R18"], narrow) is None  # R18 lists only a few
    assert not_applicable(SCENARIOS["R10"], demo_binding()) is None
