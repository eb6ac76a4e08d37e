"""The security checks (contracts/suite/security.py, token_checks.py): each fails on a
server with the defect it targets and passes on a correct one.

Servers: the lending library (examples/library, FastAPI, with its single-defect
mutants) and the demo mock (its breakage profile's security flaws)."""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from contracts.config import HarnessConfig, Security, load_config
from contracts.demo import DEMO_EMAIL, DEMO_PASSWORD
from contracts.suite.forged_tokens import forged_variants, parse_jwt
from contracts.suite.lifecycle import Step
from contracts.suite.security import run_security
from contracts.suite.session import Credentials
from contracts.suite.setup import SetupError, demo_config, prepare
from examples.library.testing import running_library_server
from harness import contract_cli
from mocks.server import MockServer
from mocks.settings import MockSettings

LIBRARY_CONFIG = Path(__file__).parents[2] / "examples" / "library" / "harness.yaml"
TOKEN_TTL_S = 2  # the library's tokens in these tests: short enough to wait for
WAIT = Security(expiry_wait_s=TOKEN_TTL_S + 2)


def _library_config(**auth: object) -> HarnessConfig:
    config = load_config(LIBRARY_CONFIG, env={})
    changed = config.updated(auth) if auth else config
    return changed.model_copy(update={"source": config.source})


def _library_steps(defects: set[str], settings: Security = WAIT) -> list[Step]:
    config = _library_config()
    with running_library_server(defects=defects, token_ttl_s=TOKEN_TTL_S) as url:
        prepared = prepare(config, url.removesuffix("/api"), security=True)
        try:
            return run_security(prepared.keeper, prepared.document, settings)
        finally:
            prepared.keeper.close()


def _failed(steps: list[Step]) -> list[Step]:
    return [s for s in steps if not s.passed]


def _ownership(step: Step) -> bool:
    return " tries to " in step.what


def _anonymous(step: Step) -> bool:
    return step.what.startswith("without credentials")


def _forged(step: Step) -> bool:
    return step.what.startswith("forged token")


def _stale(what: str) -> Callable[[Step], bool]:
    return lambda step: step.what == f"stale token: {what}"


# Each of the library's security defects, and the checks that must fail on it (only those).
LIBRARY_DEFECTS: dict[str, tuple[Callable[[Step], bool], set[str]]] = {
    "no-ownership": (_ownership, {"UpdateBook"}),
    "loan-leak": (_ownership, {"GetLoan"}),
    "default-user": (_anonymous, {"GetCurrentUser", "ListLoans", "GetLoan", "UpdateBook"}),
    "forged-token": (_forged, {"GetCurrentUser"}),
    "expired-token": (_stale("expired"), {"GetCurrentUser"}),
    "deleted-account-token": (_stale("after the account is deleted"), {"GetCurrentUser"}),
}


def test_the_correct_library_server_passes_every_security_check() -> None:
    steps = _library_steps(set())
    assert not _failed(steps), [(s.operation, s.what, s.detail) for s in _failed(steps)]
    probed = {
        (s.operation, s.what.split(" tries to ")[1].split()[0])
        for s in steps
        if _ownership(s) and not s.skipped
    }
    # Another member's book, review and loan: what was probed, by operation.
    assert {("UpdateBook", "change"), ("GetLoan", "read"), ("ReturnLoan", "change")} <= probed
    assert ("DeleteReview", "delete") in probed
    judged = {s.what for s in steps if not s.skipped}
    assert "stale token: expired" in judged  # the short-lived token was waited for
    assert "stale token: after the account is deleted" in judged
    assert sum(_forged(s) for s in steps if not s.skipped) == 5
    public = [s for s in steps if s.operation == "GetBook" and _ownership(s)]
    assert public
    assert public[0].skipped
    assert "public" in public[0].detail


@pytest.mark.parametrize("defect", sorted(LIBRARY_DEFECTS))
def test_each_library_security_defect_fails_its_check(defect: str) -> None:
    belongs, operations = LIBRARY_DEFECTS[defect]
    failed = _failed(_library_steps({defect}))
    assert failed, f"{defect} went unnoticed"
    assert all(belongs(s) for s in failed), [(s.operation, s.what) for s in failed]
    assert operations <= {s.operation for s in failed}, [(s.operation, s.what) for s in failed]
    for step in failed:
        assert "curl -X" in step.reproduce, step
        assert step.reproduce.startswith("# "), step
        assert "Token ***" in step.reproduce or "Authorization" not in step.reproduce, step


SCHEME_TYPES = {
    "oauth2": "type: oauth2\n      flows:\n        password:\n          tokenUrl: /users/login\n"
    "          scopes: {}\n",
    "openIdConnect": "type: openIdConnect\n      openIdConnectUrl: https://id.example.org/.well-known/openid-configuration\n",
}


@pytest.mark.parametrize("scheme_type", sorted(SCHEME_TYPES))
def test_unauthenticated_access_is_checked_for_oauth2_and_openid_connect_schemes(
    tmp_path: Path, scheme_type: str
) -> None:
    # The library's document, its Token scheme declared as another type (same header).
    text = (LIBRARY_CONFIG.parent / "openapi.yaml").read_text()
    declared = "type: apiKey\n      in: header\n      name: Authorization\n"
    assert declared in text
    (tmp_path / "openapi.yaml").write_text(text.replace(declared, SCHEME_TYPES[scheme_type]))
    config = _library_config().model_copy(update={"source": str(tmp_path / "harness.yaml")})
    for defects, should_fail in ((set(), False), ({"default-user"}, True)):
        with running_library_server(defects=defects) as url:
            prepared = prepare(config, url.removesuffix("/api"), security=True)
            steps = run_security(prepared.keeper, prepared.document, Security())
        anonymous = [s for s in steps if _anonymous(s) and not s.skipped]
        assert anonymous, steps
        assert all(f"Token ({scheme_type})" in s.what for s in anonymous)
        failed = {s.operation for s in anonymous if not s.passed}
        assert bool(failed) == should_fail, (defects, failed)
        assert not should_fail or "GetCurrentUser" in failed


def test_an_ownership_finding_names_both_identities_and_masks_tokens() -> None:
    failed = _failed(_library_steps({"no-ownership"}))
    step = next(s for s in failed if s.operation == "UpdateBook")
    assert "identity 2 (critic@example.org)" in step.detail
    assert "identity 1 (reader@example.org)" in step.detail
    assert step.reproduce.startswith("# as identity 2 (critic@example.org)\ncurl -X PUT")
    assert parse_jwt(step.reproduce.split("Token ")[1].split("'")[0]) is None  # masked


def test_without_a_wait_the_expiry_check_is_skipped_with_its_reason() -> None:
    steps = _library_steps({"expired-token"}, Security())
    expired = next(s for s in steps if s.what == "stale token: expired")
    assert expired.skipped
    assert "expiry_wait_s" in expired.detail


def test_an_operation_reserved_for_a_privileged_identity_must_refuse_the_others() -> None:
    # As if only librarians (a privileged account) might add books: members are refused.
    settings = Security(privileged_operations=("CreateBook",))
    failed = _failed(_library_steps(set(), settings))
    assert {(s.operation, s.what) for s in failed} == {
        (
            "CreateBook",
            f"identity {n} ({who}@example.org) calls an operation reserved for the "
            "privileged identity",
        )
        for n, who in ((1, "reader"), (2, "critic"))
    }
    assert all(s.reproduce.startswith("# as identity") for s in failed)


# --- bad input: the second identity --------------------------------------------------------


def _identities(*pairs: tuple[str, str]) -> dict[str, object]:
    return {
        "auth.identities": [
            {"email": e, "password": p, "username": e.split("@")[0]} for e, p in pairs
        ]
    }


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (("critic@example.org", "wrong-password"), "auth.identities.1 cannot sign in"),
        (("reader@example.org", "reader-password"), "signs in as the same user"),
    ],
)
def test_a_second_identity_that_cannot_be_used_is_a_setup_error(
    second: tuple[str, str], message: str
) -> None:
    config = _library_config(**_identities(("reader@example.org", "reader-password"), second))
    with running_library_server() as url, pytest.raises(SetupError, match=message):
        prepare(config, url.removesuffix("/api"), security=True)


def test_the_cli_exits_2_before_any_case_on_a_bad_second_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = LIBRARY_CONFIG.read_text().replace("critic-password", "not-the-password")
    config = tmp_path / "harness.yaml"
    config.write_text(
        text.replace("spec: openapi.yaml", f"spec: {LIBRARY_CONFIG.parent}/openapi.yaml")
    )
    with running_library_server() as url:
        code = contract_cli.run(
            _args("--config", str(config), "--base-url", url.removesuffix("/api"))
        )
    err = capsys.readouterr().err
    assert code == 2
    assert "auth.identities.1 cannot sign in" in err
    assert "not-the-password" not in err


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="harness")
    contract_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["contract", *argv])


def test_the_cli_reports_security_findings_and_no_security_turns_them_off(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    quick = ("--max-examples", "2", "--phases", "examples", "--seed", "1", "--no-lifecycle")
    junit = tmp_path / "contract.xml"
    with running_library_server(defects={"loan-leak"}) as url:
        base = ("--config", str(LIBRARY_CONFIG), "--base-url", url.removesuffix("/api"), *quick)
        assert contract_cli.run(_args(*base, "--junit", str(junit))) == 1
        out = capsys.readouterr().out
        security = [
            c for c in ET.parse(junit).iter("testcase") if ".security" in c.get("classname", "")
        ]
        failed = [c.get("name", "") for c in security if c.find("failure") is not None]
        assert len(failed) == 1, failed
        assert failed[0].endswith("(GetLoan)"), failed
        assert any(c.find("skipped") is not None for c in security)
        assert "-- security" in out
        assert "FAIL GetLoan [security: loans: identity 2 (critic@example.org) tries to read" in out
        assert "Reproduce with: # as identity 2 (critic@example.org)\n    curl -X GET" in out
        assert contract_cli.run(_args(*base, "--no-security")) == 0
        assert "-- security" not in capsys.readouterr().out


def test_the_mock_of_a_document_is_not_judged_by_the_security_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without --base-url the suite tests the mock of the document, which keeps no owners.
    lines = LIBRARY_CONFIG.read_text().splitlines()
    text = "\n".join(line for line in lines if not line.startswith("base_url"))
    config = tmp_path / "harness.yaml"
    config.write_text(
        text.replace("spec: openapi.yaml", f"spec: {LIBRARY_CONFIG.parent}/openapi.yaml")
    )
    contract_cli.run(_args("--config", str(config), "--max-examples", "1", "--phases", "examples"))
    out = capsys.readouterr().out
    assert "Security checks skipped: they need your server (--base-url)" in out
    assert "-- security" not in out


# --- the demo mock and its breakage profile --------------------------------------------------


def _demo_steps(breakage: str | None) -> list[Step]:
    settings = MockSettings(breakage=breakage) if breakage else MockSettings()
    config = demo_config()
    with MockServer(settings=settings) as mock:
        prepared = prepare(
            config, mock.base_url, credentials=Credentials(DEMO_EMAIL, DEMO_PASSWORD), security=True
        )
        try:
            return run_security(prepared.keeper, prepared.document, config.contract.security)
        finally:
            prepared.keeper.close()


@pytest.fixture(scope="module")
def demo_steps() -> list[Step]:
    return _demo_steps(None)


def test_the_demo_mock_passes_every_security_check(demo_steps: list[Step]) -> None:
    assert not _failed(demo_steps), [(s.operation, s.what, s.detail) for s in _failed(demo_steps)]
    judged = {s.what for s in demo_steps if not s.skipped}
    assert {"stale token: expired", "stale token: after logout"} <= judged  # the mock's clock
    assert sum(_forged(s) for s in demo_steps if not s.skipped) == 5
    # Products belong to their creator: another account's change and delete were refused.
    owned = {s.operation: s.detail for s in demo_steps if _ownership(s) and not s.skipped}
    assert owned == {
        "updateProduct": "refused with 403",
        "deleteProduct": "refused with 403",
    }, owned
    read = next(s for s in demo_steps if s.operation == "getProduct" and _ownership(s))
    assert read.skipped, read
    assert "shared" in read.detail, read  # the demo's catalogue is public


DEMO_FLAWS: dict[str, Callable[[Step], bool]] = {
    "no_ownership": _ownership,
    "unsigned_tokens": _forged,
    "anonymous_access": _anonymous,
}


@pytest.mark.parametrize("flaw", sorted(DEMO_FLAWS))
def test_each_demo_security_flaw_fails_its_check(flaw: str) -> None:
    failed = _failed(_demo_steps(flaw))
    assert any(DEMO_FLAWS[flaw](s) for s in failed), [(s.operation, s.what) for s in failed]
    others = [s for s in failed if not DEMO_FLAWS[flaw](s) and not _ownership(s)]
    assert not others, [(s.operation, s.what) for s in others]


# --- forged tokens, as data --------------------------------------------------------------------


def test_forged_variants_of_a_jwt_differ_and_keep_their_shape() -> None:
    import jwt

    token = jwt.encode({"sub": "7", "exp": 4_000_000_000}, "k" * 32, algorithm="HS256")
    variants = dict(forged_variants(token))
    assert len(variants) == 5
    assert token not in variants.values()
    for forged in variants.values():
        with pytest.raises(jwt.InvalidTokenError):
            jwt.decode(forged, "k" * 32, algorithms=["HS256"])
    none = parse_jwt(variants['the JWT re-headed with "alg": "none" and no signature'] + "x")
    assert none is not None
    assert none.header["alg"] == "none"
    assert [what for what, _ in forged_variants("opaque-session-id-123")] == [
        "the token with one character changed",
        "the token cut short",
    ]
